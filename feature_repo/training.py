"""The training set, built in date batches so that its memory does not grow with the data.

Joined at once, 3,000 symbols x 10 years of labels (7.8M rows) and 224 float64 features
are 14 GB in pandas, and Feast's join and the Arrow conversions hold several copies of
that. Each entity row's point-in-time answer depends only on its own (symbol, date), so
the labels are split into consecutive date ranges of about `max_rows` rows, each range
is joined through Feast and appended to the Parquet file as it comes: the file has the
same rows, values and (date, symbol) order as one join of every label, and the process
holds one batch at a time.

Feast's DuckDB store joins each entity row with every feature row of its symbol and
then keeps the newest within the TTL, so the work grows with the length of the history
(10 years: 2,600 candidate rows per entity row). A batch of dates [first, last] can
only ever match feature rows dated [first - TTL, last], so each batch is joined against
that slice of the export: a scratch registry holds the same views and service over a
scratch file that is rewritten for every batch. The answers are the same rows Feast
would pick from the whole export.

No feast import at module level (`historical_features` brings it in when a set is built).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pandas as pd

from feature_repo.files import write_feature_batches

if TYPE_CHECKING:
    from feast import FeatureStore

    from feature_repo.definitions import FeatureRepo

# About 0.5 GB of float64 features per batch (250k rows x 230 columns); Feast's join
# holds a few times that at its peak.
TRAINING_BATCH_ROWS = 250_000

LABEL_COLUMNS = ["fwd_ret_1d", "fwd_ret_5d", "fwd_ret_1d_rank", "fwd_ret_5d_rank"]

# `query(sql, params)` -> DataFrame, e.g. orchestration.warehouse.Warehouse.query
Query = Callable[[str, list[Any]], pd.DataFrame]


@dataclass(frozen=True)
class TrainingSet:
    """What `build_training_set` wrote: one row per label row, in date batches."""

    rows: int
    first_date: Any
    last_date: Any
    batches: int
    data_version: str


def date_batches(rows_per_date: pd.Series, max_rows: int) -> list[tuple[Any, Any]]:
    """Consecutive, inclusive (first date, last date) ranges of about `max_rows` rows.

    `rows_per_date` maps each date, in ascending order, to its row count. A range ends
    once it holds `max_rows` or more rows, so one date is never split and a date with
    more rows than `max_rows` is a range of its own.
    """
    if max_rows < 1:
        raise ValueError(f"max_rows must be positive, got {max_rows}")
    ranges, first, held = [], None, 0
    for day, rows in rows_per_date.items():
        first = day if first is None else first
        held += int(rows)
        if held >= max_rows:
            ranges.append((first, day))
            first, held = None, 0
    if first is not None:
        ranges.append((first, rows_per_date.index[-1]))
    return ranges


def _labels(query: Query, first: Any, last: Any) -> pd.DataFrame:
    return query(
        f"select symbol, date, {', '.join(LABEL_COLUMNS)} from fct_labels "
        "where date between ? and ? order by date, symbol",
        [first, last],
    )


def write_feature_slice(features_file: Path, target: Path, first: Any, last: Any) -> None:
    """Copy the export's rows dated `first`..`last` (inclusive) to `target`, atomically;
    `features_file` may be a glob (the month files)."""
    tmp = target.with_name(target.name + ".tmp")
    first_day, last_day = pd.Timestamp(first).date(), pd.Timestamp(last).date()
    with duckdb.connect() as con:
        con.execute(
            f"copy (select * from read_parquet('{features_file}') "
            f"where date between date '{first_day}' and date '{last_day}') "
            f"to '{tmp}' (format parquet)"
        )
    os.replace(tmp, target)


def build_training_set(
    store: FeatureStore,
    repo: FeatureRepo,
    query: Query,
    path: Path,
    *,
    max_rows: int = TRAINING_BATCH_ROWS,
    on_batch: Callable[[int, int, pd.DataFrame], None] | None = None,
) -> TrainingSet:
    """Join `fct_labels` with the repo's feature service point in time, one date range
    at a time, and write the result to `path` atomically, tagged with the service.

    `store` must have the service registered (`feast_apply`); `on_batch(index, count,
    frame)` is called after each batch is joined (progress).
    """
    from feature_repo.definitions import build_feature_repo
    from feature_repo.store import apply_repo, historical_features, open_store, registered_service
    from feature_repo.views import FEATURE_TTL

    registered_service(store, repo)
    counts = query("select date, count(*) as n from fct_labels group by date order by date", [])
    if counts.empty:
        raise ValueError("fct_labels holds no rows: materialize the dbt models first")
    ranges = date_batches(counts.set_index("date")["n"], max_rows)
    features_file = Path(repo.source.path)
    path.parent.mkdir(parents=True, exist_ok=True)

    with tempfile.TemporaryDirectory(prefix=".training-", dir=path.parent) as scratch_dir:
        scratch = Path(scratch_dir)
        sliced = build_feature_repo(scratch / "features")
        slice_file = Path(sliced.source.path).with_name("slice.parquet")
        slice_file.parent.mkdir(parents=True)

        def batches() -> Iterator[pd.DataFrame]:
            slice_store = None
            for index, (first, last) in enumerate(ranges):
                write_feature_slice(features_file, slice_file, first - FEATURE_TTL, last)
                if slice_store is None:
                    slice_store = open_store(scratch)
                    apply_repo(slice_store, sliced)
                frame = historical_features(slice_store, sliced, _labels(query, first, last))
                if on_batch is not None:
                    on_batch(index, len(ranges), frame)
                yield frame

        written = write_feature_batches(batches(), path, repo.service.name)
    return TrainingSet(
        rows=written.rows,
        first_date=ranges[0][0],
        last_date=ranges[-1][1],
        batches=len(ranges),
        data_version=written.data_version,
    )
