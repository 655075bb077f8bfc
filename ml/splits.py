"""Chronological, purged train/validation/test splits over trading dates.

Labels look forward (``fwd_ret_5d`` at date t uses bars up to t + 6), so a naive
time split leaks: the last training labels are computed from prices that belong to
the validation period. Every split here drops ``gap`` trading dates between
consecutive parts (purge + embargo) so that no label of an earlier part is computed
from bars of a later part. The split is expressed in trading dates, not rows, so all
symbols of a date always land in the same part (a cross-sectional model must never see
half of a day in training and the other half in validation).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

__all__ = ["ChronologicalSplit", "chronological_split", "purge_gap", "split_frame"]

_PARTS = ("train", "valid", "test")


@dataclass(frozen=True, eq=False)
class ChronologicalSplit:
    """Three disjoint, time-ordered sets of trading dates separated by purge gaps.

    Each attribute is a sorted ``pd.DatetimeIndex``; ``valid_dates`` or ``test_dates``
    is empty when the corresponding fraction was 0. Equality compares the dates (the
    generated dataclass ``==`` would fail on index fields), and a split is hashable.
    """

    train_dates: pd.DatetimeIndex
    valid_dates: pd.DatetimeIndex
    test_dates: pd.DatetimeIndex

    def __post_init__(self) -> None:
        previous: pd.Timestamp | None = None
        for part in _PARTS:
            dates = pd.DatetimeIndex(getattr(self, f"{part}_dates"))
            if not (dates.is_monotonic_increasing and dates.is_unique):
                raise ValueError(f"{part}_dates must be sorted and unique")
            if len(dates) and previous is not None and dates[0] <= previous:
                raise ValueError(f"{part}_dates must all come after the earlier parts")
            if len(dates):
                previous = dates[-1]
            object.__setattr__(self, f"{part}_dates", dates)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ChronologicalSplit):
            return NotImplemented
        return all(getattr(self, f"{p}_dates").equals(getattr(other, f"{p}_dates")) for p in _PARTS)

    def __hash__(self) -> int:
        return hash(tuple(tuple(getattr(self, f"{p}_dates").asi8) for p in _PARTS))

    def describe(self) -> dict[str, str]:
        """First and last date (ISO) of each part, for run metadata and logs.

        Keys are ``{part}_start`` and ``{part}_end`` for train, valid and test; an
        empty part gives empty strings so the dict always has the same keys.
        """
        out: dict[str, str] = {}
        for part in _PARTS:
            dates: pd.DatetimeIndex = getattr(self, f"{part}_dates")
            out[f"{part}_start"] = dates[0].date().isoformat() if len(dates) else ""
            out[f"{part}_end"] = dates[-1].date().isoformat() if len(dates) else ""
        return out


def purge_gap(horizon_days: int, execution_lag: int = 1) -> int:
    """Number of trading dates to drop between two consecutive parts.

    A label at date t with horizon h traded with lag L uses bars up to t + h + L. With
    ``gap = h + L`` dates dropped after the last training date T, the first date of the
    next part is T + h + L + 1, so every training label is computed only from bars
    strictly before the next part starts.
    """
    if horizon_days < 1:
        raise ValueError(f"horizon_days must be >= 1, got {horizon_days}")
    if execution_lag < 0:
        raise ValueError(f"execution_lag must be >= 0, got {execution_lag}")
    return int(horizon_days) + int(execution_lag)


def _part_size(n_usable: int, frac: float) -> int:
    # Round half up (not banker's rounding) so sizes are predictable; a requested part
    # never silently disappears because of rounding.
    if frac == 0:
        return 0
    return max(1, math.floor(n_usable * frac + 0.5))


def chronological_split(
    dates: Sequence | pd.DatetimeIndex,
    *,
    valid_frac: float = 0.2,
    test_frac: float = 0.25,
    gap: int,
) -> ChronologicalSplit:
    """Split the unique trading dates in time order into train, valid and test.

    ``dates`` may hold duplicates (e.g. the ``date`` column of a long frame); the
    unique sorted dates are split. ``gap`` dates are dropped between consecutive
    non-empty parts; the caller must pass at least ``purge_gap(horizon, lag)`` (it is a
    required argument on purpose: the right value depends on the label). The fractions
    apply to the dates left after removing the gaps; train gets the remainder.

    Raises ``ValueError`` on bad fractions, a negative gap, missing dates, or when there
    are too few dates to give every requested part at least one date.
    """
    if not 0 <= valid_frac < 1 or not 0 <= test_frac < 1:
        raise ValueError(
            f"valid_frac and test_frac must be in [0, 1), got {valid_frac} and {test_frac}"
        )
    if valid_frac + test_frac >= 1:
        raise ValueError(
            f"valid_frac + test_frac must be < 1 to leave training dates, "
            f"got {valid_frac} + {test_frac}"
        )
    if isinstance(gap, bool) or not isinstance(gap, int) or gap < 0:
        raise ValueError(f"gap must be a non-negative int, got {gap!r}")

    index = pd.DatetimeIndex(dates)
    if index.hasnans:
        raise ValueError("dates contain missing values (NaT); drop or fix them before splitting")
    unique = index.unique().sort_values()

    n_later_parts = int(valid_frac > 0) + int(test_frac > 0)
    n_gaps = n_later_parts  # one gap before each later part
    n_usable = len(unique) - n_gaps * gap
    n_needed = 1 + n_later_parts
    if n_usable < n_needed:
        raise ValueError(
            f"too few dates to split: {len(unique)} unique dates, {n_gaps} gap(s) of {gap} "
            f"dates leave {max(n_usable, 0)}, but train"
            f"{', valid' if valid_frac > 0 else ''}{', test' if test_frac > 0 else ''} "
            f"need at least {n_needed}"
        )

    n_test = _part_size(n_usable, test_frac)
    n_valid = _part_size(n_usable, valid_frac)
    n_train = n_usable - n_valid - n_test
    if n_train < 1:
        raise ValueError(
            f"too few dates to split: {len(unique)} unique dates leave {n_usable} after gaps, "
            f"valid takes {n_valid} and test {n_test}, nothing left to train on"
        )

    train = unique[:n_train]
    pos = n_train
    valid = unique[:0]
    if n_valid:
        pos += gap
        valid = unique[pos : pos + n_valid]
        pos += n_valid
    test = unique[:0]
    if n_test:
        pos += gap
        test = unique[pos : pos + n_test]
        pos += n_test
    assert pos == len(unique)
    return ChronologicalSplit(train_dates=train, valid_dates=valid, test_dates=test)


def split_frame(
    frame: pd.DataFrame, split: ChronologicalSplit, date_col: str = "date"
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Rows of a long frame that fall in the train, valid and test dates of ``split``.

    Rows on purged gap dates are in none of the three frames.
    """
    dates = pd.DatetimeIndex(frame[date_col])
    train, valid, test = (frame.loc[dates.isin(getattr(split, f"{part}_dates"))] for part in _PARTS)
    return train, valid, test
