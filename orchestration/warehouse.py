"""Reads and idempotent writes of the results tables in `warehouse.duckdb`.

DuckDB allows one writer process at a time, so connections are opened per call and
closed at once, and every asset that writes here shares the `warehouse` pool.

Values travel as parameters. Names and paths, which DuckDB cannot take as parameters
(a table, a key column, the file of ``COPY ... TO``), are quoted by
:func:`quote_identifier` and :func:`quote_literal`, so a home path with a quote in it
(``/data/o'brien``) is still one path, never SQL.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

# duckdb, pandas and pyarrow load with the first query, not with the definitions
if TYPE_CHECKING:
    import duckdb
    import numpy as np
    import pandas as pd

WAREHOUSE_POOL = "warehouse"
# Stores that overlapping runs must not write at once either: Feast's file registry and
# SQLite online store.
FEATURE_STORE_POOL = "feature_store"
MEMORY_LIMIT_ENV = "ALPHADAG_DUCKDB_MEMORY_LIMIT"

# Another process (dbt, the web server) may hold the file for a moment.
_LOCK_RETRIES = 20
_LOCK_WAIT_SECONDS = 0.5


def quote_identifier(name: str) -> str:
    """``name`` as a DuckDB identifier: in double quotes, inner quotes doubled."""
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    """``text`` as a DuckDB string literal: in single quotes, inner quotes doubled."""
    return "'" + text.replace("'", "''") + "'"


class Warehouse:
    def __init__(self, path: Path) -> None:
        self.path = path

    def _connect(self, read_only: bool) -> duckdb.DuckDBPyConnection:
        import duckdb

        for attempt in range(_LOCK_RETRIES):
            try:
                return duckdb.connect(str(self.path), read_only=read_only)
            except duckdb.IOException as exc:
                if "lock" not in str(exc).lower() or attempt == _LOCK_RETRIES - 1:
                    raise
                time.sleep(_LOCK_WAIT_SECONDS)
        raise AssertionError("unreachable")

    def query(self, sql: str, params: list[Any] | Mapping[str, Any] | None = None) -> pd.DataFrame:
        if not self.path.exists():
            raise FileNotFoundError(f"{self.path} does not exist yet: run the dbt assets first")
        with self._connect(read_only=True) as con:
            return con.execute(sql, params or []).df()

    def grids(
        self,
        sql: str,
        values: Sequence[str],
        params: list[Any] | Mapping[str, Any] | None = None,
    ) -> tuple[pd.DatetimeIndex, pd.Index, dict[str, np.ndarray]]:
        """:func:`grids` of a query on the warehouse."""
        with self._connect(read_only=True) as con:
            return grids(con, sql, values, params)

    def replace_rows(self, table: str, frame: pd.DataFrame, key: Mapping[str, Any]) -> int:
        """Replace the rows of `table` matching `key` with `frame`, in one transaction.

        Re-running a step with the same key therefore never duplicates rows. The table is
        created from the frame's schema on first use; columns the frame brings that the
        table lacks (a metric added since the table was created) are added to it, NULL in
        the rows already stored, so a home built by an older version keeps working.
        """
        where = " and ".join(f"{quote_identifier(column)} = ?" for column in key)
        name = quote_identifier(table)
        with self._connect(read_only=False) as con:
            con.register("incoming", frame)
            con.execute("begin")
            con.execute(f"create table if not exists {name} as select * from incoming limit 0")
            stored = {row[0] for row in con.execute(f"describe {name}").fetchall()}
            for column, column_type, *_ in con.execute("describe incoming").fetchall():
                if column not in stored:
                    con.execute(
                        f"alter table {name} add column {quote_identifier(column)} {column_type}"
                    )
            con.execute(f"delete from {name} where {where}", list(key.values()))
            con.execute(f"insert into {name} by name select * from incoming")
            con.execute("commit")
            con.unregister("incoming")
        return len(frame)

    def export_parquet_parts(self, sql: str, part_column: str, destination: Path) -> dict[str, int]:
        """Write a query's result as one Parquet file per value of `part_column`
        (`destination/<value>.parquet`, without that column), in one scan, and return the
        rows of each. Each file replaces its predecessor atomically (rename); files of
        values the result lacks are left alone."""
        import pyarrow.parquet as pq

        destination.mkdir(parents=True, exist_ok=True)
        staging = destination / f".export-{uuid.uuid4().hex}.tmp"
        try:
            with self._connect(read_only=True) as con:
                memory_limit = os.environ.get(MEMORY_LIMIT_ENV, "4GB")
                con.execute(f"set memory_limit = {quote_literal(memory_limit)}")
                con.execute(
                    f"copy ({sql}) to {quote_literal(str(staging))} "
                    f"(format parquet, partition_by ({quote_identifier(part_column)}))"
                )
            counts: dict[str, int] = {}
            for folder in sorted(staging.glob(f"{part_column}=*")):
                value = folder.name.partition("=")[2]
                written = concatenate_parquet(sorted(folder.glob("*.parquet")))
                counts[value] = pq.ParquetFile(written).metadata.num_rows
                os.replace(written, destination / f"{value}.parquet")
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return counts

    def export_parquet(self, sql: str, destination: Path) -> int:
        """Write a query's result to Parquet atomically (temp file, then rename)."""
        destination.parent.mkdir(parents=True, exist_ok=True)
        tmp = destination.with_name(destination.name + ".tmp")
        with self._connect(read_only=True) as con:
            # the same bound as dbt's (profiles.yml): a sorted export spills beyond it
            memory_limit = os.environ.get(MEMORY_LIMIT_ENV, "4GB")
            con.execute(f"set memory_limit = {quote_literal(memory_limit)}")
            con.execute(f"copy ({sql}) to {quote_literal(str(tmp))} (format parquet)")
            rows = con.execute("select count(*) from read_parquet(?)", [str(tmp)]).fetchone()
        tmp.replace(destination)
        return int(rows[0]) if rows else 0


def grids(
    con: duckdb.DuckDBPyConnection,
    sql: str,
    values: Sequence[str],
    params: list[Any] | Mapping[str, Any] | None = None,
) -> tuple[pd.DatetimeIndex, pd.Index, dict[str, np.ndarray]]:
    """A long query's ``values`` columns as (dates x symbols) float arrays, NaN where
    it has no row, with the sorted dates and symbols of its rows.

    The query has one row per (symbol, date). Rows travel as numeric positions that
    DuckDB computes, so no column of millions of symbol strings is built in pandas
    and nothing is pivoted (7.8M bars at 3,000 symbols x 10 years).
    """
    import numpy as np
    import pandas as pd

    cells = ", ".join(
        f"cast({quote_identifier(v)} as double) as {quote_identifier(v)}" for v in values
    )
    # evaluated once, then numbered by date and by symbol
    con.execute(f"create or replace temp table long as {sql}", params or [])
    dates = con.execute("select distinct date from long order by date").df()["date"]
    symbols = con.execute("select distinct symbol from long order by symbol").df()["symbol"]
    long = con.execute(
        f"""
        with date_rows as (select date, row_number() over (order by date) - 1 as row_index
                           from (select distinct date from long)),
        symbol_columns as (select symbol, row_number() over (order by symbol) - 1 as col
                           from (select distinct symbol from long))
        select row_index, col, {cells}
        from long join date_rows using (date) join symbol_columns using (symbol)
        """
    ).df()
    con.execute("drop table long")
    rows, columns = long["row_index"].to_numpy(), long["col"].to_numpy()
    shape = (len(dates), len(symbols))
    filled = np.zeros(shape, dtype=bool)
    filled[rows, columns] = True
    if filled.sum() != len(long):
        raise ValueError("the query has more than one row per (symbol, date)")
    laid_out = {}
    for value in values:
        grid = np.full(shape, np.nan)
        grid[rows, columns] = long[value].to_numpy()
        laid_out[value] = grid
    return (
        pd.DatetimeIndex(pd.to_datetime(dates), name="date"),
        pd.Index(symbols.to_list(), name="symbol"),
        laid_out,
    )


def concatenate_parquet(parts: list[Path]) -> Path:
    """One Parquet file holding `parts`' rows in order (the first part's path).

    DuckDB's partitioned COPY writes a value's rows to more than one file when it had to
    close that value's file before the end (it keeps at most
    `partitioned_write_max_open_files` open, and a large export spans more values than
    that): the parts are appended to the first, one row group at a time, so memory stays
    at a row group.
    """
    import pyarrow.parquet as pq

    first, *rest = parts
    if not rest:
        return first
    merged = first.with_name(f"{first.stem}.merged.parquet")
    schema = pq.read_schema(first)
    with pq.ParquetWriter(merged, schema) as writer:
        for part in parts:
            source = pq.ParquetFile(part)
            for group in range(source.num_row_groups):
                writer.write_table(source.read_row_group(group).cast(schema))
    os.replace(merged, first)
    return first
