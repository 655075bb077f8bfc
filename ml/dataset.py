"""Reading the training set for the model steps without a float64 copy of its features.

The training set is a Parquet file of symbol, date, about 220 float64 feature columns
and the ``fwd_*`` labels. Read whole into pandas it costs 8 bytes per value (2.3 GiB at
500 symbols x 10 years, about 14 GiB at 3,000), before any split or cast copies it. The
boosters bin features in single precision anyway, so here the features go straight into
one float32 matrix, filled batch by batch from the file (each batch is cast, then
dropped), and only the rows asked for are kept. Labels and other columns stay float64:
they are few, and the scores are computed on them.

The result is the frame every model step used before, with float32 features: values
are those of ``pd.read_parquet(path)[features].astype("float32")``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np
import pandas as pd

from ml.models import FEATURE_DTYPE, LABEL_PREFIX

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.parquet as pq

__all__ = [
    "BATCH_ROWS",
    "FrameRows",
    "ParquetRows",
    "TrainingRows",
    "date_symbol_order",
    "feature_names",
    "read_columns",
    "read_training_rows",
]

BATCH_ROWS = 65_536
"""Rows read from Parquet at a time: a batch of 224 float64 features is about 115 MB."""

KEY_COLUMNS = ("symbol", "date")


def feature_names(path: Path) -> list[str]:
    """The training set's feature columns, in file order (not keys, not labels)."""
    import pyarrow.parquet as pq

    names = pq.read_schema(path).names
    return [c for c in names if c not in KEY_COLUMNS and not c.startswith(LABEL_PREFIX)]


def read_columns(path: Path, columns: list[str]) -> pd.DataFrame:
    """A few whole columns (keys, labels), every row in file order; dates as
    ``datetime64[ns]``."""
    import pyarrow.parquet as pq

    frame = pq.read_table(path, columns=columns).to_pandas()
    if "date" in frame:
        frame["date"] = pd.to_datetime(frame["date"]).astype("datetime64[ns]")
    return frame


def read_training_rows(
    path: Path,
    features: list[str],
    *,
    rows: np.ndarray | None = None,
    columns: tuple[str, ...] | list[str] = (),
    batch_rows: int = BATCH_ROWS,
) -> pd.DataFrame:
    """The rows at ``rows`` (ascending positions in the file; every row when None): keys,
    ``features`` as one float32 block, then ``columns`` (labels) as stored.

    Memory: the float32 matrix of the rows kept, the other columns of those rows, and
    one batch of the file.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    # pre_buffer (pyarrow's default) caches every row group's column chunks read so far
    # until the reader is done: 12 GiB for a third of the rows at 3,000 symbols
    parquet = pq.ParquetFile(path, pre_buffer=False)
    total = parquet.metadata.num_rows
    wanted = np.arange(total) if rows is None else np.asarray(rows, dtype=np.int64)
    if len(wanted) and (np.any(np.diff(wanted) <= 0) or wanted[0] < 0 or wanted[-1] >= total):
        raise ValueError(f"rows must be ascending positions in [0, {total})")
    extra = [*KEY_COLUMNS, *columns]
    # column-major: each feature is one contiguous column, and pandas keeps the matrix
    # as its float32 block without copying it
    matrix = np.empty((len(wanted), len(features)), dtype=FEATURE_DTYPE, order="F")
    others: dict[str, list[np.ndarray]] = {c: [] for c in extra}
    kept = 0
    for batch, offset in _batches_holding(parquet, wanted, batch_rows, [*features, *extra]):
        first, last = np.searchsorted(wanted, [offset, offset + batch.num_rows])
        take = wanted[first:last] - offset
        if not len(take):
            continue
        for j, name in enumerate(features):
            values = batch.column(name).to_numpy(zero_copy_only=False)
            matrix[kept : kept + len(take), j] = values[take]
        for name in extra:
            others[name].append(batch.column(name).take(take).to_numpy(zero_copy_only=False))
        kept += len(take)
    # Arrow's allocator keeps freed batches for reuse; nothing else reads Parquet here
    pa.default_memory_pool().release_unused()
    frame = pd.DataFrame(matrix, columns=list(features), copy=False)
    for position, name in enumerate(extra):
        values = np.concatenate(others.pop(name)) if kept else np.empty(0)
        if name == "date":
            values = pd.to_datetime(values).astype("datetime64[ns]")
        frame.insert(position if name in KEY_COLUMNS else frame.shape[1], name, values)
    return frame


def _batches_holding(
    parquet: pq.ParquetFile, wanted: np.ndarray, batch_rows: int, columns: list[str]
) -> Iterator[tuple[pa.RecordBatch, int]]:
    """The batches of the row groups that hold any of the ``wanted`` positions, each with
    the file position of its first row: a block of consecutive dates reads its own row
    groups, not the whole file."""
    start = 0
    for group in range(parquet.metadata.num_row_groups):
        rows = parquet.metadata.row_group(group).num_rows
        first, last = np.searchsorted(wanted, [start, start + rows])
        if last > first:
            offset = start
            for batch in parquet.iter_batches(
                batch_size=batch_rows, row_groups=[group], columns=columns
            ):
                yield batch, offset
                offset += batch.num_rows
        start += rows


class TrainingRows(Protocol):
    """A training set in (date, symbol) order, read by rows: ``keys`` holds every row's
    symbol, date and labels; ``read`` the features (float32) of some of them."""

    features: list[str]

    @property
    def keys(self) -> pd.DataFrame: ...

    def read(self, rows: np.ndarray) -> pd.DataFrame:
        """Symbol, date, the features and the labels of the rows at ``rows`` (ascending
        positions)."""
        ...


@dataclass(frozen=True)
class ParquetRows:
    """The training set's file: its keys and labels in memory, features read on demand
    (a block of dates reads only its row groups)."""

    path: Path
    features: list[str]
    labels: list[str]
    keys: pd.DataFrame

    @classmethod
    def open(cls, path: Path, features: list[str], labels: list[str]) -> ParquetRows:
        labels = list(dict.fromkeys(labels))
        keys = read_columns(path, [*KEY_COLUMNS, *labels])
        if date_symbol_order(keys) is not None:
            raise ValueError(f"{path} is not in (date, symbol) order")
        return cls(path, list(features), labels, keys)

    def read(self, rows: np.ndarray) -> pd.DataFrame:
        return read_training_rows(self.path, self.features, rows=rows, columns=self.labels)


@dataclass(frozen=True)
class FrameRows:
    """A training set already in memory (tests, small data), put in (date, symbol) order."""

    frame: pd.DataFrame
    features: list[str]

    def __post_init__(self) -> None:
        frame = self.frame
        if frame["date"].dtype != "datetime64[ns]":
            frame = frame.assign(date=pd.to_datetime(frame["date"]).astype("datetime64[ns]"))
        order = date_symbol_order(frame)
        if order is not None:
            frame = frame.iloc[order]
        frame = frame.set_axis(pd.RangeIndex(len(frame)), axis=0, copy=False)
        object.__setattr__(self, "frame", frame)

    @property
    def keys(self) -> pd.DataFrame:
        return self.frame

    def read(self, rows: np.ndarray) -> pd.DataFrame:
        return self.frame.iloc[rows]


def date_symbol_order(frame: pd.DataFrame) -> np.ndarray | None:
    """Positions that sort ``frame`` by (date, symbol), stably; None when it already is
    in that order (a training set is stored so), which spares a copy of it. That case
    is checked on neighbouring rows first: sorting 7.8M keys to find it takes seconds."""
    dates = pd.to_datetime(frame["date"]).to_numpy()
    symbols = frame["symbol"].to_numpy()
    later, same_day = dates[1:] > dates[:-1], dates[1:] == dates[:-1]
    if not frame["symbol"].isna().any() and np.all(
        later | (same_day & (symbols[1:] >= symbols[:-1]))
    ):
        return None
    order = (
        frame[["date", "symbol"]]
        .set_axis(pd.RangeIndex(len(frame)), axis=0)
        .sort_values(["date", "symbol"], kind="stable")
        .index.to_numpy()
    )
    return None if np.array_equal(order, np.arange(len(frame))) else order
