"""From scores to target weights: top-k books with a holding buffer, for many configurations at once.

A *configuration* is one way of turning the same scores into a portfolio: how many
names, how often it rebalances, how wide the holding buffer is. Sensitivity grids and
baselines run hundreds of them on the same scores, so every function here works on a
stack of configurations (axis 0) instead of looping over portfolios:

- :func:`select_members` keeps, for each configuration and rebalancing date, the names
  to hold. It is one compiled pass over the dates, vectorized over configurations.
- :func:`book_weights` turns members into weights: equal or inverse-volatility,
  long-only or dollar-neutral long-short, with position and gross-exposure limits and
  an optional volatility target.

Weights are *decisions*: a row dated ``t`` is decided after the close of ``t`` and is
NaN on dates without a decision (between rebalances the book is held, not traded back
to its weights). When the decision is traded is the simulator's business
(:mod:`backtests.simulation`).

The holding buffer is Qlib's TopkDropout idea: a held name is dropped only once it
falls below rank ``top_k + n_drop``, so names near the cut-off do not churn in and
out at every rebalance.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd

from backtests.config import PortfolioSpec

__all__ = [
    "PortfolioSpec",
    "book_weights",
    "held_after",
    "rebalance_rows",
    "select_members",
    "spec_book",
    "trailing_volatility",
]

TRADING_DAYS = 252


def rebalance_rows(scores: np.ndarray, every: np.ndarray) -> np.ndarray:
    """(configurations x dates) mask of rebalancing dates.

    Dates are counted over the rows that have at least one score, from the first one;
    a configuration rebalances on every ``every``-th of them (the first included).
    """
    scored = ~np.isnan(scores).all(axis=1)
    position = np.cumsum(scored) - 1
    every = np.asarray(every, dtype=np.int64)
    return scored[None, :] & (position[None, :] % every[:, None] == 0)


def select_members(
    scores: np.ndarray,
    top_k: np.ndarray,
    n_drop: np.ndarray,
    rebalance: np.ndarray,
) -> np.ndarray:
    """Names held by each configuration after each rebalancing date.

    Args:
        scores: (dates x symbols), higher is better; NaN means no score (never chosen,
            and a held name without a score is dropped at the next rebalance).
        top_k: (configurations,) names to hold.
        n_drop: (configurations,) holding buffer.
        rebalance: (configurations x dates) mask from :func:`rebalance_rows`.

    Returns:
        (configurations x dates x symbols) booleans, set on rebalancing rows only.
        On each, the kept names are those already held whose rank is better than
        ``top_k + n_drop``, topped up with the best-ranked others to ``top_k`` (or to
        the number of scored names if fewer). Ties in score rank by column order, so
        the same inputs always give the same book.
    """
    from backtests.kernels import select_members_kernel

    scores = np.ascontiguousarray(scores, dtype=np.float64)
    return select_members_kernel(
        scores,
        np.asarray(top_k, dtype=np.int64),
        np.asarray(n_drop, dtype=np.int64),
        np.ascontiguousarray(rebalance, dtype=np.bool_),
    )


def spec_book(scores: np.ndarray, spec: PortfolioSpec, returns: np.ndarray | None) -> np.ndarray:
    """Decisions (dates x symbols) of one book built by ``spec`` from ``scores``."""
    rebalance = rebalance_rows(scores, np.array([spec.rebalance_every]))
    top_k, n_drop = np.array([spec.top_k]), np.array([spec.n_drop])
    long_members = select_members(scores, top_k, n_drop, rebalance)
    short_members = select_members(-scores, top_k, n_drop, rebalance) if spec.long_short else None
    return book_weights(long_members, short_members, spec, returns)[0]


def held_after(decisions: np.ndarray) -> np.ndarray:
    """The weights held after the last decision of (dates x symbols) decisions."""
    decided = ~np.isnan(decisions).all(axis=1)
    if not decided.any():
        raise ValueError("no decision in these scores")
    return decisions[np.flatnonzero(decided)[-1]]


def trailing_volatility(returns: np.ndarray, window: int) -> np.ndarray:
    """(dates x symbols) standard deviation of the last ``window`` daily returns, up to each date.

    NaN until a name has ``window // 2`` returns in the window; known after the close
    of each date, so a decision may use it.
    """
    rolled = (
        pd.DataFrame(np.asarray(returns, dtype=np.float64))
        .rolling(window, min_periods=max(2, window // 2))
        .std()
    )
    return rolled.to_numpy()


def book_weights(
    long_members: np.ndarray,
    short_members: np.ndarray | None,
    spec: PortfolioSpec,
    returns: np.ndarray | None = None,
) -> np.ndarray:
    """Target weights (configurations x dates x symbols) of books; NaN on non-decision rows.

    Args:
        long_members: (configurations x dates x symbols) from :func:`select_members`.
        short_members: the same for the short side (long-short books), or None.
        spec: weighting, limits and volatility target (``top_k`` and the rebalancing
            schedule are already in the members).
        returns: (dates x symbols) daily close-to-close returns up to each date; needed
            for ``inverse_vol`` and ``vol_target``.

    A row is a decision when any configuration holds a name on it (the members are
    set on rebalancing rows only). Each side sums to its share of ``max_gross`` (all
    of it long-only, half per side long-short), weights are capped at
    ``max_position`` (the excess stays in cash), and with a volatility target the whole
    book is scaled by ``vol_target / ex-ante volatility``, never above ``max_gross``.
    """
    needs_returns = spec.weighting == "inverse_vol" or spec.vol_target is not None
    if needs_returns and returns is None:
        raise ValueError("inverse_vol weighting and vol_target need the daily returns")
    decided = long_members.any(axis=2)
    if short_members is not None:
        decided |= short_members.any(axis=2)
    volatility = trailing_volatility(returns, spec.vol_window) if needs_returns else None
    side_gross = spec.max_gross / 2.0 if short_members is not None else spec.max_gross
    weights = _side_weights(long_members, spec.weighting, volatility) * side_gross
    if short_members is not None:
        weights -= _side_weights(short_members, spec.weighting, volatility) * side_gross
    np.clip(weights, -spec.max_position, spec.max_position, out=weights)
    if spec.vol_target is not None:
        weights *= _vol_target_scale(weights, decided, returns, spec)[:, :, None]
    weights[~decided] = np.nan
    return weights


def _side_weights(members: np.ndarray, weighting: str, volatility: np.ndarray | None) -> np.ndarray:
    """Weights summing to 1 over each row's members (0 where a row has none)."""
    raw = members.astype(np.float64)
    if weighting == "inverse_vol":
        inverse = np.where(volatility > 0, 1.0 / volatility, np.nan)
        # a name without a volatility estimate gets the median inverse volatility of its row
        with warnings.catch_warnings():  # rows without any estimate fall back to 1
            warnings.simplefilter("ignore", RuntimeWarning)
            fill = np.nanmedian(np.where(np.isfinite(inverse), inverse, np.nan), axis=1)
        inverse = np.where(np.isfinite(inverse), inverse, np.nan_to_num(fill, nan=1.0)[:, None])
        raw *= inverse[None, :, :]
    total = raw.sum(axis=2, keepdims=True)
    return np.divide(raw, total, out=np.zeros_like(raw), where=total > 0)


def _vol_target_scale(
    weights: np.ndarray, decided: np.ndarray, returns: np.ndarray, spec: PortfolioSpec
) -> np.ndarray:
    """(configurations x dates) factor taking each decided book to the volatility target."""
    clean = np.nan_to_num(np.asarray(returns, dtype=np.float64))
    scale = np.ones(decided.shape)
    gross = np.abs(weights).sum(axis=2)
    for c, t in zip(*np.nonzero(decided), strict=True):
        window = clean[max(0, t - spec.vol_window + 1) : t + 1]
        if len(window) < 2 or gross[c, t] == 0:
            continue
        book_vol = float(np.std(window @ weights[c, t], ddof=1)) * math.sqrt(TRADING_DAYS)
        cap = spec.max_gross / gross[c, t]
        scale[c, t] = cap if book_vol == 0 else min(cap, spec.vol_target / book_vol)
    return scale
