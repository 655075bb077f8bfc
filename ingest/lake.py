"""The raw Parquet lake: ``raw/ohlcv/date=YYYY-MM-DD/bars.parquet``, one file per day.

One folder per daily partition matches the Dagster partitioning, so re-materializing a
day rewrites exactly one file and never touches its neighbours. Each file holds every
symbol's bar for that day and carries its own ``date`` column; readers must not add the
hive ``date=`` key as a second column (it is only used here to skip folders).

Rules:

- Writes are atomic: the table goes to ``bars.parquet.<random>.tmp`` in the same folder
  and is then renamed over ``bars.parquet`` (``os.replace``), so a reader sees the old
  file or the new one, never half of one, and a crashed write leaves at most a stray
  ``.tmp`` that no reader picks up (readers take ``*.parquet`` only).
- Writes are idempotent: a day's file is replaced as a whole, so writing the same day
  twice leaves exactly the rows of the last write, with no duplicates.
- An empty frame for a day removes nothing: if the day already has a file it is kept as
  is (an empty answer from a source is more often a glitch than a retraction, and stored
  data must not be wiped by bad input); if not, a zero-row file is written so that
  downstream can tell "processed, no bars" (a holiday) from "never processed".
- The schema is explicit: symbol string, date date32, open/high/low/close float64,
  volume float64, and adj_close float64 only when the frame has it. Missing values are
  stored as nulls, which SQL checks can see.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ingest.schema import ADJ_CLOSE, BAR_COLUMNS, empty_bars
from ingest.simulator import ORACLE_COLUMNS

if TYPE_CHECKING:
    from ingest.sources import RejectedFile

BARS_FILE = "bars.parquet"
ORACLE_FILE = "oracle.parquet"
_FLOAT_COLUMNS = ["open", "high", "low", "close", "volume"]


def raw_ohlcv_dir(lake_root: Path) -> Path:
    """The folder that holds every daily partition of raw bars."""
    return Path(lake_root) / "raw" / "ohlcv"


def partition_dir(lake_root: Path, day: date) -> Path:
    """``lake_root/raw/ohlcv/date=YYYY-MM-DD``: the folder of one daily partition."""
    return raw_ohlcv_dir(lake_root) / f"date={day:%Y-%m-%d}"


def bars_schema(*, with_adj_close: bool = False) -> pa.Schema:
    """The Arrow schema of a raw partition file."""
    fields = [
        pa.field("symbol", pa.string()),
        pa.field("date", pa.date32()),
        *(pa.field(column, pa.float64()) for column in _FLOAT_COLUMNS),
    ]
    if with_adj_close:
        fields.append(pa.field(ADJ_CLOSE, pa.float64()))
    return pa.schema(fields)


def write_partition(lake_root: Path, day: date, bars: pd.DataFrame) -> Path:
    """Write the rows of ``bars`` dated ``day`` to that day's partition; return the file.

    Rows of other days are ignored, so a caller may pass a whole loaded range. See the
    module docstring for what an empty day does.
    """
    day = _as_date(day)
    target = partition_dir(lake_root, day) / BARS_FILE
    _require_columns(bars)
    rows = bars[pd.to_datetime(bars["date"]).dt.normalize() == pd.Timestamp(day)]
    if rows.empty and target.exists():
        return target
    write_table_atomic(_to_table(rows, sort=True), target)
    return target


def write_partitions(lake_root: Path, bars: pd.DataFrame) -> list[Path]:
    """Write every day present in ``bars`` to its partition; return the files, by date.

    Rows are ordered once with integer keys (day, symbol rank) and converted to Arrow
    once; each day is then a zero-copy slice, so a ten-year history costs one conversion
    plus one small file per day.
    """
    if bars.empty:
        return []
    return _write_day_slices(
        _to_table(bars, sort=True), lambda day: partition_dir(lake_root, day) / BARS_FILE
    )


def _write_day_slices(table: pa.Table, target_of: Callable[[date], Path]) -> list[Path]:
    """Write each day of a table sorted by date to its own file, as zero-copy slices."""
    sorted_days = table["date"].to_numpy()
    starts = np.flatnonzero(np.r_[True, sorted_days[1:] != sorted_days[:-1]])
    ends = np.r_[starts[1:], table.num_rows]
    paths = []
    for begin, end in zip(starts, ends, strict=True):
        target = target_of(_as_date(sorted_days[begin]))
        write_table_atomic(table.slice(begin, end - begin), target)
        paths.append(target)
    return paths


def read_partition(lake_root: Path, day: date) -> pd.DataFrame:
    """The canonical bars stored for one day (empty when the day was never written)."""
    target = partition_dir(lake_root, _as_date(day)) / BARS_FILE
    if not target.exists():
        return empty_bars()
    return _to_frame(pq.read_table(target))


def stored_symbols(lake_root: Path) -> set[str]:
    """Every symbol that has at least one stored bar."""
    pattern = raw_ohlcv_dir(lake_root) / "date=*" / "*.parquet"
    if not any(raw_ohlcv_dir(lake_root).glob("date=*/*.parquet")):
        return set()
    with duckdb.connect() as con:
        rows = con.execute(
            "select distinct symbol from read_parquet(?, hive_partitioning = false)",
            [str(pattern)],
        ).fetchall()
    return {row[0] for row in rows}


def oracle_dir(lake_root: Path) -> Path:
    """The folder of the simulator's oracle (each label's conditional expectation),
    partitioned like the bars."""
    return Path(lake_root) / "raw" / "oracle"


def write_oracle(lake_root: Path, oracle: pd.DataFrame) -> list[Path]:
    """Write ``oracle`` (symbol, date, then ``ORACLE_COLUMNS``) as
    ``date=YYYY-MM-DD/oracle.parquet``.

    One atomic file per day present, replaced as a whole, like the bars beside it.
    """
    if oracle.empty:
        return []
    days = pd.to_datetime(oracle["date"]).to_numpy(dtype="datetime64[D]")
    codes, _ = pd.factorize(oracle["symbol"].astype(str), sort=True)
    order = np.lexsort((codes, days))
    table = pa.table(
        {
            "symbol": pa.array(oracle["symbol"].to_numpy(dtype=object)[order], pa.string()),
            "date": pa.array(days[order], pa.date32()),
            **{
                name: pa.array(oracle[name].to_numpy(dtype="float64")[order], pa.float64())
                for name in ORACLE_COLUMNS
            },
        }
    )
    return _write_day_slices(
        table, lambda day: oracle_dir(lake_root) / f"date={day:%Y-%m-%d}" / ORACLE_FILE
    )


def oracle_files(lake_root: Path) -> list[str]:
    """The stored oracle's files, one per day, in date order."""
    return sorted(str(p) for p in oracle_dir(lake_root).glob("date=????-??-??/*.parquet"))


def read_oracle(lake_root: Path) -> pd.DataFrame:
    """Every stored oracle row (symbol, date as datetime64, then ``ORACLE_COLUMNS``);
    may be empty."""
    files = oracle_files(lake_root)
    if not files:
        return pd.DataFrame(
            {
                "symbol": pd.Series(dtype=object),
                "date": pd.Series(dtype="datetime64[ns]"),
                **{name: pd.Series(dtype="float64") for name in ORACLE_COLUMNS},
            }
        )
    with duckdb.connect() as con:
        frame = con.execute(
            f"select symbol, date::timestamp as date, {', '.join(ORACLE_COLUMNS)} "
            "from read_parquet(?, hive_partitioning = false) order by symbol, date",
            [files],
        ).df()
    frame["date"] = frame["date"].astype("datetime64[ns]")
    return frame


def write_frame(frame: pd.DataFrame, target: Path) -> Path:
    """Write any frame atomically to ``target`` (quarantine files use this)."""
    write_table_atomic(pa.Table.from_pandas(frame, preserve_index=False), target)
    return target


def write_rejected_files(home: Path, rejected: Sequence[RejectedFile]) -> pd.DataFrame:
    """Replace ``rejected/source_files.parquet`` (file, symbol, reason) with the files the
    source rejected this time, and return that table (a clean read empties it)."""
    table = pd.DataFrame(
        {
            "file": [str(item.path) for item in rejected],
            "symbol": [item.symbol for item in rejected],
            "reason": [item.reason for item in rejected],
        },
        dtype="object",
    )
    write_frame(table, Path(home) / "rejected" / "source_files.parquet")
    return table


def read_bars(lake_root: Path, start: date | None = None, end: date | None = None) -> pd.DataFrame:
    """Read canonical bars for ``start..end`` (inclusive, either open) from the lake.

    Folders outside the range are skipped by name; files are read with DuckDB, whose
    ``union_by_name`` fills ``adj_close`` with nulls for days written without it.
    """
    lo = _as_date(start) if start is not None else date.min
    hi = _as_date(end) if end is not None else date.max
    files = [
        str(path)
        for folder in sorted(raw_ohlcv_dir(lake_root).glob("date=????-??-??"))
        if lo <= date.fromisoformat(folder.name.removeprefix("date=")) <= hi
        for path in sorted(folder.glob("*.parquet"))
    ]
    if not files:
        return empty_bars()
    with duckdb.connect() as con:
        table = con.execute(
            "select * from read_parquet(?, union_by_name = true, hive_partitioning = false) "
            "where date between ? and ?",
            [files, lo, hi],
        ).to_arrow_table()
    return _to_frame(table)


def _to_frame(table: pa.Table) -> pd.DataFrame:
    """Arrow -> canonical pandas, sorted by (symbol, date).

    Sorting is done on integer keys (symbol rank, day) rather than on millions of
    strings, and the symbol column reuses one Python string per symbol.
    """
    encoded = pc.dictionary_encode(table["symbol"].combine_chunks())
    names = np.asarray(encoded.dictionary.to_pylist(), dtype=object)
    by_name = np.argsort(names)
    rank = np.empty_like(by_name)
    rank[by_name] = np.arange(len(names))
    codes = rank[encoded.indices.to_numpy(zero_copy_only=False)]
    days = table["date"].to_numpy()
    order = np.lexsort((days, codes))
    columns = BAR_COLUMNS + ([ADJ_CLOSE] if ADJ_CLOSE in table.column_names else [])
    data: dict[str, np.ndarray] = {
        "symbol": names[by_name][codes[order]],
        "date": days[order].astype("datetime64[ns]"),
    }
    for column in columns[2:]:
        data[column] = table[column].to_numpy().astype("float64", copy=False)[order]
    return pd.DataFrame(data, columns=columns, copy=False)


def _as_date(value: date | datetime | pd.Timestamp | np.datetime64) -> date:
    """Accept the date-like values callers hold (Timestamp, datetime64) as a plain date."""
    if isinstance(value, np.datetime64):
        return pd.Timestamp(value).date()
    if isinstance(value, datetime):
        return value.date()
    return value


def _require_columns(bars: pd.DataFrame) -> None:
    missing = [column for column in BAR_COLUMNS if column not in bars.columns]
    if missing:
        raise ValueError(f"bars are missing column(s) {', '.join(missing)}")


def _to_table(bars: pd.DataFrame, *, sort: bool = False) -> pa.Table:
    """Convert to the partition schema; with ``sort``, order rows by (date, symbol).

    Symbols go through a dictionary (codes + unique names): sorting integer codes and
    expanding the dictionary at the end is far cheaper than shuffling millions of
    Python strings.
    """
    _require_columns(bars)
    schema = bars_schema(with_adj_close=ADJ_CLOSE in bars.columns)
    codes, names = pd.factorize(bars["symbol"].astype(str), sort=True)
    days = pd.to_datetime(bars["date"]).to_numpy(dtype="datetime64[D]")
    rows = np.lexsort((codes, days)) if sort else slice(None)
    symbols = pa.DictionaryArray.from_arrays(
        pa.array(codes[rows], pa.int32()), pa.array(np.asarray(names, dtype=object), pa.string())
    )
    arrays = [symbols.cast(pa.string()), pa.array(days[rows], pa.date32())]
    for column in schema.names[2:]:
        try:
            values = bars[column].to_numpy(dtype="float64")
        except (TypeError, ValueError):
            raise ValueError(f"bars column {column!r} is not numeric") from None
        arrays.append(pa.array(values[rows], pa.float64(), from_pandas=True))
    return pa.Table.from_arrays(arrays, schema=schema)


def write_table_atomic(table: pa.Table, target: Path) -> None:
    """Write to a unique temp file beside ``target``, then rename over it."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f"{target.name}.{uuid.uuid4().hex}.tmp")
    try:
        pq.write_table(table, tmp)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
