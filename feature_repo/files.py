"""Parquet files of feature rows (training sets, latest features), tagged with the
feature service that produced them. No feast import: models read the tag cheaply."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

# re-exported: feature_repo.sources (a Feast definition file, hashed into their version)
# imports it from here
from feature_repo.layout import features_dataset as features_dataset

FEATURE_SERVICE_KEY = b"alphadag.feature_service"


def month_file(dataset: Path, month: date) -> Path:
    return dataset / f"{month:%Y-%m}.parquet"


@dataclass(frozen=True)
class WrittenFeatures:
    """How many rows a feature file holds, and its data version."""

    rows: int
    data_version: str


def write_features(frame: pd.DataFrame, path: Path, feature_service: str) -> str:
    """Write `frame` atomically (temp file, then rename) and return its data version, a
    hash of the file: the same rows give the same version, so downstream assets can tell
    a rerun that changed nothing."""
    return write_feature_batches([frame], path, feature_service).data_version


def write_feature_batches(
    batches: Iterable[pd.DataFrame], path: Path, feature_service: str
) -> WrittenFeatures:
    """Append frames of the same columns to one Parquet file as they come, atomically
    (the file appears, renamed from a temp file, only once every batch is written).

    Every batch is cast to the first one's schema, which carries the feature service.
    Only one batch is held at a time, so a file larger than memory can be written.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{uuid.uuid4().hex}.tmp")
    writer: pq.ParquetWriter | None = None
    rows = 0
    try:
        for frame in batches:
            table = pa.Table.from_pandas(frame, preserve_index=False)
            if writer is None:
                schema = table.schema.with_metadata(
                    {**(table.schema.metadata or {}), FEATURE_SERVICE_KEY: feature_service.encode()}
                )
                writer = pq.ParquetWriter(tmp, schema)
            writer.write_table(table.cast(writer.schema))
            rows += len(frame)
        if writer is None:
            raise ValueError(f"no batch to write to {path}")
        writer.close()
        os.replace(tmp, path)
    finally:
        if writer is not None:
            writer.close()
        tmp.unlink(missing_ok=True)
    return WrittenFeatures(rows, _file_hash(path))


def _file_hash(path: Path, chunk: int = 1 << 24) -> str:
    """The first 16 hex digits of the file's SHA-256, read in chunks (it may not fit in memory)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()[:16]


def feature_service_of(path: Path) -> str:
    """The feature service a file written by `write_features` was read through."""
    metadata = pq.read_schema(path).metadata or {}
    if FEATURE_SERVICE_KEY not in metadata:
        raise ValueError(f"{path} records no feature service: rebuild it through Feast")
    return metadata[FEATURE_SERVICE_KEY].decode()


def newest_day_and_symbols(dataset: Path) -> tuple[date, list[str]]:
    """The last date of the feature export (the folder of month files) and every symbol in
    its newest month (the universe served online). Reads the Parquet export, so it never
    waits on the warehouse's lock, and only the newest file of it."""
    files = sorted(dataset.glob("*.parquet"))
    if not files:
        raise FileNotFoundError(f"{dataset} holds no export: materialize `feature_lake` first")
    newest = str(files[-1])
    with duckdb.connect() as con:
        last_day = con.execute("select max(date) from read_parquet(?)", [newest]).fetchone()
        symbols = con.execute(
            "select distinct symbol from read_parquet(?) order by symbol", [newest]
        ).fetchall()
    if not last_day or last_day[0] is None:
        raise ValueError(f"{newest} holds no feature rows")
    return last_day[0], [s for (s,) in symbols]


def write_month_files(frame: pd.DataFrame, dataset: Path) -> None:
    """Write a frame of feature rows (symbol, date, ...) as the export's month files."""
    dataset.mkdir(parents=True, exist_ok=True)
    months = pd.to_datetime(frame["date"]).dt.to_period("M")
    for month, rows in frame.groupby(months.to_numpy()):
        rows.to_parquet(month_file(dataset, month.start_time.date()), index=False)


def month_starts(first: date, last: date) -> list[date]:
    """The first day of every calendar month from `first`'s to `last`'s."""
    return [d.date() for d in pd.date_range(first.replace(day=1), last, freq="MS")]
