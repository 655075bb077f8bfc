"""Purged, embargoed splits of a long (symbol, date) frame: holdout, walk-forward, K-fold.

Labels look forward: ``fwd_ret_5d`` at date t is close(t+6) / close(t+1) - 1 in the
symbol's own bar sequence, so the label uses prices up to the date of the bar six rows
later. A split leaks when a training label is computed from prices of the validation
period. Counting a fixed number of trading dates is not enough: when a symbol misses
bars (a halt, a late listing), six rows later is more than six market dates later. So
every function here purges by each label's real end date, read from the data
(``label_end_dates``), and never by a count of dates.

The rule (López de Prado, *Advances in Financial Machine Learning*, ch. 7): a row's
label spans [date, end]. A training row is kept only if that span is disjoint from the
validation span [first validation date, last validation label end]; with K-fold, rows
that start within ``embargo`` dates after the validation span are dropped as well, since
features built from the validation period's prices (moving averages) reach into them.

Splits are by date, never by row: all symbols of a date land in the same part, as a
cross-sectional model must never train on half of a day and validate on the other half.
Positions returned are row positions (``iloc``) in the frame given.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

__all__ = [
    "Fold",
    "Holdout",
    "date_stratified_sample",
    "holdout_split",
    "label_end_dates",
    "purged_kfold",
    "walk_forward_folds",
]

EXECUTION_LAG = 1
"""Bars between a signal's date and the first price its label uses (traded next close)."""


def label_end_dates(
    frame: pd.DataFrame,
    horizon: int,
    execution_lag: int = EXECUTION_LAG,
    date_col: str = "date",
    symbol_col: str = "symbol",
) -> pd.Series:
    """For each row, the date of the last bar its label uses: the bar ``horizon +
    execution_lag`` rows later in the same symbol's series (NaT when there is none,
    which is exactly when the label is missing).

    ``frame`` must hold every bar of each symbol (``fct_labels`` and the training set
    do), since the offset is counted in rows, as the labels are built.
    """
    if horizon < 1 or execution_lag < 0:
        raise ValueError(
            f"horizon must be >= 1 and execution_lag >= 0, got {horizon}, {execution_lag}"
        )
    keys = pd.DataFrame(
        {"symbol": frame[symbol_col].to_numpy(), "date": pd.to_datetime(frame[date_col]).to_numpy()}
    )
    if keys.duplicated().any():
        raise ValueError(
            f"({symbol_col}, {date_col}) has duplicate rows: one bar per symbol and date"
        )
    ordered = keys.sort_values(["symbol", "date"], kind="stable")
    ends = ordered.groupby("symbol", sort=False)["date"].shift(-(horizon + execution_lag))
    ordered = pd.Series(ends.reindex(keys.index).to_numpy(), index=frame.index)
    return ordered.rename("label_end")


@dataclass(frozen=True, eq=False)
class Fold:
    """Row positions of one training set and its validation set."""

    train: np.ndarray
    valid: np.ndarray
    valid_start: pd.Timestamp
    valid_end: pd.Timestamp

    def describe(self) -> dict[str, object]:
        return {
            "valid_start": self.valid_start.date().isoformat(),
            "valid_end": self.valid_end.date().isoformat(),
            "n_train": len(self.train),
            "n_valid": len(self.valid),
        }


@dataclass(frozen=True, eq=False)
class Holdout:
    """Development rows (for folds and refits) and held-out test rows, purged apart."""

    development: np.ndarray
    test: np.ndarray
    test_start: pd.Timestamp
    test_end: pd.Timestamp


def date_stratified_sample(
    dates: np.ndarray, max_rows: int, seed: int, draws: np.ndarray | None = None
) -> np.ndarray:
    """Ascending positions of at most ``max_rows`` rows: every date keeps the same share
    of its rows (rounded down, at least one), drawn at random within the date.

    A cross-sectional model learns and is scored within dates, so the sample keeps every
    date and each date's cross-section in proportion; only the number of names per date
    shrinks. Deterministic for given dates and ``seed``. Fewer rows than ``max_rows``:
    every position, unchanged.

    ``draws`` (one uniform number per row, instead of drawing with ``seed``) makes samples
    of growing sets of rows nested: a date keeps its rows of the smallest draws, so a
    smaller share of the same date keeps a subset of them (the walk-forward's expanding
    windows read the union of their samples once).
    """
    values = np.asarray(dates)
    if max_rows < 1:
        raise ValueError(f"max_rows must be >= 1, got {max_rows}")
    if draws is not None and len(draws) != len(values):
        raise ValueError(f"draws must hold one value per row: {len(draws)} for {len(values)}")
    if len(values) <= max_rows:
        return np.arange(len(values))
    _, date_codes, counts = np.unique(values, return_inverse=True, return_counts=True)
    quota = np.maximum(1, np.floor(counts * (max_rows / len(values)))).astype(np.int64)
    if draws is None:
        draws = np.random.default_rng(seed).random(len(values))
    order = np.lexsort((draws, date_codes))  # by date, then by draw
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    place_in_date = np.empty(len(values), dtype=np.int64)
    place_in_date[order] = np.arange(len(values)) - np.repeat(starts, counts)
    return np.flatnonzero(place_in_date < quota[date_codes])


def _as_arrays(dates: pd.Series, label_ends: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    date_values = pd.to_datetime(dates).to_numpy(dtype="datetime64[ns]")
    end_values = pd.to_datetime(label_ends).to_numpy(dtype="datetime64[ns]")
    if len(date_values) != len(end_values):
        raise ValueError("dates and label_ends must have one value per row")
    if np.isnat(date_values).any():
        raise ValueError("dates contain missing values (NaT)")
    return date_values, end_values


def _blocks(unique: np.ndarray, n_blocks: int, block_size: int) -> list[np.ndarray]:
    """The last ``n_blocks * block_size`` unique dates as consecutive blocks."""
    if n_blocks < 1 or block_size < 1:
        raise ValueError(f"need at least one block of one date, got {n_blocks} x {block_size}")
    if n_blocks * block_size >= len(unique):
        raise ValueError(
            f"{n_blocks} blocks of {block_size} dates leave no earlier date to train on "
            f"({len(unique)} dates)"
        )
    tail = unique[len(unique) - n_blocks * block_size :]
    return [tail[i * block_size : (i + 1) * block_size] for i in range(n_blocks)]


def _fold(dates: np.ndarray, ends: np.ndarray, keep_train: np.ndarray, block: np.ndarray) -> Fold:
    labelled = ~np.isnat(ends)
    in_block = (dates >= block[0]) & (dates <= block[-1])
    train = np.flatnonzero(keep_train & labelled & ~in_block)
    valid = np.flatnonzero(in_block & labelled)
    if not len(train) or not len(valid):
        raise ValueError(
            f"fold validating {pd.Timestamp(block[0]).date()}..{pd.Timestamp(block[-1]).date()} "
            "has no labelled training or validation row"
        )
    return Fold(train, valid, pd.Timestamp(block[0]), pd.Timestamp(block[-1]))


def walk_forward_folds(
    dates: pd.Series,
    label_ends: pd.Series,
    *,
    n_folds: int,
    valid_size: int,
    scheme: Literal["expanding", "rolling"] = "expanding",
    train_size: int | None = None,
) -> list[Fold]:
    """Folds that validate on the last ``n_folds`` blocks of ``valid_size`` dates each,
    each training only on rows whose label ends before its block starts.

    ``expanding`` trains on all earlier rows; ``rolling`` on the rows of the
    ``train_size`` dates before the block (after the purge). Models fitted this way
    never see the future, as in production.
    """
    if scheme not in ("expanding", "rolling"):
        raise ValueError(f"scheme must be 'expanding' or 'rolling', got {scheme!r}")
    if scheme == "rolling" and (train_size is None or train_size < 1):
        raise ValueError("a rolling scheme needs train_size >= 1 dates")
    date_values, end_values = _as_arrays(dates, label_ends)
    unique = np.unique(date_values)
    folds = []
    for block in _blocks(unique, n_folds, valid_size):
        keep = end_values < block[0]  # NaT compares False: unlabelled rows never train
        if scheme == "rolling":
            first_block = np.searchsorted(unique, block[0])
            keep &= date_values >= unique[max(0, first_block - int(train_size))]
        folds.append(_fold(date_values, end_values, keep, block))
    return folds


def purged_kfold(
    dates: pd.Series, label_ends: pd.Series, *, n_splits: int, embargo: int = 0
) -> list[Fold]:
    """K contiguous blocks of dates, each validated by a model trained on every other
    row whose label span misses the block's span, less ``embargo`` dates after it.

    Training rows after the validation block are allowed (the classic purged K-fold):
    suited to model selection on scarce history, not to a production-like estimate.
    """
    if embargo < 0:
        raise ValueError(f"embargo must be >= 0, got {embargo}")
    date_values, end_values = _as_arrays(dates, label_ends)
    unique = np.unique(date_values)
    if n_splits < 2 or n_splits > len(unique):
        raise ValueError(f"n_splits must be in [2, {len(unique)}], got {n_splits}")
    folds = []
    for block in np.array_split(unique, n_splits):
        in_block = (date_values >= block[0]) & (date_values <= block[-1])
        span_end = end_values[in_block & ~np.isnat(end_values)].max(initial=block[-1])
        after = np.searchsorted(unique, span_end, side="right") + embargo
        embargo_until = unique[after - 1] if after - 1 < len(unique) else unique[-1]
        keep = (end_values < block[0]) | (date_values > max(span_end, embargo_until))
        folds.append(_fold(date_values, end_values, keep, block))
    return folds


def holdout_split(dates: pd.Series, label_ends: pd.Series, *, test_size: int) -> Holdout:
    """The last ``test_size`` dates are the test; development rows are those whose label
    ends before the test starts (the purge), so nothing tuned or fitted on development
    rows has seen a test-period price. Test rows include unlabelled ones (the newest
    dates, whose prediction is tomorrow's signal)."""
    date_values, end_values = _as_arrays(dates, label_ends)
    unique = np.unique(date_values)
    if not 1 <= test_size < len(unique):
        raise ValueError(f"test_size must be in [1, {len(unique) - 1}], got {test_size}")
    test_start = unique[len(unique) - test_size]
    development = np.flatnonzero(end_values < test_start)
    test = np.flatnonzero(date_values >= test_start)
    if not len(development):
        raise ValueError("no development row has a label that ends before the test starts")
    return Holdout(development, test, pd.Timestamp(test_start), pd.Timestamp(unique[-1]))
