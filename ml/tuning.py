"""Optuna hyperparameter search for the LightGBM ranker, resumable and reproducible.

The objective is what the strategy trades on: the mean daily Spearman IC of the model's
predictions on the validation dates (``ml.metrics.daily_ic``), not the l2 loss the
booster minimises. The test dates are never seen here.

Reproducibility and resumability are designed together:

- Each trial gets a fresh ``TPESampler`` seeded from ``(seed, completed trials so far)``. A single
  seeded sampler would replay its random stream from the start after a restart, so a
  study interrupted after k trials would re-propose trial 0's parameters as trial k.
  Seeding per completed trial makes the k-th completed trial's parameters depend only
  on the seed and the trials completed before it, so an interrupted-and-resumed study
  ends exactly where an uninterrupted one does, even when the interruption killed a
  trial midway (it is marked FAIL on resume, :mod:`ml.trial_recovery`).
- With an RDB ``storage`` the study is loaded if it exists and only the trials missing
  to reach ``n_trials`` completed trials are run; a second identical call runs nothing.
- The study stores a fingerprint of its inputs (data, features, target, seed); resuming
  it with different inputs raises instead of silently mixing trials of different
  problems under one name.

``optuna`` and ``lightgbm`` are imported inside the function (each costs over a second).
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ml.metrics import daily_ic
from ml.models import fit_lightgbm, predict
from ml.trial_recovery import claim_trial, fail_orphaned_trials

if TYPE_CHECKING:
    import optuna

__all__ = ["FIXED_LIGHTGBM_PARAMS", "SEARCH_SPACE_VERSION", "TuningResult", "tune_lightgbm"]

FIXED_LIGHTGBM_PARAMS: dict[str, Any] = {"objective": "regression", "bagging_freq": 1}
"""Parameters that are not searched but belong to every trial (and to ``best_params``)."""

SEARCH_SPACE_VERSION = "lightgbm-v1"
"""Part of the study fingerprint: bump it when the search space changes, so an old
study is not resumed with a different space."""


@dataclass
class TuningResult:
    """Outcome of a study.

    ``best_params`` are ready for ``ml.models.fit_lightgbm`` (searched values plus
    ``FIXED_LIGHTGBM_PARAMS``). ``n_trials`` and ``trial_values`` cover all completed
    trials of the study, including those of earlier (resumed) calls, in trial order.
    ``n_new_trials`` is how many trials this call ran; it is informational and not part
    of equality, so two calls on the same inputs compare equal.
    """

    best_params: dict
    best_value: float
    n_trials: int
    trial_values: list[float]
    study_name: str
    n_new_trials: int = field(default=0, compare=False)


def _suggest(trial: optuna.Trial, n_train_rows: int) -> dict[str, Any]:
    """The search space: small on purpose, the ranges where daily equity models live.

    ``min_data_in_leaf`` is capped by the training size so that small universes do not
    spend trials on trees that cannot split.
    """
    max_leaf_rows = max(10, min(400, n_train_rows // 20))
    return {
        "num_leaves": trial.suggest_int("num_leaves", 4, 64, log=True),
        "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.2, log=True),
        "n_estimators": trial.suggest_int("n_estimators", 50, 400, step=50),
        "min_data_in_leaf": trial.suggest_int("min_data_in_leaf", 5, max_leaf_rows, log=True),
        "feature_fraction": trial.suggest_float("feature_fraction", 0.5, 1.0),
        "bagging_fraction": trial.suggest_float("bagging_fraction", 0.5, 1.0),
        "lambda_l2": trial.suggest_float("lambda_l2", 1e-3, 10.0, log=True),
    }


def _frame_digest(frame: pd.DataFrame, columns: list[str]) -> str:
    hashed = pd.util.hash_pandas_object(frame[columns], index=False)
    return hashlib.sha256(hashed.to_numpy().tobytes()).hexdigest()


def _inputs_fingerprint(
    train: pd.DataFrame, valid: pd.DataFrame, features: list[str], target: str, seed: int
) -> str:
    columns = [c for c in ("symbol", "date") if c in train.columns] + [*features, target]
    payload = {
        "space": SEARCH_SPACE_VERSION,
        "features": list(features),
        "target": target,
        "seed": seed,
        "train": _frame_digest(train, columns),
        "valid": _frame_digest(valid, [c for c in columns if c in valid.columns]),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _trial_seed(seed: int, trial_number: int) -> int:
    return int(np.random.SeedSequence([seed, trial_number]).generate_state(1)[0])


def _without_password(storage: str | None) -> str:
    """The storage URL for messages: a database password never reaches a log."""
    from sqlalchemy.engine import make_url

    return "memory" if storage is None else make_url(storage).render_as_string(hide_password=True)


def _check_valid_scorable(valid: pd.DataFrame, target: str) -> None:
    if "date" not in valid.columns or target not in valid.columns:
        raise KeyError(f"valid needs 'date' and {target!r} columns")
    probe = valid[["date", target]].assign(_probe=valid[target])
    if daily_ic(probe, "_probe", target).empty:
        raise ValueError(
            f"valid has no date with >= 3 names and a non-constant {target!r}: "
            "the IC objective would be undefined for every trial"
        )


def tune_lightgbm(
    train: pd.DataFrame,
    valid: pd.DataFrame,
    features: list[str],
    target: str,
    *,
    n_trials: int = 20,
    seed: int = 7,
    storage: str | None = None,
    study_name: str = "alphadag-lightgbm",
    timeout: float | None = None,
    on_trial: Callable[[int, float, float], None] | None = None,
) -> TuningResult:
    """Maximise the mean daily rank IC on ``valid`` over LightGBM hyperparameters.

    Runs trials until the study holds ``n_trials`` completed trials (or ``timeout``
    seconds have passed, checked between trials). ``storage`` is an Optuna RDB URL such
    as ``sqlite:///path/optuna.db``; without it the study lives in memory and always
    runs ``n_trials`` trials. A trial whose predictions are constant on every
    validation date (no ranking information) scores 0.0 rather than failing.

    ``on_trial(completed, value, best)`` is called after each new trial, for progress logs.

    Identical inputs give an identical ``TuningResult``. Raises ``ValueError`` when the
    stored study was created for other inputs or another direction.
    """
    import optuna

    if n_trials < 1:
        raise ValueError(f"n_trials must be >= 1, got {n_trials}")
    _check_valid_scorable(valid, target)
    fingerprint = _inputs_fingerprint(train, valid, features, target, seed)
    n_train_rows = int(train[target].notna().sum())

    def objective(trial: optuna.Trial) -> float:
        claim_trial(trial)
        params = {**FIXED_LIGHTGBM_PARAMS, **_suggest(trial, n_train_rows)}
        model = fit_lightgbm(train, features, target, params, seed=seed)
        scored = valid[["date", target]].assign(prediction=predict(model, valid, features))
        ic = daily_ic(scored, "prediction", target, method="spearman")
        trial.set_user_attr("n_dates", len(ic))
        value = float(ic.mean()) if len(ic) else float("nan")
        return value if math.isfinite(value) else 0.0

    previous_verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        study = optuna.create_study(
            storage=storage,
            study_name=study_name,
            sampler=optuna.samplers.TPESampler(seed=seed),
            direction="maximize",
            load_if_exists=True,
        )
        if study.direction != optuna.study.StudyDirection.MAXIMIZE:
            raise ValueError(f"study {study_name!r} exists with direction {study.direction.name}")
        stored = study.user_attrs.get("inputs_fingerprint")
        if stored is None:
            study.set_user_attr("inputs_fingerprint", fingerprint)
        elif stored != fingerprint:
            raise ValueError(
                f"study {study_name!r} in {_without_password(storage)} was run on other "
                "inputs (data, features, target or seed); use another study_name or delete "
                "the study"
            )

        fail_orphaned_trials(study)
        deadline = None if timeout is None else time.monotonic() + timeout
        complete = (optuna.trial.TrialState.COMPLETE,)
        n_new = 0
        while len(study.get_trials(deepcopy=False, states=complete)) < n_trials:
            if deadline is not None and time.monotonic() >= deadline:
                break
            study.sampler = optuna.samplers.TPESampler(
                seed=_trial_seed(seed, len(study.get_trials(deepcopy=False, states=complete)))
            )
            study.optimize(objective, n_trials=1)
            n_new += 1
            if on_trial is not None:
                done = study.get_trials(deepcopy=False, states=complete)
                if done:
                    on_trial(len(done), float(done[-1].value), float(study.best_value))

        trials = sorted(study.get_trials(deepcopy=False, states=complete), key=lambda t: t.number)
    finally:
        optuna.logging.set_verbosity(previous_verbosity)

    if not trials:
        raise RuntimeError(f"study {study_name!r} has no completed trial (timeout={timeout})")
    values = [float(t.value) for t in trials if t.value is not None]
    best = max(trials, key=lambda t: (float(t.value), -t.number))  # earliest among ties
    return TuningResult(
        best_params={**FIXED_LIGHTGBM_PARAMS, **best.params},
        best_value=float(best.value),
        n_trials=len(trials),
        trial_values=values,
        study_name=study_name,
        n_new_trials=n_new,
    )
