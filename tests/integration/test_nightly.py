"""The nightly loop: a full build of a tiny home, then three business days driven by the
`nightly` schedule, each tick's run request executed for real."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import dagster as dg
import duckdb
import pandas as pd
import pytest
from cli_runs import TINY

from orchestration.definitions import build_definitions
from orchestration.jobs import (
    BUILD_JOB_NAME,
    NIGHTLY_SCHEDULE_NAME,
    REFRESH_JOB_NAME,
    partition_range_tags,
)
from orchestration.settings import Settings

pytestmark = pytest.mark.slow

RUN_CONFIG = {
    "ops": {
        "model_zoo": {"config": {"n_trials": 2, "n_folds": 2, "valid_dates": 30}},
        "backtest": {"config": {"top_k": 2, "grid_top_k": [1, 2]}},
        "signals": {"config": {"top_k": 2}},
        "walk_forward_predictions": {"config": {"step": 63, "min_train_dates": 150}},
    }
}
# a nightly run has no training step to configure
REFRESH_CONFIG = {"ops": {k: RUN_CONFIG["ops"][k] for k in ("backtest", "signals")}}
BUILT_UNTIL = date(2023, 6, 27)
NIGHTS = [date(2023, 6, 28), date(2023, 6, 29), date(2023, 6, 30)]
NEW_YORK = ZoneInfo("America/New_York")


@dataclass(frozen=True)
class Loop:
    settings: Settings
    # what the warehouse held after the full build and after each night
    after: list[dict[str, pd.DataFrame]]
    materialized: list[set[str]]
    runs: list[dg.RunRequest]
    online_windows: list[tuple[str, str]]
    lake_months: list[str]


def _tables(settings: Settings) -> dict[str, pd.DataFrame]:
    names = (
        "fct_features",
        "predictions",
        "walk_forward_predictions",
        "model_zoo",
        "model_metrics",
        "signals",
        "backtest_metrics",
    )
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        return {name: con.execute(f"select * from {name}").df() for name in names}


def _tick(defs: dg.Definitions, instance: dg.DagsterInstance, day: date) -> list[dg.RunRequest]:
    schedule = defs.resolve_schedule_def(NIGHTLY_SCHEDULE_NAME)
    at = datetime.combine(day, time(18), tzinfo=NEW_YORK)
    with dg.build_schedule_context(
        instance=instance, scheduled_execution_time=at, repository_def=defs.get_repository_def()
    ) as context:
        return list(schedule.evaluate_tick(context).run_requests or [])


@pytest.fixture(scope="module")
def loop(tmp_path_factory: pytest.TempPathFactory) -> Loop:
    home = tmp_path_factory.mktemp("nightly")
    settings = Settings.from_env({**TINY, "ALPHADAG_HOME": str(home)})
    settings.ensure_home()
    settings.export_env()
    defs = build_definitions(settings)
    build = defs.resolve_job_def(BUILD_JOB_NAME)
    refresh = defs.resolve_job_def(REFRESH_JOB_NAME)
    keys = [k for k in build.partitions_def.get_partition_keys() if k <= str(BUILT_UNTIL)]
    with dg.DagsterInstance.ephemeral() as instance:
        assert build.execute_in_process(
            instance=instance, tags=partition_range_tags(keys), run_config=RUN_CONFIG
        ).success
        after, materialized, runs, windows, months = [_tables(settings)], [], [], [], []
        for night in NIGHTS:
            requests = _tick(defs, instance, night)
            assert len(requests) == 1
            runs.append(requests[0])
            result = refresh.execute_in_process(
                instance=instance,
                partition_key=requests[0].partition_key,
                tags=requests[0].tags,
                run_config=REFRESH_CONFIG,
            )
            assert result.success
            materialized.append(
                {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
            )
            after.append(_tables(settings))
            online = instance.get_latest_materialization_event(dg.AssetKey("online_features"))
            meta = online.asset_materialization.metadata
            windows.append((meta["start"].value, meta["end"].value))
            lake = instance.get_latest_materialization_event(dg.AssetKey("feature_lake"))
            months.append(lake.asset_materialization.metadata["months"].value)
    return Loop(settings, after, materialized, runs, windows, months)


def test_each_tick_requests_the_business_day_that_just_ended(loop: Loop) -> None:
    assert [r.partition_key for r in loop.runs] == [str(d) for d in NIGHTS]
    assert [r.run_key for r in loop.runs] == [str(d) for d in NIGHTS]


def test_each_night_adds_its_partition_and_features_exactly_once(loop: Loop) -> None:
    raw = loop.settings.lake_dir / "raw" / "ohlcv"
    for night in NIGHTS:
        assert len(list((raw / f"date={night}").glob("*.parquet"))) == 1
    features = loop.after[-1]["fct_features"]
    assert not features.duplicated(["symbol", "date"]).any()
    assert {pd.Timestamp(d) for d in NIGHTS} <= set(pd.to_datetime(features["date"]))
    exported = pd.read_parquet(loop.settings.features_dataset)
    assert not exported.duplicated(["symbol", "date"]).any()
    assert len(exported) == len(features)
    # only the month of the night is rewritten, and only its day goes online
    assert loop.lake_months == ["2023-06"] * 3
    assert [start[:10] for start, _ in loop.online_windows] == [str(d) for d in NIGHTS]


def test_each_night_adds_tomorrows_signals_and_the_days_scores_once(loop: Loop) -> None:
    signals = loop.after[-1]["signals"]
    assert not signals.duplicated(["symbol", "date", "model_name"]).any()
    expected = [(pd.Timestamp(d) + pd.offsets.BDay(1)).date() for d in [BUILT_UNTIL, *NIGHTS]]
    assert sorted(set(pd.to_datetime(signals["date"]).dt.date)) == expected
    predictions = loop.after[-1]["predictions"]
    assert not predictions.duplicated(["symbol", "date", "model_name", "model_version"]).any()
    assert {pd.Timestamp(d) for d in NIGHTS} <= set(pd.to_datetime(predictions["date"]))


def test_metrics_and_backtest_grow_by_one_labelled_day_each_night(loop: Loop) -> None:
    metrics = [tables["model_metrics"] for tables in loop.after]
    assert all(len(m) == 1 for m in metrics)
    assert [int(m["n_dates"].iloc[0]) for m in metrics] == [
        int(metrics[0]["n_dates"].iloc[0]) + i for i in range(4)
    ]
    backtests = loop.after[-1]["backtest_metrics"]
    assert not backtests.duplicated(["backtest_id", "strategy"]).any()
    ends = backtests.groupby("end_date")["backtest_id"].nunique()
    assert sorted(pd.to_datetime(ends.index).date) == [BUILT_UNTIL, *NIGHTS]
    assert (ends == 1).all()
    # the live days extend the champion's book; the strategies stay the same
    strategies = backtests.groupby("backtest_id")["strategy"].apply(frozenset)
    assert strategies.nunique() == 1


def test_nothing_retrains(loop: Loop) -> None:
    retraining = {
        "model_zoo",
        "champion_model",
        "walk_forward_predictions",
        "training_set",
        "predictions",
        "feast_apply",
        "model_evaluation",
    }
    for assets in loop.materialized:
        assert {"raw_ohlcv", "signals", "model_metrics", "backtest"} <= assets
        assert not assets & retraining
    built, last = loop.after[0], loop.after[-1]
    pd.testing.assert_frame_equal(last["model_zoo"], built["model_zoo"])
    pd.testing.assert_frame_equal(
        last["walk_forward_predictions"], built["walk_forward_predictions"]
    )
    assert set(last["signals"]["model_version"]) == set(built["model_zoo"]["model_version"])
