"""The code location loads fast, with the expected graph, and without heavy imports."""

import subprocess
import sys

from orchestration.definitions import build_definitions
from orchestration.jobs import BUILD_JOB_NAME
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
    assert parents("signals") == {"champion_model", "latest_features", "walk_forward_predictions"}
    assert {"walk_forward_predictions", "model_evaluation", "stg_ohlcv"} <= parents("backtest")
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


def test_loading_the_definitions_skips_heavy_libraries() -> None:
    code = (
        "import sys, time; t = time.perf_counter();"
        "import orchestration.definitions;"
        "heavy = [m for m in ('feast', 'vectorbt', 'great_expectations', 'mlflow', 'lightgbm', 'optuna')"
        " if m in sys.modules];"
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
