"""Trade stacks of target-weight books through vectorbt, with fills and costs a researcher can name.

One call simulates many configurations (strategies, baselines, a sensitivity grid,
stress variants) as one vectorbt ``Portfolio.from_orders`` run: every configuration is
a cash-sharing group of columns, so the grid is laid out for vectorization rather
than looped over portfolios.

Rules, identical for every configuration:

- **timing**: a decision dated ``t`` (made after its close) trades on the next bar,
  at its open (default: the signal is known at the close, the open is the first
  price one can trade at) or at its close. A name without a bar that day keeps its
  order pending until its next bar, unless a newer decision replaces it.
- **sizing**: on an order bar each name is traded to ``weight x value``, the value
  taken at the order prices before any trade (vectorbt's target percent, sells
  before buys); a buy the remaining cash cannot pay for is cut to what it can.
- **costs** per side on traded notional: commission (bps, plus an amount per share)
  and slippage (fixed bps, plus a multiple of the name's trailing daily volatility,
  plus an impact proportional to the trade's share of the name's 20-day average
  dollar volume, sized on the initial capital); buys fill at ``price x (1 + slippage)``
  and pay ``fees`` on top, sells the mirror image. Shorts pay a borrow fee per year
  on their notional, charged daily on the previous close's short exposure.
- **valuation** at each close, forward-filled over missing bars.

:mod:`backtests.reference` re-implements these rules in plain numpy; the two agree
to 1e-9 on total return, which is how this module is tested and benchmarked.
"""

from __future__ import annotations

import gc
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from backtests.config import CostModel, Execution
from backtests.construction import trailing_volatility

__all__ = ["CostModel", "Market", "OrderPlan", "Simulation", "plan_orders", "simulate"]

ADV_WINDOW = 20
"""Trading days of the average dollar volume the impact is measured against."""
VOL_WINDOW = 20
"""Trading days of the volatility that scales the volatility slippage."""
# vectorbt runs at most this many cells (dates x configurations x symbols) per call;
# larger grids are cut into chunks of configurations to bound memory.
MAX_CELLS = 20_000_000


@dataclass(frozen=True)
class Market:
    """Daily bars on one calendar: (dates x symbols) arrays, NaN for a missing bar."""

    dates: pd.DatetimeIndex
    symbols: pd.Index
    open: np.ndarray
    close: np.ndarray
    volume: np.ndarray

    def __post_init__(self) -> None:
        shape = (len(self.dates), len(self.symbols))
        for name in ("open", "close", "volume"):
            if getattr(self, name).shape != shape:
                raise ValueError(f"{name} must be (dates x symbols) {shape}")
        for prices in (self.open, self.close):
            if np.any(prices[np.isfinite(prices)] <= 0):
                raise ValueError("open and close must be > 0 (NaN for a missing bar)")

    def since(self, start: pd.Timestamp) -> Market:
        """The bars from ``start`` on."""
        keep = self.dates >= start
        return replace(
            self,
            dates=self.dates[keep],
            open=self.open[keep],
            close=self.close[keep],
            volume=self.volume[keep],
        )

    def with_prices(self, open_: np.ndarray, close: np.ndarray) -> Market:
        """The same calendar and volumes on other prices (stress scenarios)."""
        return replace(self, open=open_, close=close)

    @property
    def returns(self) -> np.ndarray:
        """Close-to-close daily returns over forward-filled closes; NaN on the first row."""
        closes = _ffill(self.close)
        out = np.full_like(closes, np.nan)
        out[1:] = closes[1:] / closes[:-1] - 1.0
        return out

    def execution_prices(self, execution: Execution) -> np.ndarray:
        if execution not in ("open", "close"):
            raise ValueError(f"execution must be 'open' or 'close', got {execution!r}")
        return self.open if execution == "open" else self.close


@dataclass
class OrderPlan:
    """What every engine trades: per configuration, order targets and cost rates.

    ``targets``, ``fees`` and ``slippage`` are (configurations x dates x symbols);
    ``targets`` is NaN where no order is placed. ``price`` and ``valuation`` are
    (dates x symbols): the fill price before slippage and the forward-filled close.
    """

    targets: np.ndarray
    fees: np.ndarray
    slippage: np.ndarray
    price: np.ndarray
    valuation: np.ndarray
    borrow_daily: float


@dataclass
class Simulation:
    """Daily outcome of each configuration: (dates x configurations) frames.

    ``turnover`` is one-way, ``sum |traded notional| / 2`` over the previous close's
    value; ``gross`` and ``net`` are exposures at each close (sum of |weights| and of
    weights); ``n_orders`` counts filled orders per configuration.
    """

    value: pd.DataFrame
    returns: pd.DataFrame
    turnover: pd.DataFrame
    gross: pd.DataFrame
    net: pd.DataFrame
    n_orders: pd.Series
    init_cash: float = 1_000_000.0
    extras: dict[str, object] = field(default_factory=dict)

    def column(self, name: str) -> pd.DataFrame:
        """One configuration's daily series side by side."""
        return pd.DataFrame(
            {
                "value": self.value[name],
                "returns": self.returns[name],
                "turnover": self.turnover[name],
                "gross": self.gross[name],
                "net": self.net[name],
            }
        )


def plan_orders(
    market: Market,
    decisions: np.ndarray,
    costs: CostModel | list[CostModel],
    execution: Execution = "open",
    init_cash: float = 1_000_000.0,
) -> OrderPlan:
    """Order targets and per-cell cost rates of (configurations x dates x symbols) decisions.

    ``costs`` is one model for every configuration or one per configuration (their
    borrow fee must be the same: it is charged after the simulation).
    """
    if decisions.ndim != 3 or decisions.shape[1:] != market.close.shape:
        raise ValueError(
            f"decisions must be (configurations, {market.close.shape[0]} dates, "
            f"{market.close.shape[1]} symbols), got {decisions.shape}"
        )
    models = _cost_models(costs, decisions.shape[0])
    price = market.execution_prices(execution)
    has_bar = np.isfinite(price)
    from backtests.kernels import order_targets_kernel

    targets, change = order_targets_kernel(
        np.ascontiguousarray(decisions, dtype=np.float64), has_bar
    )

    safe_price = np.where(has_bar, price, np.nan)
    per_share = np.array([m.commission_per_share for m in models])[:, None, None]
    commission = np.array([m.commission_bps for m in models])[:, None, None] / 1e4
    fees = commission + per_share / safe_price[None]
    slippage = np.broadcast_to(
        np.array([m.slippage_bps for m in models])[:, None, None] / 1e4, targets.shape
    ).copy()
    vol_mult = np.array([m.slippage_vol_mult for m in models])
    if vol_mult.any():
        daily_vol = _shift(trailing_volatility(market.returns, VOL_WINDOW))
        slippage += vol_mult[:, None, None] * np.nan_to_num(daily_vol)[None]
    impact = np.array([m.impact_coef for m in models])
    if impact.any():
        dollar_volume = pd.DataFrame(market.close * market.volume)
        adv = _shift(dollar_volume.rolling(ADV_WINDOW, min_periods=1).mean().to_numpy())
        with np.errstate(divide="ignore", invalid="ignore"):
            participation = np.where(adv > 0, init_cash / adv, 0.0)
        slippage += impact[:, None, None] * change * np.nan_to_num(participation)[None]
    ordered = np.isfinite(targets)
    fees = np.where(ordered, fees, 0.0)
    slippage = np.where(ordered, slippage, 0.0)
    return OrderPlan(
        targets=targets,
        fees=fees,
        slippage=slippage,
        price=price,
        valuation=_ffill(market.close),
        borrow_daily=models[0].borrow_bps / 1e4 / 252,
    )


def simulate(
    market: Market,
    decisions: np.ndarray,
    costs: CostModel | list[CostModel],
    names: list[str],
    *,
    execution: Execution = "open",
    init_cash: float = 1_000_000.0,
) -> Simulation:
    """Simulate every configuration of ``decisions`` with vectorbt, in as few calls as memory allows.

    Args:
        market: the bars; the simulation runs over all of its dates.
        decisions: (configurations x dates x symbols) target weights decided after each
            date's close, NaN on rows without a decision (see
            :func:`backtests.construction.book_weights`).
        costs: one cost model, or one per configuration.
        names: one name per configuration (the output columns).
        execution: fill at the next bar's ``open`` or ``close``.
        init_cash: starting capital of every configuration.
    """
    if len(names) != decisions.shape[0]:
        raise ValueError(f"{len(names)} names for {decisions.shape[0]} configurations")
    models = _cost_models(costs, decisions.shape[0])
    n_configs = decisions.shape[0]
    chunk = max(1, MAX_CELLS // max(1, decisions[0].size))
    parts = []
    for start in range(0, n_configs, chunk):
        configs = slice(start, min(start + chunk, n_configs))
        plan = plan_orders(market, decisions[configs], models[configs], execution, init_cash)
        parts.append(_simulate_vectorbt(plan, init_cash))
        borrow_daily = plan.borrow_daily  # the same for every chunk (see _cost_models)
        # a chunk's vectorbt arrays sit in reference cycles: free them before the next
        del plan
        gc.collect()
    value, turnover, gross, net, n_orders = (
        np.concatenate(p, axis=-1) for p in zip(*parts, strict=True)
    )
    return finish(market, borrow_daily, names, value, turnover, gross, net, n_orders, init_cash)


def finish(
    market: Market,
    borrow_daily: float,
    names: list[str],
    value: np.ndarray,
    turnover: np.ndarray,
    gross: np.ndarray,
    net: np.ndarray,
    n_orders: np.ndarray,
    init_cash: float,
) -> Simulation:
    """Frames of an engine's (dates x configurations) arrays, after the borrow fee.

    The borrow fee is charged on each day's return as ``fee x short exposure at the
    previous close``; the value is then compounded again from those returns.
    """
    previous = np.vstack([np.full((1, value.shape[1]), init_cash), value[:-1]])
    returns = value / previous - 1.0
    if borrow_daily > 0:
        short_exposure = np.vstack([np.zeros((1, value.shape[1])), ((gross - net) / 2)[:-1]])
        returns = returns - borrow_daily * short_exposure
        value = init_cash * np.cumprod(1.0 + returns, axis=0)

    def frame(values: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame(values, index=market.dates, columns=pd.Index(names, name="config"))

    return Simulation(
        value=frame(value),
        returns=frame(returns),
        turnover=frame(turnover),
        gross=frame(gross),
        net=frame(net),
        n_orders=pd.Series(n_orders, index=pd.Index(names, name="config"), name="n_orders"),
        init_cash=init_cash,
    )


def _simulate_vectorbt(plan: OrderPlan, init_cash: float) -> tuple[np.ndarray, ...]:
    """One vectorbt run of a plan's configurations, each a cash-sharing group."""
    import vectorbt as vbt
    from vectorbt.portfolio.enums import SizeType

    n_configs, n_dates, n_symbols = plan.targets.shape

    def flat(cube: np.ndarray) -> np.ndarray:
        return cube.transpose(1, 0, 2).reshape(n_dates, n_configs * n_symbols)

    def tiled(grid: np.ndarray) -> np.ndarray:
        return np.tile(grid, (1, n_configs))

    # A cell without an order is an order of value 0 (ignored), not a NaN target:
    # vectorbt sorts each bar's orders (sells first) by insertion, moving every NaN past
    # the others, which makes a bar quadratic in the number of symbols.
    ordered = np.isfinite(plan.targets)
    pf = vbt.Portfolio.from_orders(
        tiled(plan.valuation),
        size=flat(np.where(ordered, plan.targets, 0.0)),
        size_type=flat(np.where(ordered, SizeType.TargetPercent, SizeType.Value).astype(np.int8)),
        direction="both",
        price=tiled(plan.price),
        fees=flat(plan.fees),
        slippage=flat(plan.slippage),
        group_by=np.repeat(np.arange(n_configs), n_symbols),
        cash_sharing=True,
        call_seq="auto",
        init_cash=float(init_cash),
        freq="1D",
    )
    del ordered
    # one group or one column come back as a Series
    value = np.asarray(pf.value(), dtype=np.float64).reshape(n_dates, n_configs)
    records = pf.order_records
    group = records["col"] // n_symbols
    notional = np.abs(records["size"]) * plan.price[records["idx"], records["col"] % n_symbols]
    traded = np.zeros((n_dates, n_configs))
    np.add.at(traded, (records["idx"], group), notional)
    holdings = np.asarray(pf.assets(), dtype=np.float64).reshape(n_dates, -1)
    holdings = holdings * tiled(plan.valuation)
    holdings = np.nan_to_num(holdings).reshape(n_dates, n_configs, n_symbols)
    n_orders = np.bincount(group, minlength=n_configs)
    return (*_daily_stats(value, traded, holdings, init_cash), n_orders)


def _cost_models(costs: CostModel | list[CostModel], n_configs: int) -> list[CostModel]:
    """One cost model per configuration, all with the same borrow fee (it is charged after
    the simulation)."""
    models = [costs] * n_configs if isinstance(costs, CostModel) else list(costs)
    if len(models) != n_configs:
        raise ValueError(f"{len(models)} cost models for {n_configs} configurations")
    if len({m.borrow_bps for m in models}) > 1:
        raise ValueError("every configuration of one simulation pays the same borrow fee")
    return models


def _daily_stats(
    value: np.ndarray, traded: np.ndarray, holdings: np.ndarray, init_cash: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Value, one-way turnover and gross/net exposure of (dates x configurations [x symbols])."""
    previous = np.vstack([np.full((1, value.shape[1]), init_cash), value[:-1]])
    with np.errstate(divide="ignore", invalid="ignore"):
        turnover = np.where(previous > 0, traded / previous / 2.0, np.nan)
        gross = np.abs(holdings).sum(axis=2) / value
        net = holdings.sum(axis=2) / value
    return value, turnover, gross, net


def _ffill(values: np.ndarray) -> np.ndarray:
    return pd.DataFrame(values).ffill().to_numpy()


def _shift(values: np.ndarray) -> np.ndarray:
    """Each row replaced by the previous one (known before the day's trades)."""
    out = np.full_like(values, np.nan)
    out[1:] = values[:-1]
    return out
