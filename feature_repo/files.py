"""Parquet files of feature rows (training sets, latest features), tagged with the
feature service that produced them. No feast import: models read the tag cheaply."""

from __future__ import annotations

import hashlib
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ingest.lake import write_table_atomic

FEATURE_SERVICE_KEY = b"alphadag.feature_service"


def write_features(frame: pd.DataFrame, path: Path, feature_service: str) -> str:
    """Write `frame` atomically (temp file, then rename) and return its data version, a
    hash of the file: the same rows give the same version, so downstream assets can tell
    a rerun that changed nothing."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    table = table.replace_schema_metadata(
        {**(table.schema.metadata or {}), FEATURE_SERVICE_KEY: feature_service.encode()}
    )
    write_table_atomic(table, path)
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def feature_service_of(path: Path) -> str:
    """The feature service a file written by `write_features` was read through."""
    metadata = pq.read_schema(path).metadata or {}
    if FEATURE_SERVICE_KEY not in metadata:
        raise ValueError(f"{path} records no feature service: rebuild it through Feast")
    return metadata[FEATURE_SERVICE_KEY].decode()


def newest_day_and_symbols(features_file: Path) -> tuple[date, list[str]]:
    """The last date of the feature export and every symbol in it (the universe served
    online). Reads the Parquet export, so it never waits on the warehouse's lock."""
    if not features_file.exists():
        raise FileNotFoundError(f"{features_file} is missing: materialize `feature_lake` first")
    with duckdb.connect() as con:
        last_day = con.execute(
            "select max(date) from read_parquet(?)", [str(features_file)]
        ).fetchone()
        symbols = con.execute(
            "select distinct symbol from read_parquet(?) order by symbol", [str(features_file)]
        ).fetchall()
    if not last_day or last_day[0] is None:
        raise ValueError(f"{features_file} holds no feature rows")
    return last_day[0], [s for (s,) in symbols]
