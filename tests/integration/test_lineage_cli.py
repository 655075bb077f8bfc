"""`alphadag lineage` on the session's clean tiny home walks a backtest back to the raw
partitions, through the model version, its MLflow run, the training set, the feature
service and the dbt models."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest
from cli_runs import ROOT, TINY, cli_env

pytestmark = pytest.mark.slow

MODEL_ASSETS = (
    "model_zoo",
    "champion_model",
    "predictions",
    "walk_forward_predictions",
    "model_metrics",
    "model_evaluation",
    "signals",
    "backtest",
)


def _lineage(home, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "orchestration.cli", "lineage", *args],
        cwd=ROOT,
        env={**cli_env(home), "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _business_days() -> pd.DatetimeIndex:
    return pd.bdate_range(TINY["ALPHADAG_START"], TINY["ALPHADAG_END"])


def test_a_backtest_walks_back_to_the_raw_partitions(clean_run) -> None:
    backtests = clean_run.results["backtest_metrics"]
    backtest_id = str(backtests["backtest_id"].iloc[0])
    version = str(backtests["model_version"].iloc[0])
    days = _business_days()

    as_json = _lineage(clean_run.home, backtest_id, "--json")
    assert as_json.returncode == 0, as_json.stderr
    doc = json.loads(as_json.stdout)
    assert doc["kind"] == "backtest"
    assert doc["backtest"]["backtest_id"] == backtest_id
    assert doc["backtest"]["materialization"]["mlflow_run_id"] == doc["mlflow_run"]["run_id"]
    assert doc["model_version"]["version"] == version
    assert backtest_id in doc["model_version"]["backtests"]
    run = doc["mlflow_run"]
    assert len(run["run_id"]) == 32 and run["status"] == "FINISHED"
    assert {"test_rank_ic", "cv_rank_ic"} <= set(run["metrics"])
    # the training set that MLflow recorded is the one Dagster materialized
    training = doc["training_set"]
    assert run["data_version"].startswith(training["materialization"]["data_version"])
    service = doc["feature_service"]
    assert service["name"] == run["feature_service"] and service["features"] > 100
    dbt = {node["asset"]: node for node in doc["dbt_models"]}
    assert {"fct_features", "fct_labels", "int_bars", "stg_ohlcv"} <= set(dbt)
    for node in dbt.values():
        assert node["materialization"]["code_version"] == node["code_version"]
        assert node["stale"] == []
    raw = doc["raw_partitions"]
    assert (raw["partitions"], raw["first"], raw["last"]) == (
        len(days),
        f"{days[0]:%Y-%m-%d}",
        f"{days[-1]:%Y-%m-%d}",
    )
    assert raw["source"] == "simulator"
    assert raw["lake"]["files"] == len(days)
    assert raw["lake"]["first"] == f"lake/raw/ohlcv/date={days[0]:%Y-%m-%d}/bars.parquet"

    as_tree = _lineage(clean_run.home, backtest_id)
    assert as_tree.returncode == 0, as_tree.stderr
    text = as_tree.stdout
    for expected in (
        f"backtest {backtest_id}",
        f"model version alphadag_ranker v{version}",
        f"MLflow run {run['run_id']}",
        f"training set data version {training['data_version'][:16]}",
        f"feature service {service['name']}",
        "fct_features (incremental)",
        f"raw partitions raw_ohlcv: {len(days)} business days {days[0]:%Y-%m-%d}..{days[-1]:%Y-%m-%d}",
        f"lake files: {len(days)}",
    ):
        assert expected in text, f"{expected!r} not in:\n{text}"
    assert "stale" not in text
    # the same chain from the model version
    by_version = _lineage(clean_run.home, f"v{version}", "--json")
    assert json.loads(by_version.stdout)["raw_partitions"] == raw


def test_an_asset_shows_its_chain_both_ways(clean_run) -> None:
    done = _lineage(clean_run.home, "fct_features", "--json")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert "int_bars" in doc["parents"]["fct_features"]
    assert doc["children"]["fct_features"] == ["feature_lake"]
    for name in ("raw_ohlcv", "stg_ohlcv", "fct_features", "training_set", "backtest"):
        node = doc["nodes"][name]
        assert node["materialization"]["run_id"], name
        assert node["materialization"]["code_version"] == node["code_version"], name
    # every model asset names the MLflow run of the model it used
    runs = {
        name: doc["nodes"][name]["materialization"].get("mlflow_run_id") for name in MODEL_ASSETS
    }
    assert len(set(runs.values())) == 1 and None not in runs.values(), runs
    tree = _lineage(clean_run.home, "fct_features").stdout
    assert "upstream" in tree and "downstream" in tree and "raw_ohlcv" in tree


def test_an_unknown_target_fails_with_suggestions(clean_run) -> None:
    done = _lineage(clean_run.home, "fct_feature")
    assert done.returncode == 1
    assert "did you mean: fct_features" in done.stderr
