"""One training round: holdout and folds, two Optuna studies, every zoo candidate.

``train_zoo`` is what the ``model_zoo`` asset and ``python -m bench models`` call: it
splits the training set into development and test rows (purged by the label's real end
date), cuts the development rows into purged walk-forward folds, tunes LightGBM and
XGBoost on those folds, fits the baselines on the same folds, refits everything on the
development rows and scores every candidate on the same test rows. The model proposed
for registration is the candidate with the best *fold* score among the learned ones
(the test never chooses anything).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ml.config import LABEL_HORIZONS, ZooConfig, scoring_label
from ml.dataset import date_symbol_order
from ml.models import THREAD_PARAMS, feature_rows, fit_model, predict
from ml.splits import (
    Holdout,
    date_stratified_sample,
    holdout_split,
    label_end_dates,
    walk_forward_folds,
)
from ml.tuning import TuningProblem, TuningResult, mean_rank_ic, tune
from ml.zoo import (
    RIDGE_ALPHAS,
    CandidateResult,
    FoldRows,
    RankEnsemble,
    best_single_feature,
    fit_ridge,
    rank_average,
    rank_within_dates,
    zoo_frame,
)

__all__ = [
    "LABEL_HORIZONS",
    "LEARNED",
    "RoundRows",
    "ZooConfig",
    "ZooOutcome",
    "round_rows",
    "scoring_label",
    "train_zoo",
]

LEARNED = ("lightgbm", "xgboost", "ensemble")
"""Candidates that can be registered (the baselines are comparators)."""


@dataclass
class ZooOutcome:
    """Everything a round produced; ``model`` is the candidate proposed for registration."""

    zoo: pd.DataFrame
    chosen: str
    model: RankEnsemble
    params: dict[str, Any]
    studies: dict[str, TuningResult]
    holdout: Holdout
    folds: list[dict[str, object]]
    test_frame: pd.DataFrame
    timings: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class RoundRows:
    """The rows of a training set a round reads: every row that is not a development
    row (the test, the purged dates before it, unlabelled rows) and the development rows,
    sampled by date above ``ZooConfig.max_train_rows``."""

    rows: np.ndarray
    """Ascending positions in the training set."""
    label_ends: np.ndarray
    """Each kept row's label end date, counted on the whole training set."""
    n_development: int
    """Development rows before sampling."""
    n_sampled: int
    """Development rows kept."""


def _holdout(dates: pd.Series, ends: pd.Series, config: ZooConfig) -> Holdout:
    n_dates = dates.nunique()
    return holdout_split(dates, ends, test_size=max(1, round(n_dates * config.test_frac)))


def round_rows(keys: pd.DataFrame, config: ZooConfig) -> RoundRows:
    """Which rows of a training set (``keys``: its symbol and date columns, every row,
    in file order) a round uses. The sample keeps at least one row of every date, so
    the holdout computed on the rows kept is the one of the whole set."""
    ends = label_end_dates(keys, config.horizon)
    development = _holdout(keys["date"], ends, config).development
    dates = keys["date"].to_numpy()
    sample = date_stratified_sample(dates[development], config.max_train_rows, config.seed)
    keep = np.ones(len(keys), dtype=bool)
    keep[development] = False
    keep[development[sample]] = True
    rows = np.flatnonzero(keep)
    return RoundRows(
        rows, ends.to_numpy(dtype="datetime64[ns]")[rows], len(development), len(sample)
    )


def train_zoo(
    frame: pd.DataFrame,
    features: list[str],
    config: ZooConfig,
    *,
    label_ends: np.ndarray | None = None,
    storage: str | None = None,
    oracle_col: str | None = None,
    log: Callable[[str], None] = lambda _: None,
) -> ZooOutcome:
    """Run a whole round on a training set (symbol, date, features, labels).

    ``oracle_col`` names a column of ``frame`` holding the oracle (the label's
    conditional expectation) when the source has one. ``frame`` is either a whole
    training set, of which the round keeps ``round_rows``, or those rows already (as read
    by ``ml.dataset.read_training_rows``), with their ``label_ends``. The round drops its
    reference to ``frame`` once it has taken its matrices: a caller that keeps none
    frees the frame's memory before the studies.
    """
    if config.target not in LABEL_HORIZONS:
        raise ValueError(f"target must be one of {sorted(LABEL_HORIZONS)}, got {config.target!r}")
    timings: dict[str, float] = {}
    round_started, round_cpu = time.perf_counter(), time.process_time()
    started = round_started
    if label_ends is None:
        selected = round_rows(frame, config)
        if len(selected.rows) < len(frame):
            frame = frame.iloc[selected.rows]
        label_ends = selected.label_ends
    order = date_symbol_order(frame)
    if order is not None:
        frame = frame.iloc[order]
        label_ends = np.asarray(label_ends)[order]
    frame = frame.set_axis(pd.RangeIndex(len(frame)), axis=0, copy=False)
    ends = pd.Series(np.asarray(label_ends, dtype="datetime64[ns]"), index=frame.index)
    label = scoring_label(config.target)
    # unlabelled rows (no end date) neither train nor validate; they stay scoreable
    holdout = _holdout(frame["date"], ends, config)
    key_columns = ["symbol", "date", config.target]
    dev = frame[key_columns].iloc[holdout.development].reset_index(drop=True)
    dev_x = feature_rows(frame, features, holdout.development)
    dev_ends = ends.iloc[holdout.development].reset_index(drop=True)
    # the test rows are the last dates: one slice, copied so that the frame can go
    test = frame.iloc[holdout.test[0] : holdout.test[-1] + 1].copy()
    del frame
    folds = walk_forward_folds(
        dev["date"],
        dev_ends,
        n_folds=config.n_folds,
        valid_size=config.valid_dates,
        scheme=config.scheme,
        train_size=config.rolling_train_dates,
    )
    log(
        f"holdout: test {holdout.test_start.date()}..{holdout.test_end.date()} "
        f"({len(holdout.test)} rows), development {len(dev)} rows, "
        f"{len(folds)} {config.scheme} folds: "
        + ", ".join(f"{f.valid_start.date()}..{f.valid_end.date()}" for f in folds)
    )
    dev_dates = dev["date"].to_numpy(dtype="datetime64[ns]")
    target = dev[config.target].to_numpy(dtype="float64")
    problem = TuningProblem.from_arrays(dev_x, target, dev_dates, folds, features, config.target)
    has_target = np.isfinite(target)
    # the rows of each fold's matrices, in the same order
    fold_rows = FoldRows(
        valid=[f.valid[has_target[f.valid]] for f in folds],
        train=[f.train[has_target[f.train]] for f in folds],
    )
    test_dates = test["date"].to_numpy()
    timings["prepare"] = time.perf_counter() - started

    # -- baselines: ranked features, chosen on the folds -----------------------------
    started = time.perf_counter()
    dev_ranked = rank_within_dates(dev_x, dev_dates)
    feature, sign, feature_folds = best_single_feature(
        dev_ranked, target, dev_dates, fold_rows, features
    )
    results = [
        CandidateResult(
            "best_single_feature",
            feature_folds,
            sign * test[feature].to_numpy(dtype="float64"),
            n_trials=len(features),
            detail={"feature": feature, "sign": sign},
        )
    ]
    labelled = np.flatnonzero(has_target)
    ridge, alpha, ridge_folds = fit_ridge(
        dev_ranked, target, dev_dates, fold_rows, labelled, features
    )
    del dev_ranked
    results.append(
        CandidateResult(
            "ridge",
            ridge_folds,
            ridge.predict(test),
            n_trials=len(RIDGE_ALPHAS),
            detail={"alpha": alpha},
        )
    )
    timings["baselines"] = time.perf_counter() - started
    log(f"baselines: best single feature {sign:+.0f} x {feature}, ridge alpha {alpha:g}")
    # the development rows as the boosters' refit reads them: a view of the matrix
    dev_frame = pd.DataFrame(dev_x, columns=list(features), copy=False)
    dev_frame[config.target] = target

    # -- boosters: tuned on the folds, refitted on the development rows --------------
    studies: dict[str, TuningResult] = {}
    members: dict[str, Any] = {}
    fold_predictions: dict[str, list[np.ndarray]] = {}
    for family in ("lightgbm", "xgboost"):
        started = time.perf_counter()
        study = tune(
            problem,
            family,  # type: ignore[arg-type]
            n_trials=config.n_trials,
            seed=config.seed,
            storage=storage,
            threads=config.threads,
            n_workers=config.n_workers,
            horizon=config.horizon,
            on_trial=log,
        )
        studies[family] = study
        params = {**study.best_params}
        params[THREAD_PARAMS[family]] = config.threads
        # fit_model drops the rows without a target, as labelled does
        members[family] = fit_model(
            family, dev_frame, features, config.target, params, seed=config.seed
        )
        fold_predictions[family] = study.best_fold_predictions
        results.append(
            CandidateResult(
                family,
                study.best_fold_values,
                predict(members[family], test, features),
                n_trials=study.n_trials,
                detail={"study": study.study_name, "params": study.best_params},
            )
        )
        timings[family] = time.perf_counter() - started
        log(
            f"{family}: {study.n_trials} trials ({study.n_new_trials} new), best mean fold "
            f"rank IC {study.best_value:.4f} (HAC t {study.best_hac_t:.2f}), "
            f"{timings[family]:.1f}s"
        )

    ensemble_folds = [
        mean_rank_ic(
            rank_average([fold_predictions[f][i] for f in members], problem.folds[i].valid_dates),
            problem.folds[i],
        )[0]
        for i in range(len(problem.folds))
    ]
    results.append(
        CandidateResult(
            "ensemble",
            ensemble_folds,
            rank_average([r.test_prediction for r in results[-2:]], test_dates),
            n_trials=sum(s.n_trials for s in studies.values()),
            detail={"members": list(members)},
        )
    )

    oracle = test[oracle_col].to_numpy(dtype="float64") if oracle_col else None
    zoo = zoo_frame(
        results, test_dates, test[label].to_numpy(dtype="float64"), config.horizon, oracle
    )
    if oracle is not None:
        oracle_row = zoo_frame(
            [CandidateResult("oracle", [], oracle, n_trials=0)],
            test_dates,
            test[label].to_numpy(dtype="float64"),
            config.horizon,
            oracle,
        )
        zoo = pd.concat([zoo, oracle_row], ignore_index=True)
    # CPU time beside wall time: on a shared machine the wall time says little alone
    log(
        f"round: {time.perf_counter() - round_started:.0f}s wall, "
        f"{time.process_time() - round_cpu:.0f}s CPU in this process ("
        + ", ".join(f"{k} {v:.0f}s" for k, v in timings.items())
        + ")"
    )
    scores = {r.candidate: r.cv_rank_ic for r in results if r.candidate in LEARNED}
    chosen = max(scores, key=lambda name: scores[name])
    chosen_members = list(members) if chosen == "ensemble" else [chosen]
    model = RankEnsemble({m: members[m] for m in chosen_members}, list(features))
    return ZooOutcome(
        zoo=zoo,
        chosen=chosen,
        model=model,
        params={m: studies[m].best_params for m in chosen_members},
        studies=studies,
        holdout=holdout,
        folds=[f.describe() for f in folds],
        test_frame=test,
        timings=timings,
    )
