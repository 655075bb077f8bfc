"""The retraining sensor on a real Dagster instance, a real MLflow registry and a real
training set: quiet when the champion is current, firing with its reasons otherwise."""

from __future__ import annotations

import json

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from assets.models import MODEL_NAME
from ml.models import fit_lightgbm
from ml.zoo import RankEnsemble
from orchestration.retrain import (
    REASONS_TAG,
    RetrainThresholds,
    build_retrain_job,
    build_retrain_sensor,
)
from orchestration.settings import Settings

FEATURES = ["f1", "f2", "f3"]


def _training_set(dates: pd.DatetimeIndex, drift_after: pd.Timestamp | None = None) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {"symbol": np.tile([f"S{i}" for i in range(20)], len(dates)), "date": dates.repeat(20)}
    )
    for name in FEATURES:
        frame[name] = rng.normal(size=len(frame))
    if drift_after is not None:
        frame.loc[frame["date"] > drift_after, "f2"] += 3.0
    frame["fwd_ret_5d"] = 0.01 * frame["f1"] + rng.normal(0, 0.01, len(frame))
    frame["fwd_ret_5d_rank"] = frame.groupby("date")["fwd_ret_5d"].rank(pct=True)
    return frame


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory):
    from ml.tracking import configure_mlflow, log_and_register

    settings = Settings.from_env({"ALPHADAG_HOME": str(tmp_path_factory.mktemp("home"))})
    dates = pd.bdate_range("2022-01-03", periods=200)
    frame = _training_set(dates)
    configure_mlflow(settings.mlflow_tracking_uri, settings.mlflow_dir / "artifacts")
    train = frame[frame["date"] < dates[150]]
    model = RankEnsemble(
        {"lightgbm": fit_lightgbm(train, FEATURES, "fwd_ret_5d_rank", {"n_estimators": 30})},
        FEATURES,
    )
    log_and_register(
        model,
        model_name=MODEL_NAME,
        fingerprint="fp",
        params={},
        metrics={},
        tags={
            "target": "fwd_ret_5d_rank",
            "features": json.dumps(FEATURES),
            "test_start": str(dates[150].date()),
            "test_end": str(dates[-1].date()),
            "n_trials": "1",
            "candidate": "lightgbm",
        },
        input_example=frame[FEATURES].head(3),
    )
    return settings, dates


def _evaluate(settings: Settings, frame: pd.DataFrame, cursor: str | None = None):
    settings.training_set_path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(settings.training_set_path)
    sensor = build_retrain_sensor(
        settings, build_retrain_job(), RetrainThresholds(min_new_dates=10)
    )
    with dg.DagsterInstance.ephemeral() as instance:
        context = dg.build_sensor_context(instance=instance, cursor=cursor)
        return sensor(context)


def test_quiet_when_the_champion_is_current(home) -> None:
    settings, dates = home
    result = _evaluate(settings, _training_set(dates))
    assert not result.run_requests
    assert "is current" in result.skip_reason.skip_message
    cursor = json.loads(result.cursor)
    assert cursor["champion"] == "1" and cursor["reasons"] == [] and cursor["new_dates"] == 0
    assert cursor["live_rank_ic"] > 0.2


def test_fires_on_drift_and_new_dates_with_its_reasons(home) -> None:
    settings, dates = home
    longer = pd.bdate_range(dates[0], periods=len(dates) + 15)
    result = _evaluate(settings, _training_set(longer, drift_after=dates[-1]))
    (request,) = result.run_requests
    reasons = request.tags[REASONS_TAG]
    assert "feature drift" in reasons and "on f2" in reasons
    assert "15 new dates" in reasons
    assert request.run_key == f"retrain-v1-{longer[-1].date()}"
    assert json.loads(result.cursor)["max_psi_feature"] == "f2"


def test_fires_when_live_skill_decays(home) -> None:
    settings, dates = home
    frame = _training_set(dates)
    later = frame["date"] >= dates[150]
    frame.loc[later, "fwd_ret_5d"] = -frame.loc[later, "fwd_ret_5d"]
    (request,) = _evaluate(settings, frame).run_requests
    assert "live rank IC" in request.tags[REASONS_TAG]


def test_skips_without_a_training_set(tmp_path) -> None:
    settings = Settings.from_env({"ALPHADAG_HOME": str(tmp_path)})
    sensor = build_retrain_sensor(settings, build_retrain_job())
    with dg.DagsterInstance.ephemeral() as instance:
        result = sensor(dg.build_sensor_context(instance=instance))
    assert "no training set" in result.skip_reason.skip_message
