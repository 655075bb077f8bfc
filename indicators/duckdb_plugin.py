"""The dbt-duckdb plugin that registers the feature models' Python functions.

profiles.yml lists this module under `plugins`; dbt-duckdb then calls `configure_connection`
on the connection it opens, and the functions registered there are visible from the cursor
each dbt thread takes from it.
"""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from dbt.adapters.duckdb.plugins import BasePlugin
from duckdb.sqltypes import BIGINT, BOOLEAN, DOUBLE

from indicators.recursive import recursive_average

FUNCTION_NAME = "ta_recursive_average"


def _combined(array: pa.Array | pa.ChunkedArray) -> pa.Array:
    return array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array


def _numbers(array: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A numeric column as float64, NaN where it is null."""
    return _combined(array).cast(pa.float64()).to_numpy(zero_copy_only=False)


def _ta_recursive_average(
    values: pa.ChunkedArray,
    first_position: pa.ChunkedArray,
    alpha: pa.ChunkedArray,
    seed_at: pa.ChunkedArray,
    seed_rows: pa.ChunkedArray,
    running_sum: pa.ChunkedArray,
    anchor_position: pa.ChunkedArray,
    anchor_value: pa.ChunkedArray,
) -> pa.ListArray:
    """ta_recursive_average(values DOUBLE[], first_position, alpha, seed_at, seed_rows,
    running_sum, anchor_position, anchor_value) -> DOUBLE[], one list per series (row):
    see indicators.recursive.recursive_average. A null list gives a null list."""
    lists = _combined(values)
    lengths = pc.fill_null(pc.list_value_length(lists), 0).to_numpy(zero_copy_only=False)
    averages = recursive_average(
        lists.flatten().cast(pa.float64()).to_numpy(zero_copy_only=False),
        lengths,
        _numbers(first_position),
        alpha=_numbers(alpha),
        seed_at=_numbers(seed_at),
        seed_rows=_numbers(seed_rows).astype(np.int64),
        running_sum=_combined(running_sum).to_numpy(zero_copy_only=False).astype(bool),
        anchor_position=_numbers(anchor_position),
        anchor_value=_numbers(anchor_value),
    )
    offsets = pa.array(np.concatenate(([0], np.cumsum(lengths))), pa.int32())
    return pa.ListArray.from_arrays(
        offsets, pa.array(averages, from_pandas=True), mask=lists.is_null()
    )


def register_functions(connection: duckdb.DuckDBPyConnection) -> None:
    """Register the feature models' functions on a DuckDB connection."""
    connection.create_function(
        FUNCTION_NAME,
        _ta_recursive_average,
        [duckdb.list_type(DOUBLE), BIGINT, DOUBLE, BIGINT, BIGINT, BOOLEAN, BIGINT, DOUBLE],
        duckdb.list_type(DOUBLE),
        type="arrow",
        null_handling="special",
    )


class Plugin(BasePlugin):
    def configure_connection(self, conn: duckdb.DuckDBPyConnection) -> None:
        register_functions(conn)
