"""Optuna studies for LightGBM and XGBoost, scored on purged walk-forward folds.

Why it looks like this:

- *Objective.* The mean, over the folds, of each fold's mean daily rank IC on its
  validation dates: what a cross-sectional strategy trades on, averaged over several
  periods so that a trial is not chosen on one block's noise (the standard error of a
  mean daily IC over 150 dates is about 0.016, as large as the differences between
  trials). Each trial records its per-fold values, the Newey-West t-statistic of its
  daily rank ICs over all folds (``hac_t``) and its best boosting rounds as user
  attributes. Each fold's running mean is reported, so the median pruner stops a trial
  that trails the others after its first folds.
- *Search spaces* (``SEARCH_SPACES``) reach heavy regularisation: the data are daily
  returns, noise with a faint signal, and what works there is shallow trees with large
  leaves and L2 in the hundreds. The first trial of every study is such a model
  (``FIRST_TRIALS``: depth 2, leaves of 2000 rows, L2 500, moderate L1, most features
  per tree, so that the features a planted interaction needs meet in one tree), so a
  study of a few trials starts from a sensible point and TPE explores around it.
- *Speed.* A trial fits one model per fold. Each fold's training and validation
  matrices are binned once per process (``lgb.Dataset`` / ``xgb.QuantileDMatrix``, 31
  bins) and reused by every trial; learning rates start at 0.05 and boosting stops
  after 20 rounds without a better validation loss (300 at most).
- *Storage and workers.* With an RDB ``storage`` (``ALPHADAG_OPTUNA_STORAGE``, any
  SQLAlchemy URL) the study resumes, and several processes may work on it at once
  (``n_workers``, or several hosts pointed at one PostgreSQL URL): trials are counted
  in the storage, and TPE's constant liar keeps parallel workers from proposing the
  same point. The model seed is the study's seed for every trial and the sampler of
  worker k is seeded with (seed, k): no seed depends on how many trials ran before.
- *Fingerprint.* The study stores a hash of the data, folds, features, target, seed
  and the search space; resuming it with other inputs raises, and the study name
  callers derive from the fingerprint changes with any of them.

``optuna``, ``lightgbm`` and ``xgboost`` are imported inside the functions.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import math
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from types import ModuleType
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import numpy as np
import pandas as pd

from ml.metrics import daily_ic, hac_t_stat
from ml.models import FEATURE_DTYPE, check_features
from ml.splits import Fold
from ml.trial_recovery import claim_trial, fail_orphaned_trials

if TYPE_CHECKING:
    import optuna

__all__ = [
    "FIRST_TRIALS",
    "FIXED_PARAMS",
    "SEARCH_SPACES",
    "FoldMatrices",
    "Param",
    "TuningProblem",
    "TuningResult",
    "effective_space",
    "mean_rank_ic",
    "study_fingerprint",
    "tune",
]

Family = Literal["lightgbm", "xgboost"]


class Param(NamedTuple):
    """One searched hyperparameter: ``kind`` is ``int`` or ``float``."""

    kind: str
    low: float
    high: float
    log: bool = False


SEARCH_SPACES: dict[str, dict[str, Param]] = {
    # Leaf sizes in the thousands, L1/L2 into the thousands and column sampling down to
    # 5% of the features: the regularised corner is where noisy daily returns are fitted
    # best; the unregularised one stays reachable.
    "lightgbm": {
        "learning_rate": Param("float", 0.05, 0.3, log=True),
        "num_leaves": Param("int", 4, 64, log=True),
        "max_depth": Param("int", 2, 8),
        "min_data_in_leaf": Param("int", 20, 4000, log=True),
        "lambda_l1": Param("float", 0.01, 1000.0, log=True),
        "lambda_l2": Param("float", 0.01, 3000.0, log=True),
        "feature_fraction": Param("float", 0.05, 1.0),
        "bagging_fraction": Param("float", 0.3, 1.0),
    },
    # Squared error has a unit hessian, so min_child_weight is a leaf's row count.
    "xgboost": {
        "eta": Param("float", 0.05, 0.3, log=True),
        "max_depth": Param("int", 2, 6),
        "min_child_weight": Param("float", 20.0, 4000.0, log=True),
        "alpha": Param("float", 0.01, 1000.0, log=True),
        "lambda": Param("float", 0.01, 3000.0, log=True),
        "colsample_bytree": Param("float", 0.05, 1.0),
        "subsample": Param("float", 0.3, 1.0),
    },
}
"""The documented search space of each family (part of the study fingerprint)."""

FIRST_TRIALS: dict[str, dict[str, float]] = {
    "lightgbm": {
        "learning_rate": 0.1,
        "num_leaves": 4,
        "max_depth": 2,
        "min_data_in_leaf": 2000,
        "lambda_l1": 20.0,
        "lambda_l2": 500.0,
        "feature_fraction": 0.8,
        "bagging_fraction": 0.5,
    },
    "xgboost": {
        "eta": 0.1,
        "max_depth": 2,
        "min_child_weight": 2000.0,
        "alpha": 20.0,
        "lambda": 500.0,
        "colsample_bytree": 0.8,
        "subsample": 0.5,
    },
}
"""The heavily regularised model every study tries first (clipped to the space)."""

FIXED_PARAMS: dict[str, dict[str, Any]] = {
    "lightgbm": {
        "objective": "regression",
        "bagging_freq": 1,
        "max_bin": 31,
        "n_estimators": 300,
        "early_stopping_rounds": 20,
    },
    "xgboost": {
        "objective": "reg:squarederror",
        "tree_method": "hist",
        "max_bin": 31,
        "n_estimators": 300,
        "early_stopping_rounds": 20,
    },
}
"""Not searched, part of every trial; ``n_estimators`` is a ceiling (early stopping)."""

_LEAF_SIZE_PARAMS = {"lightgbm": "min_data_in_leaf", "xgboost": "min_child_weight"}
# Trials whose running mean trails the median of earlier trials after the first fold
# are pruned, once a few trials have completed.
_PRUNER_STARTUP_TRIALS = 3
_TPE_STARTUP_TRIALS = 4
_DIGEST_ROWS = 65_536


@dataclass(frozen=True, eq=False)
class FoldMatrices:
    """One fold: positions of its training and validation rows in the problem's float32
    feature matrix ``x``, their float64 targets, the validation dates.

    Every fold shares ``x`` (pickled once with the problem): a fold's rows are copied
    only while they are binned, instead of three overlapping copies of the development
    rows held for the whole study.
    """

    x: np.ndarray
    train: np.ndarray
    valid: np.ndarray
    y_train: np.ndarray
    y_valid: np.ndarray
    valid_dates: np.ndarray

    @property
    def x_train(self) -> np.ndarray:
        return self.x[self.train]

    @property
    def x_valid(self) -> np.ndarray:
        return self.x[self.valid]


@dataclass(frozen=True, eq=False)
class TuningProblem:
    """What a study searches on: fold matrices, feature names and the target.

    Plain arrays, so it pickles to worker processes.
    """

    folds: tuple[FoldMatrices, ...]
    features: tuple[str, ...]
    target: str

    @classmethod
    def from_frame(
        cls, frame: pd.DataFrame, folds: list[Fold], features: list[str], target: str
    ) -> TuningProblem:
        check_features(features, target, frame)
        return cls.from_arrays(
            np.ascontiguousarray(frame[features].to_numpy(dtype=FEATURE_DTYPE)),
            frame[target].to_numpy(dtype="float64"),
            pd.to_datetime(frame["date"]).to_numpy(dtype="datetime64[ns]"),
            folds,
            features,
            target,
        )

    @classmethod
    def from_arrays(
        cls,
        x: np.ndarray,
        y: np.ndarray,
        dates: np.ndarray,
        folds: list[Fold],
        features: list[str],
        target: str,
    ) -> TuningProblem:
        """From the float32 feature matrix (rows as in ``folds``), targets and dates."""
        built = []
        for fold in folds:
            train = fold.train[np.isfinite(y[fold.train])]
            valid = fold.valid[np.isfinite(y[fold.valid])]
            built.append(FoldMatrices(x, train, valid, y[train], y[valid], dates[valid]))
        return cls(tuple(built), tuple(features), target)

    @property
    def min_train_rows(self) -> int:
        return min(len(f.y_train) for f in self.folds)

    def digest(self) -> str:
        h = hashlib.sha256()
        h.update(json.dumps([list(self.features), self.target]).encode())
        for fold in self.folds:
            # the bytes of x[train], then y_train, x[valid], y_valid, without a copy of
            # a whole fold's features
            for rows, y in ((fold.train, fold.y_train), (fold.valid, fold.y_valid)):
                for start in range(0, len(rows), _DIGEST_ROWS):
                    h.update(fold.x[rows[start : start + _DIGEST_ROWS]].tobytes())
                h.update(np.ascontiguousarray(y).tobytes())
            h.update(fold.valid_dates.astype("int64").tobytes())
        return h.hexdigest()


@dataclass
class TuningResult:
    """Outcome of a study: the best trial and every finished trial's value.

    ``best_params`` are ready for ``ml.models.fit_model`` (searched values plus the
    family's fixed parameters, with ``n_estimators`` set to the mean of the best
    trial's early-stopped rounds). ``n_new_trials`` is informational, not compared.
    """

    family: str
    best_params: dict[str, Any]
    best_value: float
    best_fold_values: list[float]
    best_fold_predictions: list[np.ndarray] = field(compare=False, repr=False)
    best_hac_t: float
    n_trials: int
    trial_values: list[float]
    study_name: str
    trials: pd.DataFrame = field(compare=False, repr=False)
    n_new_trials: int = field(default=0, compare=False)


def effective_space(family: Family, n_train_rows: int) -> dict[str, Param]:
    """The family's space, its leaf-size ceiling capped at a quarter of the smallest
    fold's training rows (a leaf larger than that cannot split)."""
    space = dict(SEARCH_SPACES[family])
    name = _LEAF_SIZE_PARAMS[family]
    low, high = space[name].low, space[name].high
    space[name] = space[name]._replace(high=max(low * 2, min(high, n_train_rows / 4)))
    return space


def _suggest(trial: optuna.Trial, space: dict[str, Param]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, p in space.items():
        if p.kind == "int":
            out[name] = trial.suggest_int(name, int(p.low), int(p.high), log=p.log)
        else:
            out[name] = trial.suggest_float(name, p.low, p.high, log=p.log)
    return out


def _clipped(params: dict[str, float], space: dict[str, Param]) -> dict[str, float]:
    return {
        name: (int if space[name].kind == "int" else float)(
            min(max(value, space[name].low), space[name].high)
        )
        for name, value in params.items()
    }


def study_fingerprint(problem: TuningProblem, family: Family, seed: int) -> str:
    space = effective_space(family, problem.min_train_rows)
    payload = {
        "family": family,
        "space": {k: list(v) for k, v in space.items()},
        "first_trial": _clipped(FIRST_TRIALS[family], space),
        "fixed": FIXED_PARAMS[family],
        "seed": seed,
        "data": problem.digest(),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def mean_rank_ic(prediction: np.ndarray, fold: FoldMatrices) -> tuple[float, pd.Series]:
    """Mean daily rank IC of predictions on a fold's validation rows (0 when undefined,
    e.g. a constant prediction), and the daily series."""
    scored = pd.DataFrame({"date": fold.valid_dates, "p": prediction, "y": fold.y_valid})
    ic = daily_ic(scored, "p", "y", method="spearman")
    value = float(ic.mean()) if len(ic) else 0.0
    return (value if math.isfinite(value) else 0.0), ic


class _FoldRunner:
    """Fits one family on every fold of a problem, binning each fold's data once."""

    def __init__(self, problem: TuningProblem, family: Family, seed: int, threads: int):
        self.problem, self.family, self.seed, self.threads = problem, family, seed, threads
        self._data: list[tuple[Any, Any]] | None = None
        # validation predictions of each finished trial of this process, by trial number
        self.predictions: dict[int, list[np.ndarray]] = {}

    def _datasets(self) -> list[tuple[Any, Any]]:
        if self._data is not None:
            return self._data
        names = list(self.problem.features)
        max_bin = FIXED_PARAMS[self.family]["max_bin"]
        data = []
        if self.family == "lightgbm":
            import lightgbm as lgb

            # feature_pre_filter off: every trial may use another min_data_in_leaf; the
            # binned data is all a trial needs, so the fold's float copy is dropped
            params = {"max_bin": max_bin, "feature_pre_filter": False, "verbose": -1}
            for fold in self.problem.folds:
                train = lgb.Dataset(
                    fold.x_train,
                    fold.y_train,
                    feature_name=names,
                    params=params,
                    free_raw_data=True,
                ).construct()
                valid = lgb.Dataset(fold.x_valid, fold.y_valid, reference=train).construct()
                data.append((train, valid))
        else:
            import xgboost as xgb

            for fold in self.problem.folds:
                train = xgb.QuantileDMatrix(
                    fold.x_train,
                    fold.y_train,
                    feature_names=names,
                    max_bin=max_bin,
                    nthread=self.threads,
                )
                valid = xgb.QuantileDMatrix(
                    fold.x_valid,
                    fold.y_valid,
                    feature_names=names,
                    ref=train,
                    max_bin=max_bin,
                    nthread=self.threads,
                )
                data.append((train, valid))
        self._data = data
        return data

    def fit_fold(self, index: int, searched: dict[str, Any]) -> tuple[np.ndarray, int]:
        """Validation predictions of fold ``index`` and the early-stopped round count."""
        train, valid = self._datasets()[index]
        params = {**FIXED_PARAMS[self.family], **searched}
        rounds = int(params.pop("n_estimators"))
        stopping = int(params.pop("early_stopping_rounds"))
        if self.family == "lightgbm":
            import lightgbm as lgb

            params.update(
                seed=self.seed,
                num_threads=self.threads,
                deterministic=True,
                force_row_wise=True,
                feature_pre_filter=False,
                verbose=-1,
            )
            booster = lgb.train(
                params,
                train,
                num_boost_round=rounds,
                valid_sets=[valid],
                callbacks=[lgb.early_stopping(stopping, first_metric_only=True, verbose=False)],
            )
            best = booster.best_iteration or rounds
            prediction = booster.predict(self.problem.folds[index].x_valid, num_iteration=best)
        else:
            import xgboost as xgb

            params.update(seed=self.seed, nthread=self.threads, verbosity=0)
            booster = xgb.train(
                params,
                train,
                num_boost_round=rounds,
                evals=[(valid, "valid")],
                early_stopping_rounds=stopping,
                verbose_eval=False,
            )
            best = booster.best_iteration + 1
            prediction = booster.predict(valid, iteration_range=(0, best))
        return np.asarray(prediction, dtype="float64"), int(best)


def _objective(
    runner: _FoldRunner, space: dict[str, Param], horizon: int
) -> Callable[[optuna.Trial], float]:
    import optuna

    def objective(trial: optuna.Trial) -> float:
        claim_trial(trial)
        started = time.perf_counter()
        searched = _suggest(trial, space)
        values, rounds, daily, predictions = [], [], [], []
        for index, fold in enumerate(runner.problem.folds):
            prediction, best = runner.fit_fold(index, searched)
            predictions.append(prediction)
            value, ic = mean_rank_ic(prediction, fold)
            values.append(value)
            rounds.append(best)
            daily.append(ic)
            trial.report(float(np.mean(values)), step=index)
            if index < len(runner.problem.folds) - 1 and trial.should_prune():
                trial.set_user_attr("fold_rank_ic", values)
                trial.set_user_attr("seconds", round(time.perf_counter() - started, 3))
                raise optuna.TrialPruned()
        trial.set_user_attr("fold_rank_ic", values)
        trial.set_user_attr("best_rounds", rounds)
        trial.set_user_attr("hac_t", hac_t_stat(pd.concat(daily), lags=horizon))
        trial.set_user_attr("seconds", round(time.perf_counter() - started, 3))
        runner.predictions[trial.number] = predictions
        return float(np.mean(values))

    return objective


def _finished(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    import optuna

    states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    return study.get_trials(deepcopy=False, states=states)


def _sampler(seed: int, worker: int, finished: int) -> optuna.samplers.TPESampler:
    """The sampler of a worker's next trial, seeded by how many trials the study has
    finished: a study resumed after a killed process (whose trial is then marked FAIL)
    proposes what an uninterrupted one would have, since TPE ignores failed trials."""
    import optuna

    return optuna.samplers.TPESampler(
        seed=int(np.random.SeedSequence([seed, worker, finished]).generate_state(1)[0]),
        n_startup_trials=_TPE_STARTUP_TRIALS,
        multivariate=True,
        constant_liar=True,
    )


def _open_study(
    storage: str | None, study_name: str, fingerprint: str, seed: int, worker: int
) -> optuna.Study:
    import optuna

    pruner = optuna.pruners.MedianPruner(n_startup_trials=_PRUNER_STARTUP_TRIALS, n_warmup_steps=1)
    previous = optuna.logging.get_verbosity()
    # Optuna announces each study it creates or loads at INFO; the caller logs progress
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        study = optuna.create_study(
            storage=storage,
            study_name=study_name,
            sampler=_sampler(seed, worker, finished=0),
            pruner=pruner,
            direction="maximize",
            load_if_exists=True,
        )
    finally:
        optuna.logging.set_verbosity(previous)
    if study.direction != optuna.study.StudyDirection.MAXIMIZE:
        raise ValueError(f"study {study_name!r} exists with direction {study.direction.name}")
    stored = study.user_attrs.get("inputs_fingerprint")
    if stored is None:
        study.set_user_attr("inputs_fingerprint", fingerprint)
    elif stored != fingerprint:
        raise ValueError(
            f"study {study_name!r} in {_shown(storage)} was run on other inputs (data, folds, "
            "features, target, seed or search space); use another study_name or delete it"
        )
    # a trial left RUNNING by a killed process would otherwise count and steer the sampler
    fail_orphaned_trials(study)
    return study


def _shown(storage: str | None) -> str:
    """The storage URL for messages, without its password."""
    from sqlalchemy.engine import make_url

    return make_url(storage).render_as_string(hide_password=True) if storage else "memory"


def _work(
    runner: _FoldRunner,
    *,
    n_trials: int,
    storage: str | None,
    study_name: str,
    fingerprint: str,
    horizon: int,
    worker: int,
    on_trial: Callable[[str], None] | None = None,
) -> optuna.Study:
    """One worker: run trials on the shared study until it holds ``n_trials`` finished."""
    import optuna

    family, problem = runner.family, runner.problem
    previous = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        study = _open_study(storage, study_name, fingerprint, runner.seed, worker)
        space = effective_space(family, problem.min_train_rows)
        waiting = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.WAITING,))
        if worker == 0 and not _finished(study) and not waiting:
            # also after a first trial that a killed process left failed
            study.enqueue_trial(_clipped(FIRST_TRIALS[family], space))
        started = time.perf_counter()

        def report(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
            if on_trial is None:
                return
            pruned = trial.state == optuna.trial.TrialState.PRUNED
            value = "pruned" if pruned or trial.value is None else f"{trial.value:.4f}"
            best = (
                study.best_value
                if any(t.value is not None for t in _finished(study))
                else float("nan")
            )
            on_trial(
                f"{family} trial {trial.number + 1}/{n_trials}: mean fold rank IC {value} "
                f"(best {best:.4f}), {trial.user_attrs.get('seconds', 0):.1f}s, "
                f"{time.perf_counter() - started:.0f}s elapsed"
            )

        objective = _objective(runner, space, horizon)
        # one trial at a time, each with a sampler seeded by the trials finished so far
        while (finished := len(_finished(study))) < n_trials:
            study.sampler = _sampler(runner.seed, worker, finished)
            study.optimize(objective, n_trials=1, callbacks=[report])
        return study
    finally:
        optuna.logging.set_verbosity(previous)


def _work_in_subprocess(kwargs: dict[str, Any]) -> int:
    problem, family, seed, threads = (
        kwargs.pop(k) for k in ("problem", "family", "seed", "threads")
    )
    study = _work(_FoldRunner(problem, family, seed, threads), **kwargs)
    return len(study.trials)


def import_off_stack(name: str) -> ModuleType:
    """Module ``name``, imported the first time on a thread of its own.

    Some libraries keep the ImportError of each optional extra they lack, traceback
    included, to raise it when the extra is used (optuna does, for redis among others).
    A traceback keeps every frame of the stack that ran the import alive, with its
    locals: optuna imported inside ``tune`` kept the frames of ``tune``, ``train_zoo``
    and the model_zoo step, with their training and test matrices (3.4 GiB at 3,000
    symbols), resident for the rest of the process. A new thread's stack holds nothing.
    """
    if name not in sys.modules:
        importer = threading.Thread(target=importlib.import_module, args=(name,))
        importer.start()
        importer.join()
    return importlib.import_module(name)


def tune(
    problem: TuningProblem,
    family: Family,
    *,
    n_trials: int = 12,
    seed: int = 7,
    storage: str | None = None,
    study_name: str | None = None,
    threads: int = 2,
    n_workers: int = 1,
    horizon: int = 5,
    on_trial: Callable[[str], None] | None = None,
) -> TuningResult:
    """Maximise the mean fold rank IC of ``family`` over its search space.

    Runs trials until the study holds ``n_trials`` finished (completed or pruned)
    trials; a second identical call runs none. ``n_workers > 1`` runs the trials in that
    many processes sharing ``storage`` (which must then be an RDB URL): this one and
    ``n_workers - 1`` spawned ones. ``horizon``
    (label days) sets the HAC lag of each trial's t-statistic. ``on_trial`` receives one
    progress line per trial of this process.
    """
    optuna = import_off_stack("optuna")

    if n_trials < 1:
        raise ValueError(f"n_trials must be >= 1, got {n_trials}")
    if n_workers > 1 and storage is None:
        raise ValueError("several workers need an RDB storage to share the study")
    fingerprint = study_fingerprint(problem, family, seed)
    study_name = study_name or f"alphadag-{family}-{fingerprint[:12]}"
    common = dict(
        n_trials=n_trials,
        storage=storage,
        study_name=study_name,
        fingerprint=fingerprint,
        horizon=horizon,
    )
    runner = _FoldRunner(problem, family, seed, threads)
    before = (
        len(_finished(_open_study(storage, study_name, fingerprint, seed, 0))) if storage else 0
    )
    if n_workers > 1:
        # The first trial is enqueued before the workers start, so exactly one runs it.
        study = _open_study(storage, study_name, fingerprint, seed, 0)
        if not study.get_trials(deepcopy=False):
            space = effective_space(family, problem.min_train_rows)
            study.enqueue_trial(_clipped(FIRST_TRIALS[family], space))
        # this process is worker 0 (its trials' fold predictions stay at hand); the
        # others are spawned processes
        with ProcessPoolExecutor(n_workers - 1, mp_context=get_context("spawn")) as pool:
            others = [
                pool.submit(
                    _work_in_subprocess,
                    {
                        **common,
                        "problem": problem,
                        "family": family,
                        "seed": seed,
                        "threads": threads,
                        "worker": w,
                    },
                )
                for w in range(1, n_workers)
            ]
            _work(runner, **common, worker=0, on_trial=on_trial)
            for other in others:
                other.result()
        study = _open_study(storage, study_name, fingerprint, seed, 0)
    else:
        study = _work(runner, **common, worker=0, on_trial=on_trial)

    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not complete:
        raise RuntimeError(f"study {study_name!r} has no completed trial")
    complete.sort(key=lambda t: t.number)
    best = max(complete, key=lambda t: (float(t.value), -t.number))  # earliest among ties
    params = {
        **FIXED_PARAMS[family],
        **best.params,
        "n_estimators": max(1, round(float(np.mean(best.user_attrs["best_rounds"])))),
    }
    params.pop("early_stopping_rounds")
    # the best trial's fold predictions: kept by this process, or refitted (another
    # worker or an earlier run found it)
    predictions = runner.predictions.get(best.number) or [
        runner.fit_fold(i, best.params)[0] for i in range(len(problem.folds))
    ]
    trials = pd.DataFrame(
        [
            {
                "number": t.number,
                "state": t.state.name,
                "value": t.value,
                "hac_t": t.user_attrs.get("hac_t"),
                "fold_rank_ic": json.dumps(t.user_attrs.get("fold_rank_ic")),
                "seconds": t.user_attrs.get("seconds"),
                **{f"param_{k}": v for k, v in t.params.items()},
            }
            for t in sorted(_finished(study), key=lambda t: t.number)
        ]
    )
    return TuningResult(
        family=family,
        best_params=params,
        best_value=float(best.value),
        best_fold_values=list(best.user_attrs["fold_rank_ic"]),
        best_fold_predictions=predictions,
        best_hac_t=float(best.user_attrs["hac_t"]),
        n_trials=len(trials),
        trial_values=[float(t.value) for t in complete],
        study_name=study_name,
        trials=trials,
        n_new_trials=len(trials) - before,
    )
