"""The model zoo: every candidate scored on the same folds and the same test rows.

A skill number means little alone: the zoo puts each model beside the baselines a
researcher would try first, on identical rows, with the same statistics:

- ``best_single_feature``: the one feature (sign included) with the best mean fold
  rank IC, chosen on the folds and never on the test;
- ``ridge``: a ridge regression on features ranked within each date (the usual linear
  baseline of cross-sectional equity models), its penalty chosen on the folds;
- ``lightgbm``, ``xgboost``: the tuned boosters (``ml.tuning``), refitted on every
  development row with the best trial's parameters;
- ``ensemble``: the per-date rank average of the two boosters;
- ``oracle`` (simulated data only): the data generator's conditional expectation of
  the very label scored (same horizon and timing), given its state at the feature date:
  the best any model does on average, though not a bound on one test sample.

Per candidate: ``cv_rank_ic`` (mean fold rank IC), and on the test rows ``test_ic``
(Pearson), ``test_rank_ic``, ``icir``, the Newey-West ``hac_t`` of the daily rank IC,
and ``oracle_share``: test IC over the oracle's test IC on the same rows (Pearson over
Pearson; ``oracle_rank_share`` is rank over rank).
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ml.metrics import daily_ic, hac_t_stat
from ml.models import SCORING_ROWS, feature_rows, predict

__all__ = [
    "BASELINES",
    "RIDGE_ALPHAS",
    "CandidateResult",
    "RankEnsemble",
    "best_single_feature",
    "date_batches",
    "fit_ridge",
    "rank_average",
    "rank_within_dates",
    "score_test",
    "zoo_frame",
]

BASELINES = ("best_single_feature", "ridge")
RIDGE_ALPHAS = (1.0, 10.0, 100.0, 1_000.0, 10_000.0, 100_000.0)
"""Ridge penalties tried on the folds (ranked features are in [-0.5, 0.5])."""


def rank_within_dates(values: np.ndarray, dates: np.ndarray) -> np.ndarray:
    """Percentile rank of each column within its date, centred on 0 (in [-0.5, 0.5]);
    a missing value gets 0, the middle of the cross-section.

    Ranked one date at a time (average ranks of ties, over the values present, as
    pandas' ``rank(pct=True)``), so the only full-size array is the float64 result: no
    float64 copy of the input, which is float32 features for a whole training set.
    """
    from scipy.stats import rankdata

    matrix = np.asarray(values).reshape(len(dates), -1)
    out = np.empty(matrix.shape, dtype="float64")
    date_values = np.asarray(dates)
    order = np.argsort(date_values, kind="stable")
    ordered = date_values[order]
    bounds = np.flatnonzero(ordered[1:] != ordered[:-1]) + 1
    for rows in np.split(order, bounds):
        block = matrix[rows].astype("float64")
        missing = np.isnan(block)
        present = (~missing).sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            ranked = rankdata(block, axis=0, nan_policy="omit") / present - 0.5
        ranked[missing] = 0.0
        out[rows] = ranked
    return out.reshape(np.shape(values))


def rank_average(predictions: list[np.ndarray], dates: np.ndarray) -> np.ndarray:
    """The mean of each prediction's within-date rank: scale-free, so boosters fitted on
    different objectives or scales weigh the same."""
    return np.mean([rank_within_dates(p, dates) for p in predictions], axis=0)


@dataclass
class RankEnsemble:
    """What gets registered: one or more fitted members, combined by per-date rank
    average when there are several. Members are LightGBM/XGBoost boosters or
    ``LinearScorer``s; ``predict`` needs a ``date`` column only with several members."""

    members: dict[str, Any]
    features: list[str]

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        outputs = [predict(m, frame, self.features) for m in self.members.values()]
        if len(outputs) == 1:
            return outputs[0]
        return rank_average(outputs, frame["date"].to_numpy())


@dataclass
class LinearScorer:
    """Ridge on within-date ranked features: ``coef @ rank(x)``."""

    coef: np.ndarray
    features: list[str]

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Scored a batch of whole dates at a time (ranks need a date's cross-section):
        no full-size copy of the features or of their ranks."""
        dates = frame["date"].to_numpy()
        out = np.empty(len(frame), dtype="float64")
        for rows in date_batches(dates, SCORING_ROWS):
            ranked = rank_within_dates(feature_rows(frame, self.features, rows), dates[rows])
            out[rows] = ranked @ self.coef
        return out


def date_batches(dates: np.ndarray, max_rows: int) -> list[np.ndarray]:
    """Positions of whole dates, grouped in batches of about ``max_rows`` rows (a date is
    never split; a date larger than ``max_rows`` is a batch alone)."""
    order = np.argsort(np.asarray(dates), kind="stable")
    ordered = np.asarray(dates)[order]
    starts = np.concatenate([[0], np.flatnonzero(ordered[1:] != ordered[:-1]) + 1])
    batches, first = [], 0
    for start in [*starts[1:], len(order)]:
        if start - first >= max_rows or start == len(order):
            batches.append(np.sort(order[first:start]))
            first = start
    return [b for b in batches if len(b)]


def _fold_rank_ic(prediction: np.ndarray, dates: np.ndarray, label: np.ndarray) -> float:
    scored = pd.DataFrame({"date": dates, "p": prediction, "y": label})
    ic = daily_ic(scored, "p", "y", method="spearman")
    return float(ic.mean()) if len(ic) else float("nan")


def _rank_ic_by_feature(
    ranked_x: np.ndarray, ranked_y: np.ndarray, dates: np.ndarray
) -> np.ndarray:
    """Mean over dates of each column's within-date correlation with the label (both
    already within-date ranks: a Spearman IC per column, all columns at once)."""
    grouped = pd.DataFrame(ranked_x).groupby(dates, sort=False)
    dx = ranked_x - grouped.transform("mean").to_numpy()
    y = pd.Series(ranked_y)
    dy = (y - y.groupby(dates, sort=False).transform("mean")).to_numpy()
    by = pd.DataFrame(dx * dy[:, None]).groupby(dates, sort=False).sum()
    xx = pd.DataFrame(dx * dx).groupby(dates, sort=False).sum()
    yy = pd.Series(dy * dy).groupby(dates, sort=False).sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        ic = by.to_numpy() / np.sqrt(xx.to_numpy() * yy.to_numpy()[:, None])
    return _nanmean_columns(np.where(np.isfinite(ic), ic, np.nan))


def _nanmean_columns(values: np.ndarray) -> np.ndarray:
    """Column means without NaN; NaN, silently, for a column that has no value (a feature
    constant on every date of a fold)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(values, axis=0)


@dataclass
class FoldRows:
    """Validation rows of every fold, with the label: what candidates are scored on."""

    valid: list[np.ndarray]
    train: list[np.ndarray]


def best_single_feature(
    ranked: np.ndarray,
    label: np.ndarray,
    dates: np.ndarray,
    folds: FoldRows,
    features: list[str],
) -> tuple[str, float, list[float]]:
    """The feature (and sign) whose mean fold rank IC is largest in absolute value.

    ``ranked`` holds every row's within-date feature ranks (``rank_within_dates``).
    Returns (feature, sign, that signed feature's rank IC per fold).
    """
    label_ranks = rank_within_dates(label, dates)
    per_fold = np.array(
        [_rank_ic_by_feature(ranked[v], label_ranks[v], dates[v]) for v in folds.valid]
    )
    mean = _nanmean_columns(per_fold)
    best = int(np.nanargmax(np.abs(mean)))
    sign = 1.0 if mean[best] >= 0 else -1.0
    return features[best], sign, [float(sign * v) for v in per_fold[:, best]]


def _ridge_path(x: np.ndarray, y: np.ndarray, alphas: tuple[float, ...]) -> list[np.ndarray]:
    """Ridge coefficients for every penalty from one Gram matrix and its eigenvectors:
    the O(n p^2) product is done once, each penalty costs O(p^2)."""
    y = y - y.mean()
    eigenvalues, vectors = np.linalg.eigh(x.T @ x)
    projected = vectors.T @ (x.T @ y)
    return [vectors @ (projected / (eigenvalues + alpha)) for alpha in alphas]


def _take_rows(matrix: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``matrix[rows]``, as a view when the rows are consecutive (an expanding fold's
    training rows usually are): no copy of most of the ranked development matrix."""
    if len(rows) and rows[-1] - rows[0] + 1 == len(rows) and np.all(np.diff(rows) == 1):
        return matrix[rows[0] : rows[-1] + 1]
    return matrix[rows]


def fit_ridge(
    ranked: np.ndarray,
    target: np.ndarray,
    dates: np.ndarray,
    folds: FoldRows,
    development: np.ndarray,
    features: list[str],
) -> tuple[LinearScorer, float, list[float]]:
    """Choose the penalty on the folds, refit on the development rows.

    Returns (scorer, alpha, fold rank ICs at that alpha).
    """
    per_fold = [
        [
            _fold_rank_ic(ranked[v] @ coef, dates[v], target[v])
            for coef in _ridge_path(_take_rows(ranked, t), target[t], RIDGE_ALPHAS)
        ]
        for t, v in zip(folds.train, folds.valid, strict=True)
    ]
    means = np.nanmean(np.array(per_fold), axis=0)
    best = int(np.argmax(means))  # the first (weakest penalty) among ties
    alpha = RIDGE_ALPHAS[best]
    (coef,) = _ridge_path(_take_rows(ranked, development), target[development], (alpha,))
    return LinearScorer(coef, list(features)), alpha, [values[best] for values in per_fold]


@dataclass
class CandidateResult:
    """One zoo row before it is written: fold values, test predictions, provenance."""

    candidate: str
    fold_rank_ic: list[float]
    test_prediction: np.ndarray
    n_trials: int
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def cv_rank_ic(self) -> float:
        return float(np.nanmean(self.fold_rank_ic)) if self.fold_rank_ic else float("nan")


def score_test(
    prediction: np.ndarray,
    dates: np.ndarray,
    label: np.ndarray,
    horizon: int,
    oracle: np.ndarray | None = None,
) -> dict[str, float]:
    """Test statistics of one prediction on labelled test rows (label NaN rows skipped)."""
    scored = pd.DataFrame({"date": dates, "p": prediction, "y": label})
    ic = daily_ic(scored, "p", "y", method="pearson")
    rank_ic = daily_ic(scored, "p", "y", method="spearman")
    out = {
        "test_ic": float(ic.mean()) if len(ic) else float("nan"),
        "test_rank_ic": float(rank_ic.mean()) if len(rank_ic) else float("nan"),
        "icir": float(ic.mean() / ic.std(ddof=1)) if len(ic) > 1 and ic.std() > 0 else float("nan"),
        "hac_t": hac_t_stat(rank_ic, lags=horizon),
        "n_test_dates": float(len(rank_ic)),
        "oracle_share": float("nan"),
        "oracle_rank_share": float("nan"),
    }
    if oracle is not None:
        both = scored.assign(o=oracle)
        both = both[np.isfinite(both["o"].to_numpy())]
        oracle_ic = daily_ic(both, "o", "y", method="pearson").mean()
        oracle_rank_ic = daily_ic(both, "o", "y", method="spearman").mean()
        # the same rows for both: a candidate is scored on the oracle's rows only
        mine_ic = daily_ic(both, "p", "y", method="pearson").mean()
        mine_rank = daily_ic(both, "p", "y", method="spearman").mean()
        out["oracle_share"] = float(mine_ic / oracle_ic) if oracle_ic > 0 else float("nan")
        out["oracle_rank_share"] = (
            float(mine_rank / oracle_rank_ic) if oracle_rank_ic > 0 else float("nan")
        )
    return out


def zoo_frame(
    results: list[CandidateResult],
    dates: np.ndarray,
    label: np.ndarray,
    horizon: int,
    oracle: np.ndarray | None,
) -> pd.DataFrame:
    """One row per candidate (and the oracle when given), the ``model_zoo`` columns."""
    rows = []
    for result in results:
        rows.append(
            {
                "candidate": result.candidate,
                "cv_rank_ic": result.cv_rank_ic,
                **score_test(result.test_prediction, dates, label, horizon, oracle),
                "n_trials": result.n_trials,
                "detail": json.dumps(result.detail, sort_keys=True, default=str),
            }
        )
    return pd.DataFrame(rows)
