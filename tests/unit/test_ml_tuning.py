"""Model fits (LightGBM, XGBoost) and the fold-scored Optuna studies, on small synthetic data."""

from __future__ import annotations

import socket

import numpy as np
import optuna
import pandas as pd
import pytest

from ml.metrics import daily_ic, hac_t_stat
from ml.models import FEATURE_DTYPE, fit_lightgbm, fit_model, fit_xgboost, predict
from ml.splits import label_end_dates, walk_forward_folds
from ml.tuning import (
    SEARCH_SPACES,
    Param,
    TuningProblem,
    TuningResult,
    effective_space,
    study_fingerprint,
    tune,
)
from ml.tuning import mean_rank_ic as fold_mean_rank_ic

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
def problem() -> TuningProblem:
    frame = make_panel(60, 20, seed=5)
    # a within-date rank target, as the pipeline trains on (the spaces' L1/L2 fit its scale)
    frame[TARGET] = frame.groupby("date")[TARGET].rank(pct=True)
    ends = label_end_dates(frame, horizon=1)
    folds = walk_forward_folds(frame["date"], ends, n_folds=2, valid_size=12)
    return TuningProblem.from_frame(frame, folds, FEATURES, TARGET)


def _n_trials_in(storage: str, study_name: str) -> int:
    return len(optuna.load_study(study_name=study_name, storage=storage).trials)


@pytest.mark.parametrize("family", ["lightgbm", "xgboost"])
def test_tune_scores_folds_records_attrs_and_resumes(tmp_path, problem, family) -> None:
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    lines: list[str] = []
    first = tune(
        problem,
        family,
        n_trials=3,
        seed=11,
        storage=storage,
        threads=1,
        horizon=1,
        on_trial=lines.append,
    )
    assert isinstance(first, TuningResult)
    assert first.n_trials == 3 and first.n_new_trials == 3 and len(lines) == 3
    assert "elapsed" in lines[-1] and f"{family} trial 3/3" in lines[-1]
    assert first.best_value == max(first.trial_values) and first.best_value > 0.1
    assert len(first.best_fold_values) == 2
    assert first.best_value == pytest.approx(np.mean(first.best_fold_values))
    assert np.isfinite(first.best_hac_t)
    assert set(SEARCH_SPACES[family]) <= set(first.best_params)
    study = optuna.load_study(study_name=first.study_name, storage=storage)
    (trial0,) = [t for t in study.trials if t.number == 0]
    # the first trial is the heavily regularised one (leaf size clipped to the data)
    leaf = "min_data_in_leaf" if family == "lightgbm" else "min_child_weight"
    assert trial0.params[leaf] == pytest.approx(
        effective_space(family, problem.min_train_rows)[leaf].high, abs=1
    )
    assert {"fold_rank_ic", "hac_t", "best_rounds", "seconds"} <= set(trial0.user_attrs)
    assert len(trial0.intermediate_values) == 2  # one report per fold

    second = tune(problem, family, n_trials=3, seed=11, storage=storage, threads=1, horizon=1)
    assert second.n_new_trials == 0 and _n_trials_in(storage, first.study_name) == 3
    assert second == first
    # the fold predictions of the best trial score what the trial recorded
    for fold, prediction, value in zip(
        problem.folds, second.best_fold_predictions, first.best_fold_values, strict=True
    ):
        assert fold_mean_rank_ic(prediction, fold)[0] == pytest.approx(value)

    # best params plug into a plain fit
    frame = make_panel(30, 20, seed=9)
    model = fit_model(family, frame, FEATURES, TARGET, first.best_params)
    assert predict(model, frame, FEATURES).shape == (len(frame),)


def test_fingerprint_covers_data_seed_and_search_space(tmp_path, problem, monkeypatch) -> None:
    base = study_fingerprint(problem, "lightgbm", 7)
    assert base == study_fingerprint(problem, "lightgbm", 7)
    assert base != study_fingerprint(problem, "lightgbm", 8)
    assert base != study_fingerprint(problem, "xgboost", 7)
    smaller = TuningProblem(problem.folds[:1], problem.features, problem.target)
    assert base != study_fingerprint(smaller, "lightgbm", 7)
    wider = dict(SEARCH_SPACES["lightgbm"], lambda_l2=Param("float", 0.01, 1e5, log=True))
    monkeypatch.setitem(SEARCH_SPACES, "lightgbm", wider)
    assert base != study_fingerprint(problem, "lightgbm", 7)

    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    tune(problem, "lightgbm", n_trials=1, storage=storage, study_name="s", threads=1)
    with pytest.raises(ValueError, match="other inputs"):
        tune(smaller, "lightgbm", n_trials=1, storage=storage, study_name="s", threads=1)


def test_two_workers_share_one_study(tmp_path, problem) -> None:
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    result = tune(problem, "lightgbm", n_trials=4, storage=storage, threads=1, n_workers=2)
    numbers = optuna.load_study(study_name=result.study_name, storage=storage).trials
    # both processes ran trials of the one study, which stopped near its target
    assert 4 <= len(numbers) <= 5 and result.n_trials == len(numbers)
    with pytest.raises(ValueError, match="RDB storage"):
        tune(problem, "lightgbm", n_trials=2, n_workers=2)


def test_tune_keeps_optuna_quiet_and_restores_verbosity(problem, caplog) -> None:
    optuna.logging.set_verbosity(optuna.logging.INFO)
    try:
        with caplog.at_level("INFO", logger="optuna"):
            tune(problem, "lightgbm", n_trials=1, threads=1)
        assert optuna.logging.get_verbosity() == optuna.logging.INFO
    finally:
        optuna.logging.set_verbosity(optuna.logging.WARNING)
    assert not [r for r in caplog.records if "Trial" in r.getMessage()]


def test_hac_t_shrinks_for_autocorrelated_series() -> None:
    rng = np.random.default_rng(0)
    noise = rng.normal(0.02, 0.1, 2000)
    overlapping = np.convolve(noise, np.ones(5) / 5, mode="valid")  # 5-day overlap
    plain = overlapping.mean() / (overlapping.std(ddof=1) / np.sqrt(len(overlapping)))
    assert hac_t_stat(overlapping, lags=5) < 0.6 * plain
    iid_plain = noise.mean() / (noise.std(ddof=1) / np.sqrt(len(noise)))
    assert hac_t_stat(noise, lags=0) == pytest.approx(iid_plain, rel=0.01)


def test_a_study_resumed_after_a_killed_trial_ends_as_an_uninterrupted_one(
    tmp_path, problem
) -> None:
    clean = f"sqlite:///{tmp_path / 'clean.db'}"
    tune(problem, "lightgbm", n_trials=5, seed=3, storage=clean, study_name="s", threads=1)

    cut = f"sqlite:///{tmp_path / 'cut.db'}"
    tune(problem, "lightgbm", n_trials=2, seed=3, storage=cut, study_name="s", threads=1)
    # what a process killed in its third trial leaves: a RUNNING trial nobody owns
    study = optuna.load_study(study_name="s", storage=cut)
    orphan = study.ask()
    orphan.set_user_attr("owner_process", f"{socket.gethostname()}:999999999:0.000")
    resumed = tune(problem, "lightgbm", n_trials=5, seed=3, storage=cut, study_name="s", threads=1)

    def finished_params(storage: str) -> list[dict]:
        trials = optuna.load_study(study_name="s", storage=storage).trials
        return [t.params for t in trials if t.state != optuna.trial.TrialState.FAIL]

    assert finished_params(cut) == finished_params(clean)
    states = [t.state for t in optuna.load_study(study_name="s", storage=cut).trials]
    assert states.count(optuna.trial.TrialState.FAIL) == 1
    assert resumed.n_trials == 5
