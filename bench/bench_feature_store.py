"""Feast against a direct DuckDB query of the same Parquet, in the same run.

- online: the newest model features of the whole universe (500 symbols) from the SQLite
  online store, as `latest_features` reads them, against DuckDB picking each symbol's
  newest row within the TTL from the feature export.
- historical: a point-in-time training set (every (symbol, date) of the export) through
  the feature service, against a DuckDB ASOF join with the same TTL. Both results are
  checked equal before timing, so the baseline does the same work.

Feast pays for its generality (protobuf values per feature online; ibis-built SQL and a
pandas round trip offline); the ratios say how much, so a change that makes it worse
shows up here.
"""

from __future__ import annotations

import shutil
import tempfile
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from bench.harness import BenchResult, best_of, compare
from feature_repo.catalog import load_catalog
from feature_repo.files import write_month_files
from feature_repo.layout import features_dataset

N_SYMBOLS = 500
# Online: once a night for the universe, so latency matters little; within 30x of a
# columnar scan keeps the read well under a second for 500 symbols.
ONLINE_GOAL = 30.0
# Historical: training sets are rebuilt nightly; within 20x of a hand-written ASOF join.
HISTORICAL_GOAL = 20.0


def _write_export(features_dir: Path, n_days: int) -> pd.DataFrame:
    """A synthetic fct_features export with every column of the catalog."""
    names = [s.name for s in load_catalog()]
    days = pd.bdate_range(end="2024-12-31", periods=n_days)
    symbols = [f"SYM{i:04d}" for i in range(N_SYMBOLS)]
    index = pd.MultiIndex.from_product([days, symbols], names=["date", "symbol"])
    rng = np.random.default_rng(11)
    frame = pd.DataFrame(rng.normal(size=(len(index), len(names))), index=index, columns=names)
    frame = frame.reset_index()[["symbol", "date", *names]]
    frame["event_timestamp"] = frame["date"].astype("datetime64[us]")
    frame["date"] = frame["date"].dt.date
    write_month_files(frame, features_dataset(features_dir))
    return frame


def _duckdb_latest(
    con: duckdb.DuckDBPyConnection, path: Path | str, features: list[str], last_day: date
) -> pd.DataFrame:
    columns = ", ".join(features)
    return con.execute(
        f"""
        select symbol, {columns} from read_parquet('{path}')
        where date > ?::date - interval 7 day and date <= ?
        qualify row_number() over (partition by symbol order by date desc) = 1
        order by symbol
        """,
        [last_day, last_day],
    ).df()


def _duckdb_point_in_time(
    con: duckdb.DuckDBPyConnection, path: Path | str, features: list[str], entities: pd.DataFrame
) -> pd.DataFrame:
    within_ttl = "f.event_timestamp >= e.date - interval 7 day"
    columns = ", ".join(f"case when {within_ttl} then f.{n} end as {n}" for n in features)
    con.register("entities", entities)
    try:
        return con.execute(
            f"""
            select e.symbol, e.date, {columns}
            from entities e asof left join read_parquet('{path}') f
              on e.symbol = f.symbol and e.date >= f.event_timestamp
            order by e.date, e.symbol
            """
        ).df()
    finally:
        con.unregister("entities")


def run(quick: bool) -> list[BenchResult]:
    from feature_repo.definitions import build_feature_repo
    from feature_repo.store import (
        apply_repo,
        historical_features,
        materialize_latest,
        online_features,
        open_store,
    )

    n_days = 20 if quick else 250
    home = Path(tempfile.mkdtemp(prefix="alphadag-bench-feast-"))
    try:
        features_dir = home / "lake" / "features"
        export = _write_export(features_dir, n_days)
        path = features_dataset(features_dir) / "*.parquet"
        repo = build_feature_repo(features_dir)
        store = open_store(home)
        apply_repo(store, repo)
        last_day = export["date"].max()
        materialize_latest(store, repo, last_day)
        features = repo.model_feature_names()
        symbols = sorted(export["symbol"].unique())
        con = duckdb.connect()

        served = online_features(store, repo, symbols)
        direct = _duckdb_latest(con, path, features, last_day)
        pd.testing.assert_frame_equal(
            served[["symbol", *features]].reset_index(drop=True), direct, check_exact=True
        )
        online_seconds = best_of(lambda: online_features(store, repo, symbols), repeat=5)
        online_baseline = best_of(lambda: _duckdb_latest(con, path, features, last_day), repeat=5)

        entities = export[["symbol", "date"]].assign(date=lambda f: pd.to_datetime(f["date"]))
        joined = historical_features(store, repo, entities)
        direct_pit = _duckdb_point_in_time(con, path, features, entities)
        pd.testing.assert_frame_equal(
            joined[["symbol", "date", *features]].reset_index(drop=True),
            direct_pit.assign(date=lambda f: f["date"].astype(joined["date"].dtype)),
            check_exact=True,
        )
        repeat = 3 if quick else 2
        pit_seconds = best_of(lambda: historical_features(store, repo, entities), repeat=repeat)
        pit_baseline = best_of(
            lambda: _duckdb_point_in_time(con, path, features, entities), repeat=repeat
        )
        con.close()
    finally:
        shutil.rmtree(home, ignore_errors=True)

    rows = len(entities)
    return [
        compare(
            "feast_online_universe",
            candidate_seconds=online_seconds,
            baseline="duckdb newest row per symbol (Parquet)",
            baseline_seconds=online_baseline,
            goal=ONLINE_GOAL,
            detail=f"{len(symbols)} symbols x {len(features)} features from SQLite",
        ),
        compare(
            "feast_historical_point_in_time",
            candidate_seconds=pit_seconds,
            baseline="duckdb ASOF join with the same TTL (Parquet)",
            baseline_seconds=pit_baseline,
            goal=HISTORICAL_GOAL,
            detail=(
                f"{rows} entity rows x {len(features)} features: feast {rows / pit_seconds:,.0f} "
                f"rows/s, duckdb {rows / pit_baseline:,.0f} rows/s"
            ),
        ),
    ]
