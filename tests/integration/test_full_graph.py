"""The whole graph, end to end, on a tiny simulated universe in a temporary home."""

from __future__ import annotations

import math

import dagster as dg
import duckdb
import pandas as pd
import pytest

from orchestration.definitions import build_definitions
from orchestration.jobs import execute_over_days
from orchestration.settings import Settings

RUN_CONFIG = {
    "ops": {
        "model_zoo": {"config": {"n_trials": 3, "n_folds": 2, "valid_dates": 30}},
        "backtest": {"config": {"top_k": 2}},
        "signals": {"config": {"top_k": 2}},
        "walk_forward_predictions": {"config": {"step": 63, "min_train_dates": 150}},
    }
}


@pytest.fixture(scope="module")
def built_home(tmp_path_factory: pytest.TempPathFactory):
    home = tmp_path_factory.mktemp("home")
    settings = Settings.from_env(
        {
            "ALPHADAG_HOME": str(home),
            "ALPHADAG_UNIVERSE": "5",
            "ALPHADAG_START": "2022-01-01",
            "ALPHADAG_END": "2022-12-31",
        }
    )
    settings.ensure_home()
    settings.export_env()
    defs = build_definitions(settings)
    with dg.DagsterInstance.ephemeral() as instance:
        first = execute_over_days(defs, instance, run_config=RUN_CONFIG)
        assert first.success
        first_metrics = _table(settings, "backtest_metrics")
        second = execute_over_days(defs, instance, run_config=RUN_CONFIG)
        assert second.success
    return settings, first_metrics


def _table(settings: Settings, name: str):
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        return con.execute(f"select * from {name}").df()


def test_every_layer_leaves_its_artefacts(built_home) -> None:
    settings, _ = built_home
    partitions = sorted((settings.lake_dir / "raw" / "ohlcv").glob("date=*/*.parquet"))
    assert len(partitions) == 260  # business days of 2022
    features = _table(settings, "fct_features")
    assert features["symbol"].nunique() == 5
    assert {"ret_1d", "sma_20", "ema_12", "rsi_14", "vol_20d"} <= set(features.columns)
    assert settings.training_set_path.exists()
    assert settings.latest_features_path.exists()
    assert list(settings.reports_dir.glob("backtest_*.html"))


def test_backtest_rows_every_strategy_stress_and_grid(built_home) -> None:
    settings, _ = built_home
    metrics = _table(settings, "backtest_metrics")
    assert metrics["backtest_id"].nunique() == 1
    assert {
        "model",
        "model_long_short",
        "buy_and_hold",
        "momentum_12_1",
        "reversal_5d",
        "best_single_feature",
        "ridge",
        "oracle",
        "oracle_long_short",
    } == set(metrics["strategy"])
    row = metrics.set_index("strategy").loc["model"]
    for column in (
        "total_return",
        "cagr",
        "volatility",
        "sharpe",
        "max_drawdown",
        "benchmark_sharpe",
        "psr",
        "beta",
        "excess_return_t",
    ):
        assert math.isfinite(row[column]), column
    assert row["max_drawdown"] <= 0
    assert 0.9 < row["exposure"] <= 1.0 + 1e-9
    assert row["n_trials"] == 120  # the grid's configurations
    stress = _table(settings, "stress_tests")
    assert {"base", "slippage_x2", "slippage_x3", "flash_crash"} <= set(stress["scenario"])
    by_scenario = stress.set_index("scenario")["total_return"]
    assert by_scenario["base"] > by_scenario["slippage_x2"] > by_scenario["slippage_x3"]
    assert len(_table(settings, "backtest_grid")) == 120
    model = _table(settings, "model_metrics").iloc[0]
    assert math.isfinite(model["ic"]) and math.isfinite(model["rank_ic"])
    # the simulator's oracle, scored on the same label and rows as the model
    assert math.isfinite(model["oracle_ic"]) and model["oracle_ic"] > 0


def test_model_is_registered_as_champion(built_home) -> None:
    settings, _ = built_home
    from ml.tracking import configure_mlflow, get_alias_version

    configure_mlflow(settings.mlflow_tracking_uri, settings.mlflow_dir / "artifacts")
    assert get_alias_version("alphadag_ranker", "champion") == "1"
    zoo = _table(settings, "model_zoo")
    assert {"best_single_feature", "ridge", "lightgbm", "xgboost", "ensemble", "oracle"} <= set(
        zoo["candidate"]
    )
    signals = _table(settings, "signals")
    assert signals["target_weight"].sum() == pytest.approx(1.0)
    assert (signals["target_weight"] > 0).sum() == 2


def test_the_backtest_reads_the_champion_scores_as_grids(built_home) -> None:
    settings, _ = built_home
    from assets.models import champion_score_grids, champion_scores, registered_model
    from ml.tracking import configure_mlflow
    from orchestration.warehouse import Warehouse

    configure_mlflow(settings.mlflow_tracking_uri, settings.mlflow_dir / "artifacts")
    champion = registered_model("alphadag_ranker", "1")
    warehouse = Warehouse(settings.warehouse_path)
    grids = champion_score_grids(warehouse, champion)
    long = champion_scores(warehouse, champion).assign(date=lambda f: pd.to_datetime(f["date"]))
    assert (
        set(grids) == set(long["candidate"]) == {champion.candidate, "ridge", "best_single_feature"}
    )
    for candidate, grid in grids.items():
        rows = long[long["candidate"] == candidate]
        pivoted = rows.pivot(index="date", columns="symbol", values="prediction")
        pd.testing.assert_frame_equal(
            grid, pivoted.reindex(index=grid.index, columns=grid.columns), check_names=False
        )
        assert grid.notna().sum().sum() == len(rows)
    one = champion_scores(warehouse, champion, "ridge")
    assert set(one["candidate"]) == {"ridge"} and len(one) == (long["candidate"] == "ridge").sum()


def test_feast_serves_online_features(built_home) -> None:
    settings, _ = built_home
    from feature_repo.definitions import build_feature_repo
    from feature_repo.store import online_features, open_store

    store = open_store(settings.home)
    repo = build_feature_repo(settings.features_dir)
    served = online_features(store, repo, ["SIM0001"]).iloc[0]
    assert served["symbol"] == "SIM0001"
    # what is served is the newest offline row (a feature whose window is longer than
    # this one-year history, such as a 252-day regime, is null in both)
    offline = pd.read_parquet(settings.features_dataset)
    newest = offline[offline["symbol"] == "SIM0001"].sort_values("date").iloc[-1]
    assert served["date"] == pd.Timestamp(newest["date"])
    names = repo.model_feature_names()
    assert served[names].astype(float).equals(newest[names].astype(float))
    assert served[["ret_1d", "rsi_14"]].notna().all()


def test_rerun_is_idempotent_and_deterministic(built_home) -> None:
    settings, first_metrics = built_home
    again = _table(settings, "backtest_metrics")
    # the same backtest id, its rows replaced, not added
    assert len(again) == len(first_metrics) == 9
    assert set(again["backtest_id"]) == set(first_metrics["backtest_id"])
    columns = ["strategy", "sharpe", "cagr", "max_drawdown", "total_return"]
    pd.testing.assert_frame_equal(
        again[columns].sort_values("strategy").reset_index(drop=True),
        first_metrics[columns].sort_values("strategy").reset_index(drop=True),
    )
    assert len(_table(settings, "stress_tests")) == 7
    assert len(_table(settings, "backtest_grid")) == 120
    predictions = _table(settings, "predictions")
    assert not predictions.duplicated(["symbol", "date", "model_name", "model_version"]).any()
    walk_forward = _table(settings, "walk_forward_predictions")
    key = ["symbol", "date", "model_name", "model_version", "candidate"]
    assert not walk_forward.duplicated(key).any()
    # every date after the first 150 of the year's 260, in two blocks, by three candidates
    assert walk_forward["date"].nunique() == 110 and walk_forward["block"].nunique() == 2
    assert walk_forward["candidate"].nunique() == 3
    assert _table(settings, "model_metrics").shape[0] == 1
