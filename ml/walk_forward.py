"""Walk-forward out-of-sample predictions: the champion refitted block by block.

The champion's own test period is a quarter of the history (months on the default
run), too short to judge a strategy: the standard error of an annualised Sharpe over
0.8 years is about 1.1. Here the champion's recipe (candidate and hyperparameters) is
refitted every ``step`` business dates on an expanding window and predicts the next
block, so the stitched predictions cover every date after a burn-in of
``min_train_dates``: years instead of months.

Each block's model trains only on rows whose label ends before the block starts (the
label's real end date, ``ml.splits.label_end_dates``: horizon plus execution lag, in the
symbol's own bars), so no training label uses a price of the block it predicts. The two
baselines of the zoo are refitted the same way, their choices made on the block's
training rows only: ``best_single_feature`` (feature and sign) and ``ridge`` (penalty),
both on purged walk-forward folds cut from those rows, as the zoo chooses them on its
folds. An ensemble champion is the zoo's ``RankEnsemble``: the per-date rank average of
its refitted members.

The one caveat: the hyperparameters are the champion's, tuned by Optuna on the
development folds. Blocks before the champion's test start therefore use
hyperparameters chosen with (purged) knowledge of those dates: their predictions are out
of sample for the fitted weights, not for the choice of hyperparameters. From the
champion's test start on, the predictions are fully out of sample.

Fits are deterministic (seeded boosters with a fixed thread count, closed-form ridge):
the same frame and settings give identical predictions.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ml.dataset import TrainingRows
from ml.metrics import daily_ic, hac_t_stat
from ml.models import THREAD_PARAMS, feature_rows, fit_model
from ml.splits import date_stratified_sample, label_end_dates, walk_forward_folds
from ml.zoo import FoldRows, RankEnsemble, best_single_feature, fit_ridge, rank_within_dates

__all__ = [
    "WalkForwardBlock",
    "WalkForwardConfig",
    "block_rank_ic",
    "candidate_members",
    "walk_forward_blocks",
    "walk_forward_predictions",
]


@dataclass(frozen=True)
class WalkForwardConfig:
    """How often the model is refitted and how much history comes first."""

    step: int = 63
    """Business dates per block: the model is refitted every quarter by default."""
    min_train_dates: int = 250
    """Dates before the first out-of-sample date (about a year)."""
    baseline_folds: int = 3
    """Purged walk-forward folds, cut from a block's training rows, on which the
    baselines choose their feature and penalty."""
    seed: int = 7
    threads: int = 1
    max_train_rows: int = 500_000
    """Training rows of a block above which its boosters are fitted on a sample by date
    (``date_stratified_sample``), as the zoo's: every refit has the same cap."""


@dataclass(frozen=True, eq=False)
class WalkForwardBlock:
    """Row positions (``iloc`` in the frame given) a block trains on and predicts."""

    index: int
    start: pd.Timestamp
    end: pd.Timestamp
    train: np.ndarray
    predict: np.ndarray


def walk_forward_blocks(
    dates: pd.Series, label_ends: pd.Series, *, step: int, min_train_dates: int
) -> list[WalkForwardBlock]:
    """Contiguous blocks of ``step`` dates (the last one may be shorter) from the date
    after the first ``min_train_dates`` dates to the last date, each training on every
    labelled row whose label ends before the block starts (an expanding window).

    Every row of a block is predicted, unlabelled ones included: the newest dates'
    predictions are tomorrow's signals.
    """
    if step < 1 or min_train_dates < 1:
        raise ValueError(f"step and min_train_dates must be >= 1, got {step}, {min_train_dates}")
    date_values = pd.to_datetime(dates).to_numpy(dtype="datetime64[ns]")
    end_values = pd.to_datetime(label_ends).to_numpy(dtype="datetime64[ns]")
    unique = np.unique(date_values)
    if min_train_dates >= len(unique):
        raise ValueError(
            f"min_train_dates ({min_train_dates}) leaves no date to predict: the frame "
            f"holds {len(unique)} dates"
        )
    blocks = []
    for index, first in enumerate(range(min_train_dates, len(unique), step)):
        start, end = unique[first], unique[min(first + step, len(unique)) - 1]
        train = np.flatnonzero(end_values < start)  # NaT compares False: unlabelled rows
        if not len(train):
            raise ValueError(
                f"no label ends before {pd.Timestamp(start).date()}: nothing to train on"
            )
        predict = np.flatnonzero((date_values >= start) & (date_values <= end))
        blocks.append(
            WalkForwardBlock(index, pd.Timestamp(start), pd.Timestamp(end), train, predict)
        )
    return blocks


def candidate_members(candidate: str) -> tuple[str, ...]:
    """The booster families a registered candidate is made of."""
    members = {
        "lightgbm": ("lightgbm",),
        "xgboost": ("xgboost",),
        "ensemble": ("lightgbm", "xgboost"),
    }
    if candidate not in members:
        raise ValueError(f"candidate must be one of {sorted(members)}, got {candidate!r}")
    return members[candidate]


def _baseline_folds(dates: np.ndarray, ends: np.ndarray, n_folds: int) -> FoldRows:
    """Purged walk-forward folds on a block's training rows (their dates and label ends):
    the last ``n_folds`` quarters of its dates validate, as the zoo's folds do on its
    development rows."""
    n_dates = len(np.unique(dates))
    folds = walk_forward_folds(
        pd.Series(dates),
        pd.Series(ends),
        n_folds=n_folds,
        valid_size=max(1, n_dates // (n_folds + 1)),
    )
    return FoldRows(valid=[f.valid for f in folds], train=[f.train for f in folds])


def walk_forward_predictions(
    rows: TrainingRows,
    *,
    candidate: str,
    params: Mapping[str, Mapping[str, Any]],
    target: str,
    horizon: int,
    config: WalkForwardConfig = WalkForwardConfig(),
    log: Callable[[str], None] = lambda _: None,
) -> pd.DataFrame:
    """Out-of-sample predictions of ``candidate`` and of the two baselines, every one
    refitted per block of ``walk_forward_blocks`` on that block's purged training rows.

    ``rows`` is a training set (symbol, date, features, labels; every bar of each
    symbol, as ``label_end_dates`` counts in rows) read by rows: its keys and labels
    whole, its features (``rows.features``) for the rows a step needs. ``params`` maps
    each member family of ``candidate`` (``lightgbm``, ``xgboost``) to its
    hyperparameters, as the registered model logs them (``family.param``); ``target`` is
    the label it learns and ``horizon`` that label's horizon in bars.

    Memory does not grow with the history: a block's models (boosters and baselines)
    fit on at most ``config.max_train_rows`` rows, sampled by date with draws fixed per
    row, so the samples of the expanding windows are nested and their union is read
    once; each block's own rows are read when it is predicted.

    Returns one row per (symbol, date, candidate) from the first out-of-sample date on:
    symbol, date, block, candidate, prediction. See the module docstring for what is
    out of sample and the one caveat on hyperparameters.
    """
    members = candidate_members(candidate)
    missing = [m for m in members if m not in params]
    if missing:
        raise ValueError(f"{candidate} needs the hyperparameters of {missing}")
    features = list(rows.features)
    keys = rows.keys
    ends = label_end_dates(keys, horizon)
    blocks = walk_forward_blocks(
        keys["date"], ends, step=config.step, min_train_dates=config.min_train_dates
    )
    dates = keys["date"].to_numpy(dtype="datetime64[ns]")
    end_values = ends.to_numpy(dtype="datetime64[ns]")
    target_values = keys[target].to_numpy(dtype="float64")
    draws = np.random.default_rng(config.seed).random(len(keys))
    fitted_rows = []
    for block in blocks:
        train = block.train[np.isfinite(target_values[block.train])]
        sample = date_stratified_sample(
            dates[train], config.max_train_rows, config.seed, draws=draws[train]
        )
        fitted_rows.append(train[sample])
    pool = np.unique(np.concatenate(fitted_rows))
    started = time.perf_counter()
    pooled = rows.read(pool)
    log(
        f"walk-forward: read the {len(pool)} training rows of {len(blocks)} blocks "
        f"({time.perf_counter() - started:.1f}s)"
    )
    member_params = {m: {**params[m], THREAD_PARAMS[m]: config.threads} for m in members}
    parts = []
    for block, fitted in zip(blocks, fitted_rows, strict=True):
        started = time.perf_counter()
        train = pooled.iloc[np.searchsorted(pool, fitted)]
        model = RankEnsemble(
            {
                m: fit_model(m, train, features, target, p, seed=config.seed)
                for m, p in member_params.items()
            },
            features,
        )
        train_dates, train_target = dates[fitted], target_values[fitted]
        # ranks within a date over the rows trained on, as the zoo ranks its sample
        ranked = rank_within_dates(feature_rows(train, features, slice(None)), train_dates)
        folds = _baseline_folds(train_dates, end_values[fitted], config.baseline_folds)
        feature, sign, _ = best_single_feature(ranked, train_target, train_dates, folds, features)
        ridge, alpha, _ = fit_ridge(
            ranked, train_target, train_dates, folds, np.arange(len(fitted)), features
        )
        del train, ranked
        block_rows = rows.read(block.predict)
        predictions = {
            candidate: model.predict(block_rows),
            "best_single_feature": sign * block_rows[feature].to_numpy(dtype="float64"),
            "ridge": ridge.predict(block_rows),
        }
        for name, prediction in predictions.items():
            parts.append(
                pd.DataFrame(
                    {
                        "symbol": keys["symbol"].to_numpy()[block.predict],
                        "date": dates[block.predict],
                        "block": block.index,
                        "candidate": name,
                        "prediction": prediction,
                    }
                )
            )
        log(
            f"walk-forward block {block.index + 1}/{len(blocks)} "
            f"{block.start.date()}..{block.end.date()}: {candidate} trained on {len(fitted)} "
            f"rows up to {pd.Timestamp(train_dates.max()).date()}, best single feature "
            f"{sign:+.0f} x {feature}, ridge alpha {alpha:g}, "
            f"{time.perf_counter() - started:.1f}s"
        )
    return pd.concat(parts, ignore_index=True)


def _beside_labels(
    predictions: pd.DataFrame, names: list[str], labels: pd.DataFrame, label_col: str
) -> pd.DataFrame:
    """The labelled rows of ``labels`` that some candidate predicts, with one column of
    predictions per candidate (NaN where it has none).

    Rows are matched on integer (symbol, date) keys rather than pivoted and merged on
    symbol strings: at 3,000 symbols x 10 years that is 21M prediction rows.
    """
    symbols = pd.Index(pd.unique(labels["symbol"]))
    dates = pd.Index(pd.unique(labels["date"]))

    def cells(frame: pd.DataFrame) -> np.ndarray:
        # -1 where the symbol or the date has no label row: such keys match nothing
        symbol_at = symbols.get_indexer(frame["symbol"])
        date_at = dates.get_indexer(frame["date"])
        return np.where((symbol_at < 0) | (date_at < 0), -1, date_at * len(symbols) + symbol_at)

    label_cells = cells(labels)
    predicted = np.zeros(len(labels), dtype=bool)
    columns = {}
    candidate = predictions["candidate"].to_numpy()
    for name in names:
        rows = predictions[candidate == name]
        keys = cells(rows)
        known = keys >= 0
        at = pd.Index(keys[known]).get_indexer(label_cells)
        at[label_cells < 0] = -1
        values = rows["prediction"].to_numpy(dtype="float64")[known]
        columns[name] = np.where(at >= 0, values[at], np.nan)
        predicted |= at >= 0
    scored = labels.assign(**columns)[predicted]
    return scored[np.isfinite(scored[label_col].to_numpy(dtype="float64"))]


def block_rank_ic(
    predictions: pd.DataFrame, labels: pd.DataFrame, label_col: str, horizon: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Mean daily rank IC of every candidate, per block and over the whole period.

    ``predictions`` is ``walk_forward_predictions``' frame; ``labels`` holds symbol, date
    and ``label_col`` (plus any comparator columns, such as the simulator's oracle, which
    are scored beside the candidates on the same rows). Returns (per block: block, start,
    end, one column per candidate; overall: candidate, rank_ic, hac_t, n_dates).
    """
    comparators = [c for c in labels.columns if c not in ("symbol", "date", label_col)]
    names = list(predictions["candidate"].unique())
    scored = _beside_labels(predictions, names, labels, label_col)
    candidates = [*names, *comparators]
    daily = pd.DataFrame({c: daily_ic(scored, c, label_col, method="spearman") for c in candidates})
    block_of_date = predictions.groupby("date")["block"].first()
    daily["block"] = block_of_date.reindex(daily.index).to_numpy()
    bounds = predictions.groupby("block")["date"].agg(["min", "max"])
    # a block of unlabelled dates only (the newest few) stays in the table, without IC
    per_block = daily.groupby("block")[candidates].mean().reindex(bounds.index)
    per_block.insert(0, "start", bounds["min"].dt.date)
    per_block.insert(1, "end", bounds["max"].dt.date)
    overall = pd.DataFrame(
        {
            "candidate": candidates,
            "rank_ic": [float(daily[c].mean()) for c in candidates],
            "hac_t": [hac_t_stat(daily[c], lags=horizon) for c in candidates],
            "n_dates": [int(daily[c].notna().sum()) for c in candidates],
        }
    )
    return per_block.reset_index(), overall
