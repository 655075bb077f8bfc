"""From loaded bars to the lake: quality split, quarantine, and partition writes.

The ``raw_ohlcv`` asset and the inbox both go through :func:`ingest_bars`, so a row
reaches the lake by one path only, through the gates of :mod:`ingest.quality`.

Every row belongs to the daily partition of the last business day on or before its
date (a bar stamped on a Saturday belongs to Friday's partition, whose time window runs
to Monday). Only rows of the requested ``days`` are processed; the caller says which.
A row without a date is always processed (it is quarantined with the first day).

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
    return pd.Series(_partition_days(dates), index=dates.index).dt.date


def _partition_days(dates: pd.Series) -> np.ndarray:
    days = pd.to_datetime(dates).to_numpy(dtype="datetime64[D]")
    return np.busday_offset(days, 0, roll="backward")


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
    wanted = np.array(sorted(set(days)), dtype="datetime64[D]")
    keys = _partition_days(bars["date"])
    # A row without a date belongs to no day: it is gated with the run (and quarantined).
    inside = np.isin(keys, wanted) | np.isnat(keys)
    split = split_bars(bars[inside].reset_index(drop=True), today=today)
    report = IngestReport(
        days=[_as_date(day) for day in wanted], split=split, rows_outside=int((~inside).sum())
    )

    # Integer day keys instead of date objects: a ten-year history has millions of rows.
    bad_keys = _partition_days(split.quarantined["date"])
    bad_keys[np.isnat(bad_keys)] = wanted[0]  # dateless rows: quarantined with the first day
    good_keys = _partition_days(split.good["date"])
    kept = []
    stored_days = np.unique(good_keys) if mode == "upsert" else np.unique(bad_keys)
    for key in stored_days[np.isin(stored_days, good_keys)]:
        # only days that get fresh rows are rewritten; the others keep their file anyway
        day = _as_date(key)
        stored = read_partition(lake_root, day)
        if stored.empty:
            continue
        fresh = set(split.good.loc[good_keys == key, "symbol"])
        keep = ~stored["symbol"].isin(fresh)
        if mode == "replace":
            keep &= stored["symbol"].isin(set(split.quarantined.loc[bad_keys == key, "symbol"]))
        kept.append(stored[keep])
    rows_kept = sum(len(frame) for frame in kept)
    to_write = pd.concat([split.good, *kept], ignore_index=True) if rows_kept else split.good
    write_partitions(lake_root, to_write)
    for key in np.setdiff1d(wanted, good_keys):
        write_partition(lake_root, _as_date(key), split.good.iloc[0:0])
    report.rows_written = len(split.good)
    report.rows_kept = rows_kept

    bad_days = np.unique(bad_keys)
    for key in wanted:
        target = quarantine_file(quarantine_root, _as_date(key), origin)
        if key not in bad_days:
            target.unlink(missing_ok=True)
            continue
        rows = split.quarantined[bad_keys == key].reset_index(drop=True)
        report.quarantine_files.append(write_frame(rows, target))
    return report


def _as_date(day: np.datetime64) -> date:
    return day.astype("datetime64[D]").item()
