"""From loaded bars to the lake: quality split, quarantine, and partition writes.

The ``raw_ohlcv`` asset and the inbox both go through :func:`ingest_bars`, so a row
reaches the lake by one path only, through the gates of :mod:`ingest.quality`.

Every row belongs to the daily partition of the last business day on or before its
date (a bar stamped on a Saturday belongs to Friday's partition, whose time window runs
to Monday). Only rows of the requested ``days`` are processed; the caller says which.

What is stored after a run, per day (``mode``):

- ``replace`` (the configured source, which delivers whole days): the day's file holds
  the good rows of this run. A symbol whose row was quarantined keeps the row stored
  before for that day, if any, so bad input never erases a good bar; a day with no good
  rows at all keeps its file untouched (:func:`ingest.lake.write_partition`).
- ``upsert`` (a file dropped in the inbox, which usually holds a few symbols): the good
  rows replace the stored rows of the same (symbol, date); every other stored row stays.

Quarantine: ``quarantine/raw_ohlcv/date=YYYY-MM-DD/<name>.parquet`` with the canonical
columns plus ``reason``, one file per (partition, origin), replaced atomically; a rerun
whose day is clean removes that origin's file, so the quarantine always shows what the
latest ingest of each origin rejected.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from ingest.lake import read_partition, write_frame, write_partition, write_partitions
from ingest.quality import QualitySplit, split_bars

MODES = ("replace", "upsert")
SOURCE_ORIGIN = "source"


def quarantine_file(quarantine_root: Path, day: date, origin: str = SOURCE_ORIGIN) -> Path:
    """Where the rows of ``day`` rejected from ``origin`` are kept."""
    return Path(quarantine_root) / "raw_ohlcv" / f"date={day:%Y-%m-%d}" / f"{origin}.parquet"


def partition_day(dates: pd.Series) -> pd.Series:
    """The partition (last business day on or before the date) of each date."""
    days = pd.to_datetime(dates).to_numpy(dtype="datetime64[D]")
    return pd.Series(np.busday_offset(days, 0, roll="backward"), index=dates.index).dt.date


@dataclass
class IngestReport:
    """What one ingest did: rows in and out, reasons, and the files it touched."""

    days: list[date]
    split: QualitySplit
    rows_written: int = 0
    rows_kept: int = 0
    rows_outside: int = 0
    quarantine_files: list[Path] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        return self.split.counts

    @property
    def score(self) -> float:
        return self.split.score


def ingest_bars(
    bars: pd.DataFrame,
    *,
    lake_root: Path,
    quarantine_root: Path,
    days: list[date],
    today: date,
    mode: str = "replace",
    origin: str = SOURCE_ORIGIN,
) -> IngestReport:
    """Gate ``bars`` and store the rows of ``days`` (see the module docstring)."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    wanted = set(days)
    keys = partition_day(bars["date"]) if len(bars) else pd.Series(dtype=object)
    inside = keys.isin(wanted).to_numpy() if len(bars) else np.zeros(0, dtype=bool)
    split = split_bars(bars[inside].reset_index(drop=True), today=today)
    report = IngestReport(days=sorted(wanted), split=split, rows_outside=int((~inside).sum()))

    bad_keys = partition_day(split.quarantined["date"]) if len(split.quarantined) else None
    good_keys = partition_day(split.good["date"]) if len(split.good) else None
    # The good rows of a weekend bar cannot exist (weekend rows are quarantined), so a
    # good row's partition is its own date.
    good_days = set(good_keys) if good_keys is not None else set()
    kept = []
    for day in sorted(good_days):
        if mode == "replace":
            if bad_keys is None or not (bad_keys == day).any():
                continue
            protect = set(split.quarantined.loc[(bad_keys == day).to_numpy(), "symbol"])
        else:
            protect = None
        stored = read_partition(lake_root, day)
        if stored.empty:
            continue
        fresh = set(split.good.loc[(good_keys == day).to_numpy(), "symbol"])
        keep = ~stored["symbol"].isin(fresh)
        if protect is not None:
            keep &= stored["symbol"].isin(protect)
        kept.append(stored[keep])
    rows_kept = sum(len(frame) for frame in kept)
    to_write = pd.concat([split.good, *kept], ignore_index=True) if rows_kept else split.good
    write_partitions(lake_root, to_write)
    for day in sorted(wanted - good_days):
        write_partition(lake_root, day, split.good.iloc[0:0])
    report.rows_written = len(split.good)
    report.rows_kept = rows_kept

    for day in sorted(wanted):
        target = quarantine_file(quarantine_root, day, origin)
        rows = (
            split.quarantined[(bad_keys == day).to_numpy()]
            if bad_keys is not None
            else split.quarantined
        )
        if rows.empty:
            target.unlink(missing_ok=True)
            continue
        report.quarantine_files.append(write_frame(rows.reset_index(drop=True), target))
    return report
