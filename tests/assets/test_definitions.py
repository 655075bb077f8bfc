"""The code location loads fast, with the expected graph, and without heavy imports."""

import subprocess
import sys
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import dagster as dg

from orchestration.definitions import build_definitions
from orchestration.jobs import BUILD_JOB_NAME, NIGHTLY_SCHEDULE_NAME, REFRESH_JOB_NAME
from orchestration.settings import Settings

EXPECTED_ASSETS = {
    "raw_ohlcv",
    "stg_ohlcv",
    "int_bars",
    "int_returns",
    "int_trend",
    "int_momentum",
    "int_volatility",
    "int_volume",
    "int_alpha158",
    "int_cross_section",
    "int_market_regime",
    "fct_features",
    "dim_symbols",
    "fct_labels",
    "feature_lake",
    "feast_apply",
    "training_set",
    "online_features",
    "latest_features",
    "model_zoo",
    "champion_model",
    "predictions",
    "walk_forward_predictions",
    "model_evaluation",
    "signals",
    "model_metrics",
    "backtest",
}


def _defs(tmp_path):
    return build_definitions(Settings.from_env({"ALPHADAG_HOME": str(tmp_path)}))


def test_asset_graph_snapshot(tmp_path) -> None:
    graph = _defs(tmp_path).resolve_asset_graph()
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    assert keys == EXPECTED_ASSETS


def test_lineage_runs_from_raw_bars_to_backtest(tmp_path) -> None:
    graph = _defs(tmp_path).resolve_asset_graph()

    def parents(name: str) -> set[str]:
        from dagster import AssetKey

        return {k.to_user_string() for k in graph.get(AssetKey(name)).parent_keys}

    assert parents("stg_ohlcv") == {"raw_ohlcv"}
    assert parents("int_bars") == {"stg_ohlcv"}
    assert parents("fct_features") == {
        "int_bars",
        "int_returns",
        "int_trend",
        "int_momentum",
        "int_volatility",
        "int_volume",
        "int_alpha158",
        "int_cross_section",
        "int_market_regime",
    }
    assert "fct_labels" in parents("training_set")
    assert parents("model_zoo") == {"training_set"}
    assert parents("champion_model") == {"model_zoo"}
    assert parents("signals") == {
        "champion_model",
        "latest_features",
        "walk_forward_predictions",
        "predictions",
    }
    # the live scores `signals` stores extend the backtest and the metrics
    assert {"walk_forward_predictions", "signals"} <= parents("backtest")
    assert {"predictions", "signals"} <= parents("model_metrics")
    assert {"model_evaluation", "stg_ohlcv"} <= parents("backtest")
    assert parents("walk_forward_predictions") == {"champion_model", "training_set"}


def test_raw_bars_are_business_day_partitions(tmp_path) -> None:
    defs = _defs(tmp_path)
    job = defs.resolve_job_def(BUILD_JOB_NAME)
    keys = job.partitions_def.get_partition_keys()
    assert keys[0] == "2021-01-01" and keys[-1] == "2023-12-29"
    assert len(keys) == 781  # weekdays of 2021-2023


def test_dbt_tests_become_asset_checks(tmp_path) -> None:
    graph = _defs(tmp_path).resolve_asset_graph()
    checks = {key.name for key in graph.asset_check_keys}
    assert any("unique_combination_of_columns" in name for name in checks)


# Each of these takes from tenths of a second (pandas with numpy) to seconds (feast) to
# import; the UI and every run process load the code location, the steps import what
# they use.
HEAVY_LIBRARIES = (
    "pandas",
    "numpy",
    "pyarrow",
    "scipy",
    "duckdb",
    "sklearn",
    "numba",
    "feast",
    "vectorbt",
    "great_expectations",
    "mlflow",
    "lightgbm",
    "xgboost",
    "optuna",
    "dagster_dbt",
    "dbt",
)


def test_loading_the_definitions_skips_heavy_libraries(tmp_path) -> None:
    code = (
        "import sys\n"
        "from orchestration.definitions import build_definitions, defs\n"
        "from orchestration.settings import Settings\n"
        "defs.get_repository_def()\n"
        "build_definitions(Settings.from_env()).get_repository_def()\n"
        "print(sorted(m for m in sys.argv[1:] if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, *HEAVY_LIBRARIES],
        env={"PATH": "/usr/bin:/bin", "ALPHADAG_HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_daily_refresh_scores_and_evaluates_without_retraining(tmp_path) -> None:
    job = _defs(tmp_path).resolve_job_def(REFRESH_JOB_NAME)
    selected = {key.to_user_string() for key in job.asset_layer.selected_asset_keys}
    assert {"raw_ohlcv", "fct_features", "feature_lake", "online_features"} <= selected
    assert {"latest_features", "signals", "model_metrics", "backtest"} <= selected
    assert not selected & {
        "feast_apply",
        "training_set",
        "model_zoo",
        "champion_model",
        "predictions",
        "walk_forward_predictions",
        "model_evaluation",
    }


def _tick(defs: dg.Definitions, at: datetime) -> tuple[list[dg.RunRequest], str | None]:
    """The run requests and skip message of the nightly schedule's tick at `at`."""
    with dg.build_schedule_context(
        scheduled_execution_time=at, repository_def=defs.get_repository_def()
    ) as context:
        data = defs.resolve_schedule_def(NIGHTLY_SCHEDULE_NAME).evaluate_tick(context)
    return list(data.run_requests or []), data.skip_message


def test_the_nightly_schedule_refreshes_the_day_that_just_closed(tmp_path) -> None:
    defs = _defs(tmp_path)
    schedule = defs.resolve_schedule_def(NIGHTLY_SCHEDULE_NAME)
    assert schedule.cron_schedule == "0 18 * * 1-5"
    assert schedule.execution_timezone == "America/New_York"
    assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED
    assert schedule.job_name == REFRESH_JOB_NAME
    # 18:00 in New York is 23:00 UTC: the day's partition exists before the UTC day ends
    (request,), _ = _tick(defs, datetime(2023, 3, 6, 18, tzinfo=ZoneInfo("America/New_York")))
    assert request.partition_key == "2023-03-06"
    # after the end of a fixed range there is nothing to refresh
    requests, skipped = _tick(defs, datetime(2024, 1, 2, 18, tzinfo=ZoneInfo("America/New_York")))
    assert not requests
    assert "ALPHADAG_END=today" in (skipped or "")


def test_the_schedules_hour_zone_and_status_come_from_the_environment(tmp_path) -> None:
    settings = Settings.from_env(
        {
            "ALPHADAG_HOME": str(tmp_path),
            "ALPHADAG_END": "today",
            "ALPHADAG_SCHEDULE_HOUR": "17",
            "ALPHADAG_SCHEDULE_TIMEZONE": "Europe/London",
            "ALPHADAG_SCHEDULE_RUNNING": "1",
        }
    )
    defs = build_definitions(settings)
    schedule = defs.resolve_schedule_def(NIGHTLY_SCHEDULE_NAME)
    assert schedule.cron_schedule == "0 17 * * 1-5"
    assert schedule.execution_timezone == "Europe/London"
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    # open-ended: today's partition is there at today's close
    now = datetime.now(ZoneInfo("Europe/London"))
    weekday = now.date() - timedelta(days=max(0, now.weekday() - 4))
    (request,), _ = _tick(defs, datetime.combine(weekday, time(17), ZoneInfo("Europe/London")))
    assert request.partition_key == str(weekday)
