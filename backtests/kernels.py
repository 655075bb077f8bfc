"""The two loops of a backtest that cannot be vectorized, compiled with numba.

Kept apart so that importing construction or simulation code stays cheap: numba loads
(and compiles, or reads its cache) only when a backtest actually runs. The callers
document the semantics: :func:`backtests.construction.select_members` and
:func:`backtests.simulation.plan_orders`.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["order_targets_kernel", "select_members_kernel"]


@numba.njit(cache=True)
def select_members_kernel(
    scores: np.ndarray, top_k: np.ndarray, n_drop: np.ndarray, rebalance: np.ndarray
) -> np.ndarray:
    n_configs = top_k.size
    n_dates, n_symbols = scores.shape
    members = np.zeros((n_configs, n_dates, n_symbols), dtype=np.bool_)
    held = np.zeros((n_configs, n_symbols), dtype=np.bool_)
    rank = np.empty(n_symbols, dtype=np.int64)
    for t in range(n_dates):
        if not rebalance[:, t].any():
            continue
        row = scores[t]
        # stable sort of -score: ties keep column order; NaN sorts last
        order = np.argsort(-row, kind="mergesort")
        n_scored = 0
        for position in range(n_symbols):
            symbol = order[position]
            rank[symbol] = position
            if not np.isnan(row[symbol]):
                n_scored += 1
        for c in range(n_configs):
            if not rebalance[c, t]:
                continue
            k = min(top_k[c], n_scored)
            limit = k + n_drop[c]
            n_kept = 0
            # held names still inside the buffer, best first
            for position in range(n_scored):
                symbol = order[position]
                keep = held[c, symbol] and rank[symbol] < limit and n_kept < k
                held[c, symbol] = keep
                n_kept += keep
            for position in range(n_scored, n_symbols):
                held[c, order[position]] = False
            for position in range(n_scored):
                if n_kept >= k:
                    break
                symbol = order[position]
                if not held[c, symbol]:
                    held[c, symbol] = True
                    n_kept += 1
            members[c, t] = held[c]
    return members


@numba.njit(cache=True)
def order_targets_kernel(
    decisions: np.ndarray, has_bar: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Order targets one bar after each decision, deferred per name to its next bar.

    Also returns the absolute change of each order's target against the name's previous
    order target (0 before the first), which sizes the market impact.
    """
    n_configs, n_dates, n_symbols = decisions.shape
    targets = np.full(decisions.shape, np.nan)
    change = np.zeros(decisions.shape)
    for c in range(n_configs):
        pending = np.full(n_symbols, np.nan)
        last = np.zeros(n_symbols)
        for t in range(1, n_dates):
            if not np.isnan(decisions[c, t - 1, 0]):
                pending[:] = decisions[c, t - 1]
            for s in range(n_symbols):
                if has_bar[t, s] and not np.isnan(pending[s]):
                    targets[c, t, s] = pending[s]
                    change[c, t, s] = abs(pending[s] - last[s])
                    last[s] = pending[s]
                    pending[s] = np.nan
    return targets, change
