"""Deterministic gradient-boosting fits (LightGBM, XGBoost) on long training frames.

Two properties matter more here than squeezing out accuracy:

- Reproducibility: the same frame, parameters and seed give bit-identical models, so a
  re-materialized asset reproduces its predictions and the MLflow fingerprint reuse is
  honest. LightGBM needs ``deterministic=True``, ``force_row_wise=True`` and a fixed
  thread count for that; XGBoost needs a fixed ``nthread`` and seed.
- No label leakage: labels look forward and must never be features, so a fit refuses
  the target or any ``fwd_*`` column among its features.

Features are cast to ``FEATURE_DTYPE`` (float32) as LightGBM/XGBoost bin them in single
precision anyway; doing it once here keeps training and serving identical. Missing
feature values stay NaN (both libraries route them through the trees); rows with a
missing target are dropped.

``lightgbm`` and ``xgboost`` each take over a second to import, so they are imported
inside the functions.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    import lightgbm
    import xgboost

__all__ = [
    "DEFAULT_EARLY_STOPPING_ROUNDS",
    "DEFAULT_N_ESTIMATORS",
    "FEATURE_DTYPE",
    "LABEL_PREFIX",
    "MODEL_FAMILIES",
    "THREAD_PARAMS",
    "check_features",
    "feature_rows",
    "fit_lightgbm",
    "fit_model",
    "fit_xgboost",
    "predict",
]

FEATURE_DTYPE = "float32"
LABEL_PREFIX = "fwd_"
"""Columns starting with this prefix are forward-looking labels, never features."""
SCORING_ROWS = 65_536
"""Rows scored at a time: the float32 copy a booster is given stays small."""
DEFAULT_N_ESTIMATORS = 200
DEFAULT_EARLY_STOPPING_ROUNDS = 50

# Keys that control the boosting loop rather than the booster; they are removed from
# the params passed to the library (LightGBM would warn about aliases otherwise).
_ROUND_KEYS = ("n_estimators", "num_boost_round", "num_iterations", "num_rounds")


def check_features(features: list[str], target: str, frame: pd.DataFrame) -> None:
    """Refuse labels among the features (look-ahead) and columns the frame lacks."""
    if not features:
        raise ValueError("features is empty")
    leaks = [f for f in features if f == target or f.startswith(LABEL_PREFIX)]
    if leaks:
        raise ValueError(f"labels cannot be features (look-ahead): {leaks}")
    missing = [c for c in [*features, target] if c not in frame.columns]
    if missing:
        raise KeyError(f"columns {missing} not in frame")


def _xy(frame: pd.DataFrame, features: list[str], target: str) -> tuple[pd.DataFrame, np.ndarray]:
    """Feature matrix (float32, NaN kept) and target (float64) of rows with a target."""
    rows = frame[target].notna().to_numpy()
    x = frame.loc[rows, features].astype(FEATURE_DTYPE, copy=False)
    y = frame.loc[rows, target].to_numpy(dtype="float64")
    return x, y


def _split_rounds(params: dict[str, Any]) -> tuple[dict[str, Any], int, int]:
    """Booster params without loop controls, plus (num_boost_round, early_stopping)."""
    booster_params = dict(params)
    rounds = DEFAULT_N_ESTIMATORS
    for key in _ROUND_KEYS:
        if key in booster_params:
            rounds = int(booster_params.pop(key))
    stopping = int(booster_params.pop("early_stopping_rounds", DEFAULT_EARLY_STOPPING_ROUNDS))
    if rounds < 1:
        raise ValueError(f"n_estimators must be >= 1, got {rounds}")
    return booster_params, rounds, stopping


def _training_data(
    train: pd.DataFrame, valid: pd.DataFrame | None, features: list[str], target: str
) -> tuple[pd.DataFrame, np.ndarray, tuple[pd.DataFrame, np.ndarray] | None]:
    """Feature matrix and target of the training rows, and of the validation rows if any."""
    check_features(features, target, train)
    x, y = _xy(train, features, target)
    if len(y) == 0:
        raise ValueError(f"no training rows with a non-missing {target!r}")
    if valid is None:
        return x, y, None
    check_features(features, target, valid)
    vx, vy = _xy(valid, features, target)
    return x, y, ((vx, vy) if len(vy) else None)


def fit_lightgbm(
    train: pd.DataFrame,
    features: list[str],
    target: str,
    params: dict[str, Any],
    seed: int = 7,
    valid: pd.DataFrame | None = None,
) -> lightgbm.Booster:
    """Train a LightGBM regressor deterministically.

    ``params`` are LightGBM parameters plus ``n_estimators`` (boosting rounds, default
    ``DEFAULT_N_ESTIMATORS``) and optional ``early_stopping_rounds``. When ``valid`` is
    given (and has targets), training stops once the validation l2 has not improved for
    ``early_stopping_rounds`` rounds and the returned booster predicts with its best
    iteration (also when saved). The determinism settings (seed, deterministic,
    force_row_wise, verbose) override ``params``; ``num_threads`` defaults to 1.
    """
    import lightgbm as lgb

    x, y, validation = _training_data(train, valid, features, target)
    booster_params, rounds, stopping = _split_rounds(params)
    booster_params.setdefault("objective", "regression")
    booster_params.setdefault("num_threads", 1)
    booster_params.update(seed=seed, deterministic=True, force_row_wise=True, verbose=-1)
    dtrain = lgb.Dataset(x, label=y, feature_name=list(features), free_raw_data=True)

    valid_sets: list[lgb.Dataset] = []
    callbacks: list[Callable[..., Any]] = []
    if validation is not None:
        vx, vy = validation
        valid_sets.append(lgb.Dataset(vx, label=vy, reference=dtrain))
        callbacks.append(
            lgb.early_stopping(stopping_rounds=stopping, first_metric_only=True, verbose=False)
        )
    return lgb.train(
        booster_params,
        dtrain,
        num_boost_round=rounds,
        valid_sets=valid_sets or None,
        valid_names=["valid"] if valid_sets else None,
        callbacks=callbacks or None,
    )


def fit_xgboost(
    train: pd.DataFrame,
    features: list[str],
    target: str,
    params: dict[str, Any],
    seed: int = 7,
    valid: pd.DataFrame | None = None,
) -> xgboost.Booster:
    """Train an XGBoost regressor deterministically; same contract as ``fit_lightgbm``.

    With early stopping, ``xgboost.train`` returns the model of the *last* round; the
    booster is sliced to its best iteration here so that predicting and saving behave
    like LightGBM's (the returned model is the best one, nothing else to remember).
    """
    import xgboost as xgb

    x, y, validation = _training_data(train, valid, features, target)
    booster_params, rounds, stopping = _split_rounds(params)
    booster_params.setdefault("objective", "reg:squarederror")
    booster_params.setdefault("tree_method", "hist")
    booster_params.setdefault("nthread", 1)
    booster_params.update(seed=seed, verbosity=0)
    dtrain = xgb.DMatrix(x, label=y, feature_names=list(features), missing=np.nan)

    evals: list[tuple[xgb.DMatrix, str]] = []
    if validation is not None:
        vx, vy = validation
        evals.append((xgb.DMatrix(vx, label=vy, feature_names=list(features)), "valid"))
    booster = xgb.train(
        booster_params,
        dtrain,
        num_boost_round=rounds,
        evals=evals,
        early_stopping_rounds=stopping if evals else None,
        verbose_eval=False,
    )
    if evals:
        booster = booster[: booster.best_iteration + 1]
    return booster


THREAD_PARAMS = {"lightgbm": "num_threads", "xgboost": "nthread"}
"""The parameter that sets a family's thread count (fixed, for reproducible fits)."""

MODEL_FAMILIES: dict[str, Callable[..., Any]] = {
    "lightgbm": fit_lightgbm,
    "xgboost": fit_xgboost,
}


def fit_model(
    family: str,
    train: pd.DataFrame,
    features: list[str],
    target: str,
    params: dict[str, Any],
    seed: int = 7,
    valid: pd.DataFrame | None = None,
) -> Any:
    """Dispatch to ``fit_<family>`` so the model family can be a configuration value."""
    try:
        fit = MODEL_FAMILIES[family]
    except KeyError:
        raise ValueError(
            f"unknown model family {family!r}; known: {sorted(MODEL_FAMILIES)}"
        ) from None
    return fit(train, features, target, params, seed=seed, valid=valid)


def feature_rows(frame: pd.DataFrame, features: list[str], rows: np.ndarray | slice) -> np.ndarray:
    """``frame[features]`` at positions ``rows`` as a C-ordered ``FEATURE_DTYPE`` matrix,
    filled column by column: ``frame[features]`` would first copy every row."""
    first = frame[features[0]].to_numpy()[rows] if features else np.empty(0)
    out = np.empty((len(first), len(features)), dtype=FEATURE_DTYPE)
    for j, name in enumerate(features):
        out[:, j] = frame[name].to_numpy()[rows]
    return out


def predict(model: Any, frame: pd.DataFrame, features: list[str]) -> np.ndarray:
    """Predictions (float64, one per row of ``frame``) of a booster from this module.

    Works for LightGBM and XGBoost boosters (detected by their module, so neither
    library is imported here unless it is the model's) and for any object with a
    ``predict(DataFrame)`` method. Features go through the same float32 cast as in
    training, ``SCORING_ROWS`` rows at a time (a row's prediction does not depend on the
    others); rows with missing features get a prediction too.
    """
    missing = [c for c in features if c not in frame.columns]
    if missing:
        raise KeyError(f"columns {missing} not in frame")
    out = np.empty(len(frame), dtype="float64")
    for start in range(0, len(frame), SCORING_ROWS):
        rows = slice(start, min(start + SCORING_ROWS, len(frame)))
        x = pd.DataFrame(feature_rows(frame, features, rows), columns=list(features), copy=False)
        if type(model).__module__.startswith("xgboost"):
            import xgboost as xgb

            scored = model.predict(xgb.DMatrix(x, feature_names=list(features), missing=np.nan))
        else:
            scored = model.predict(x)
        out[rows] = np.asarray(scored, dtype="float64").reshape(len(x))
    return out
