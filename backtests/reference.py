"""The simulation's rules in plain numpy: a check on vectorbt and the speed bound it is held to.

:func:`simulate_reference` trades the same :class:`~backtests.simulation.OrderPlan`
as :func:`backtests.simulation.simulate`, one date at a time and all configurations
and names at once: value at the order prices before trading, every name traded to
``weight x value``, sells filled at ``price x (1 - slippage)`` less fees, buys at
``price x (1 + slippage)`` plus fees, cheapest buys first, the first buy the cash
cannot cover cut to the cash left and the rest skipped. That is weights times returns
minus costs times turnover, with the drift of holdings between rebalances.
"""

from __future__ import annotations

import numpy as np

from backtests.simulation import Market, OrderPlan, Simulation, _daily_stats, finish

__all__ = ["simulate_reference"]


def simulate_reference(
    market: Market, plan: OrderPlan, names: list[str], init_cash: float = 1_000_000.0
) -> Simulation:
    """Simulate ``plan`` (from :func:`backtests.simulation.plan_orders`) without vectorbt."""
    n_configs, n_dates, n_symbols = plan.targets.shape
    shares = np.zeros((n_configs, n_symbols))
    cash = np.full(n_configs, float(init_cash))
    last_price = np.full(n_symbols, np.nan)
    value = np.empty((n_dates, n_configs))
    traded = np.zeros((n_dates, n_configs))
    holdings = np.empty((n_dates, n_configs, n_symbols))
    n_orders = np.zeros(n_configs, dtype=np.int64)
    for t in range(n_dates):
        price = plan.price[t]
        last_price = np.where(np.isfinite(price), price, last_price)
        target = plan.targets[:, t]
        ordered = np.isfinite(target)
        if ordered.any():
            marked = np.nan_to_num(shares * last_price)
            book_value = cash + marked.sum(axis=1)
            with np.errstate(invalid="ignore"):
                wanted = np.where(ordered, target * book_value[:, None] / price, shares)
            delta = np.where(ordered, wanted - shares, 0.0)
            fees, slip = plan.fees[:, t], plan.slippage[:, t]
            sells = delta < 0
            proceeds = np.where(sells, -delta * price * (1 - slip) * (1 - fees), 0.0)
            cash += np.nan_to_num(proceeds).sum(axis=1)
            # vectorbt's order of execution: by target value minus current value
            order_value = np.where(ordered, target * book_value[:, None] - marked, 0.0)
            unit_cost = np.nan_to_num(price * (1 + slip) * (1 + fees))
            delta = _fund_buys(delta, order_value, unit_cost, cash)
            cash -= np.where(delta > 0, delta * unit_cost, 0.0).sum(axis=1)
            shares += delta
            traded[t] = np.nan_to_num(np.abs(delta) * price).sum(axis=1)
            # vectorbt ignores orders within float noise of zero shares
            n_orders += (np.abs(delta) > 1e-12).sum(axis=1)
        holdings[t] = np.nan_to_num(shares * plan.valuation[t])
        value[t] = cash + holdings[t].sum(axis=1)
    value, turnover, gross, net = _daily_stats(value, traded, holdings, init_cash)
    return finish(
        market, plan.borrow_daily, names, value, turnover, gross, net, n_orders, init_cash
    )


def _fund_buys(
    delta: np.ndarray, order_value: np.ndarray, unit_cost: np.ndarray, cash: np.ndarray
) -> np.ndarray:
    """Buys funded in increasing order value (ties by column): the first one the cash
    cannot cover is cut to the cash left, later ones get nothing."""
    buys = delta > 0
    order = np.argsort(np.where(buys, order_value, -np.inf), axis=1, kind="stable")
    required = np.take_along_axis(np.where(buys, delta * unit_cost, 0.0), order, axis=1)
    spent_before = np.cumsum(required, axis=1) - required
    left = np.maximum(cash[:, None] - spent_before, 0.0)
    funded = np.empty_like(required)
    np.put_along_axis(funded, order, np.minimum(required, left), axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(buys, funded / unit_cost, delta)
