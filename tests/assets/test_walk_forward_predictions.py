"""The walk_forward_predictions asset on a real home: a champion registered in a real
SQLite MLflow with its hyperparameters, a training set and the simulator's oracle in the
lake; the table it writes, its metadata, and a rerun that replaces its rows."""

from __future__ import annotations

import json

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from assets.models import (
    MODEL_NAME,
    WALK_FORWARD_COLUMNS,
    WalkForwardSettings,
    registered_model,
    walk_forward_predictions,
)
from ingest.lake import write_oracle
from ingest.simulator import ORACLE_COLUMNS
from ml.models import fit_lightgbm
from ml.zoo import RankEnsemble
from orchestration.settings import Settings
from orchestration.warehouse import Warehouse

FEATURES = ["f1", "f2"]
PARAMS = {"objective": "regression", "num_leaves": 4, "min_data_in_leaf": 40, "n_estimators": 30}


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory):
    from ml.tracking import configure_mlflow, flatten_params, log_and_register

    settings = Settings.from_env({"ALPHADAG_HOME": str(tmp_path_factory.mktemp("home"))})
    rng = np.random.default_rng(5)
    dates = pd.bdate_range("2022-01-03", periods=160)
    frame = pd.DataFrame(
        {"symbol": np.tile([f"S{i}" for i in range(8)], len(dates)), "date": dates.repeat(8)}
    )
    for name in FEATURES:
        frame[name] = rng.normal(size=len(frame))
    expected = 0.01 * frame["f1"]
    frame["fwd_ret_5d"] = expected + rng.normal(0, 0.01, len(frame))
    frame.loc[frame["date"] > dates[-7], "fwd_ret_5d"] = np.nan
    frame["fwd_ret_5d_rank"] = frame.groupby("date")["fwd_ret_5d"].rank(pct=True)
    settings.training_set_path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(settings.training_set_path)
    oracle = frame[["symbol", "date"]].assign(**{c: np.nan for c in ORACLE_COLUMNS})
    write_oracle(settings.lake_dir, oracle.assign(expected_fwd_ret_5d=expected))

    configure_mlflow(settings.mlflow_tracking_uri, settings.mlflow_dir / "artifacts")
    model = RankEnsemble(
        {"lightgbm": fit_lightgbm(frame, FEATURES, "fwd_ret_5d_rank", PARAMS)}, FEATURES
    )
    registered = log_and_register(
        model,
        model_name=MODEL_NAME,
        fingerprint="fp",
        params=flatten_params({"lightgbm": PARAMS}),
        metrics={},
        tags={
            "target": "fwd_ret_5d_rank",
            "features": json.dumps(FEATURES),
            "test_start": str(dates[120].date()),
            "test_end": str(dates[-1].date()),
            "n_trials": "1",
            "candidate": "lightgbm",
        },
        input_example=frame[FEATURES].head(3),
    )
    return settings, registered_model(MODEL_NAME, registered.version)


def _materialize(settings: Settings, champion) -> dg.MaterializeResult:
    return walk_forward_predictions(
        dg.build_asset_context(),
        config=WalkForwardSettings(step=20, min_train_dates=100),
        settings=settings,
        champion_model=champion,
    )


def test_writes_every_out_of_sample_row_with_its_comparators(home) -> None:
    settings, champion = home
    result = _materialize(settings, champion)
    stored = Warehouse(settings.warehouse_path).query(
        "select * from walk_forward_predictions order by candidate, date, symbol"
    )
    assert list(stored.columns) == WALK_FORWARD_COLUMNS
    assert set(stored["candidate"]) == {"lightgbm", "best_single_feature", "ridge"}
    assert len(stored) == 3 * 60 * 8  # 60 out-of-sample dates of 8 symbols, 3 candidates
    assert (stored["model_version"] == champion.version).all()

    meta = result.metadata
    assert meta["blocks"] == 3 and meta["rows"] == len(stored)
    assert meta["first_oos_date"] == str(stored["date"].min().date())
    assert meta["hyperparameters_tuned_until"] == champion.test_start
    overall = {r.data["candidate"]: r.data for r in meta["rank_ic"].records}
    # the planted signal, the baselines and the oracle on the same rows
    assert set(overall) == {"lightgbm", "best_single_feature", "ridge", "oracle"}
    assert overall["lightgbm"]["rank_ic"] > 0.3
    assert overall["oracle"]["rank_ic"] > 0.3
    assert len(meta["rank_ic_by_block"].records) == 3
    # the fully out-of-sample part: the dates from the champion's test start
    test_period = {r.data["candidate"]: r.data for r in meta["rank_ic_test_period"].records}
    assert test_period["lightgbm"]["n_dates"] == 40 - 6  # the last six have no label


def test_a_rerun_replaces_the_rows_of_its_version(home) -> None:
    settings, champion = home
    warehouse = Warehouse(settings.warehouse_path)
    _materialize(settings, champion)
    first = warehouse.query("select * from walk_forward_predictions order by all")
    _materialize(settings, champion)
    second = warehouse.query("select * from walk_forward_predictions order by all")
    pd.testing.assert_frame_equal(first, second)


def test_the_same_inputs_reuse_the_stored_rows(home, monkeypatch) -> None:
    settings, champion = home
    with dg.DagsterInstance.ephemeral() as instance:
        context = dg.build_asset_context(instance=instance)
        first = walk_forward_predictions(
            context,
            config=WalkForwardSettings(step=20, min_train_dates=100),
            settings=settings,
            champion_model=champion,
        )
        instance.report_runless_asset_event(
            dg.AssetMaterialization("walk_forward_predictions", metadata=first.metadata)
        )

        def refit(*_args, **_kwargs):
            raise AssertionError("the blocks were refitted although nothing changed")

        monkeypatch.setattr("ml.walk_forward.walk_forward_predictions", refit)
        again = walk_forward_predictions(
            dg.build_asset_context(instance=instance),
            config=WalkForwardSettings(step=20, min_train_dates=100),
            settings=settings,
            champion_model=champion,
        )
        assert again.metadata["fingerprint"] == first.metadata["fingerprint"]
        assert again.metadata["rows"] == first.metadata["rows"]
        # other settings are other predictions: refitted (here: refused by the stub)
        with pytest.raises(AssertionError, match="refitted"):
            walk_forward_predictions(
                dg.build_asset_context(instance=instance),
                config=WalkForwardSettings(step=30, min_train_dates=100),
                settings=settings,
                champion_model=champion,
            )
