"""Model fits (LightGBM, XGBoost) and the resumable Optuna study, on small synthetic data."""

from __future__ import annotations

import socket
import subprocess
import sys

import numpy as np
import optuna
import pandas as pd
import psutil
import pytest

from ml.metrics import daily_ic
from ml.models import FEATURE_DTYPE, fit_lightgbm, fit_model, fit_xgboost, predict
from ml.trial_recovery import OWNER_ATTR, claim_trial, fail_orphaned_trials
from ml.tuning import TuningResult, tune_lightgbm

FEATURES = ["f_signal", "f_noise_1", "f_noise_2", "f_noise_3"]
TARGET = "fwd_ret_1d"


def make_panel(
    n_dates: int, n_names: int, seed: int = 0, start: str = "2020-01-01"
) -> pd.DataFrame:
    """A long frame whose label is a nonlinear function of ``f_signal`` plus noise."""
    rng = np.random.default_rng(seed)
    n = n_dates * n_names
    frame = pd.DataFrame(
        {
            "symbol": np.tile([f"S{i:02d}" for i in range(n_names)], n_dates),
            "date": pd.bdate_range(start, periods=n_dates).repeat(n_names),
        }
    )
    for name in FEATURES:
        frame[name] = rng.normal(size=n)
    frame[TARGET] = 0.01 * np.tanh(frame["f_signal"]) + rng.normal(0.0, 0.01, n)
    frame["fwd_ret_5d"] = frame[TARGET] * 3  # a second label that must never be a feature
    frame.loc[frame.sample(frac=0.05, random_state=seed).index, "f_noise_1"] = np.nan
    frame.loc[frame.sample(frac=0.02, random_state=seed + 1).index, TARGET] = np.nan
    return frame


def mean_rank_ic(model: object, frame: pd.DataFrame) -> float:
    scored = frame[["date", TARGET]].assign(prediction=predict(model, frame, FEATURES))
    return float(daily_ic(scored, label_col=TARGET, method="spearman").mean())


@pytest.fixture(scope="module")
def panel() -> tuple[pd.DataFrame, pd.DataFrame]:
    return make_panel(80, 25, seed=1), make_panel(40, 25, seed=2, start="2020-06-01")


PARAMS = {"num_leaves": 15, "learning_rate": 0.05, "n_estimators": 100, "min_data_in_leaf": 20}


def test_lightgbm_fit_is_deterministic(panel: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    train, test = panel
    params = {**PARAMS, "feature_fraction": 0.7, "bagging_fraction": 0.7, "bagging_freq": 1}
    first = predict(fit_lightgbm(train, FEATURES, TARGET, params, seed=3), test, FEATURES)
    second = predict(fit_lightgbm(train, FEATURES, TARGET, params, seed=3), test, FEATURES)
    assert first.dtype == np.float64 and first.shape == (len(test),)
    assert np.array_equal(first, second)
    other_seed = predict(fit_lightgbm(train, FEATURES, TARGET, params, seed=4), test, FEATURES)
    assert not np.array_equal(first, other_seed)  # the seed is really used by bagging


def test_lightgbm_learns_planted_signal(panel: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    train, test = panel
    model = fit_lightgbm(train, FEATURES, TARGET, PARAMS)
    assert mean_rank_ic(model, test) > 0.2
    assert model.feature_name() == FEATURES
    gains = dict(zip(FEATURES, model.feature_importance("gain"), strict=True))
    assert max(gains, key=gains.__getitem__) == "f_signal"
    # Rows with missing features are predicted too (NaN routed by the trees).
    assert np.isfinite(predict(model, test, FEATURES)).all()


def test_lightgbm_early_stopping_on_valid(panel: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    train, valid = panel
    params = {**PARAMS, "learning_rate": 0.3, "n_estimators": 400, "early_stopping_rounds": 10}
    model = fit_lightgbm(train, FEATURES, TARGET, params, valid=valid)
    assert 0 < model.best_iteration < 400
    assert np.array_equal(
        predict(model, valid, FEATURES),
        model.predict(valid[FEATURES].astype(FEATURE_DTYPE), num_iteration=model.best_iteration),
    )


def test_labels_are_refused_as_features(panel: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    train, _ = panel
    with pytest.raises(ValueError, match="look-ahead"):
        fit_lightgbm(train, [*FEATURES, "fwd_ret_5d"], TARGET, PARAMS)
    with pytest.raises(ValueError, match="look-ahead"):
        fit_xgboost(train, [*FEATURES, TARGET], TARGET, PARAMS)
    with pytest.raises(ValueError, match="no training rows"):
        fit_lightgbm(train.assign(**{TARGET: np.nan}), FEATURES, TARGET, PARAMS)


def test_xgboost_deterministic_learns_and_trims_to_best_iteration(
    panel: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    train, test = panel
    params = {"max_depth": 3, "eta": 0.05, "n_estimators": 100, "subsample": 0.8}
    first = fit_model("xgboost", train, FEATURES, TARGET, params)
    second = fit_xgboost(train, FEATURES, TARGET, params)
    assert np.array_equal(predict(first, test, FEATURES), predict(second, test, FEATURES))
    assert mean_rank_ic(first, test) > 0.2

    fast = {**params, "eta": 0.5, "n_estimators": 300, "early_stopping_rounds": 5}
    stopped = fit_xgboost(train, FEATURES, TARGET, fast, valid=test)
    assert stopped.num_boosted_rounds() < 300
    with pytest.raises(ValueError, match="unknown model family"):
        fit_model("catboost", train, FEATURES, TARGET, params)


# --- tuning -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny() -> tuple[pd.DataFrame, pd.DataFrame]:
    return make_panel(24, 12, seed=5), make_panel(10, 12, seed=6, start="2020-03-02")


def _n_trials_in(storage: str, study_name: str) -> int:
    return len(optuna.load_study(study_name=study_name, storage=storage).trials)


def test_tune_resumes_from_sqlite_storage(tmp_path, tiny) -> None:
    train, valid = tiny
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    kwargs = {"n_trials": 3, "seed": 11, "storage": storage, "study_name": "t"}

    first = tune_lightgbm(train, valid, FEATURES, TARGET, **kwargs)
    assert isinstance(first, TuningResult)
    assert first.n_trials == 3 and first.n_new_trials == 3 and len(first.trial_values) == 3
    assert first.best_value == max(first.trial_values)
    assert first.study_name == "t"
    assert {"num_leaves", "learning_rate", "n_estimators", "objective"} <= set(first.best_params)
    assert _n_trials_in(storage, "t") == 3

    second = tune_lightgbm(train, valid, FEATURES, TARGET, **kwargs)
    assert second.n_new_trials == 0
    assert _n_trials_in(storage, "t") == 3
    assert second == first
    assert second.best_params == first.best_params

    # The best parameters plug straight into the fit.
    model = fit_lightgbm(train, FEATURES, TARGET, first.best_params, seed=11)
    assert mean_rank_ic(model, valid) == pytest.approx(first.best_value)


def test_interrupted_study_ends_like_an_uninterrupted_one(tmp_path, tiny) -> None:
    train, valid = tiny
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    partial = tune_lightgbm(train, valid, FEATURES, TARGET, n_trials=2, seed=3, storage=storage)
    resumed = tune_lightgbm(train, valid, FEATURES, TARGET, n_trials=3, seed=3, storage=storage)
    assert resumed.n_new_trials == 1
    assert resumed.trial_values[:2] == partial.trial_values
    in_memory = tune_lightgbm(train, valid, FEATURES, TARGET, n_trials=3, seed=3)
    assert in_memory == resumed
    assert len(set(map(str, [resumed.best_params, *resumed.trial_values]))) > 1


def test_trial_of_a_killed_process_is_failed_and_shifts_nothing(tmp_path, tiny) -> None:
    train, valid = tiny
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    tune_lightgbm(train, valid, FEATURES, TARGET, n_trials=2, seed=3, storage=storage)
    # A trial started by a process that then died (SIGKILL mid-trial): still RUNNING.
    dead = subprocess.Popen([sys.executable, "-c", "input()"], stdin=subprocess.PIPE)
    dead_owner = f"{socket.gethostname()}:{dead.pid}:{psutil.Process(dead.pid).create_time():.3f}"
    dead.kill()
    dead.wait()
    (study_name,) = optuna.get_all_study_names(storage)
    study = optuna.load_study(study_name=study_name, storage=storage)
    stale = study.ask()
    stale.set_user_attr(OWNER_ATTR, dead_owner)
    # A trial owned by a living process (this one) is not touched.
    live = study.ask()
    claim_trial(live)

    assert fail_orphaned_trials(study) == [stale.number]
    states = {t.number: t.state for t in study.get_trials()}
    assert states[stale.number] == optuna.trial.TrialState.FAIL
    assert states[live.number] == optuna.trial.TrialState.RUNNING
    study.tell(live.number, state=optuna.trial.TrialState.FAIL)

    resumed = tune_lightgbm(train, valid, FEATURES, TARGET, n_trials=3, seed=3, storage=storage)
    assert resumed == tune_lightgbm(train, valid, FEATURES, TARGET, n_trials=3, seed=3)


def test_tune_refuses_a_study_of_other_inputs(tmp_path, tiny) -> None:
    train, valid = tiny
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    tune_lightgbm(train, valid, FEATURES, TARGET, n_trials=1, storage=storage)
    with pytest.raises(ValueError, match="other inputs"):
        tune_lightgbm(train, valid, FEATURES[:2], TARGET, n_trials=1, storage=storage)
    with pytest.raises(ValueError, match="IC objective would be undefined"):
        tune_lightgbm(train, valid.assign(**{TARGET: np.nan}), FEATURES, TARGET, n_trials=1)


def test_tune_keeps_optuna_quiet_and_restores_verbosity(tiny, caplog) -> None:
    train, valid = tiny
    optuna.logging.set_verbosity(optuna.logging.INFO)
    try:
        with caplog.at_level("INFO", logger="optuna"):
            tune_lightgbm(train, valid, FEATURES, TARGET, n_trials=1)
        assert optuna.logging.get_verbosity() == optuna.logging.INFO
    finally:
        optuna.logging.set_verbosity(optuna.logging.WARNING)
    assert not [r for r in caplog.records if "Trial" in r.getMessage()]


def test_progress_callback_sees_every_new_trial(tiny) -> None:
    train, valid = tiny
    seen: list[tuple[int, float, float]] = []
    tune_lightgbm(
        train, valid, FEATURES, TARGET, n_trials=2, on_trial=lambda *args: seen.append(args)
    )
    assert [done for done, _, _ in seen] == [1, 2]
    assert seen[-1][2] == max(value for _, value, _ in seen)
