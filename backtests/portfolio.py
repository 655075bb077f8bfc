"""Simulate a portfolio that follows target weights, with costs and a buy-and-hold benchmark.

The simulation is delegated to vectorbt (``Portfolio.from_orders`` with target
percentages, one cash-sharing group, sells before buys). This module owns the parts
that make a backtest honest rather than the arithmetic:

- **timing**: weights decided after the close of ``t`` are traded at the close of the
  next bar (``execution_lag`` rows later, at least one). The label the models learn,
  ``fwd_ret_1d`` at ``t``, is ``close(t+2) / close(t+1) - 1``: exactly what a weight
  decided at ``t`` earns here;
- **missing prices**: prices are forward-filled to value positions, never
  backward-filled, and no order is placed at a price that does not exist: an order for
  a symbol without a bar that day waits for its next bar;
- **costs**: fees and slippage per side on traded notional, for the strategy and the
  benchmark alike.

``import vectorbt`` takes seconds, so it happens inside :func:`run_backtest` only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["BacktestResult", "CostModel", "run_backtest"]

# Weight changes smaller than this are float noise, not a decision to trade.
_WEIGHT_TOLERANCE = 1e-12
# Daily returns this small are rounding noise of the simulation (cash + shares * price).
_FLAT_RETURN = 1e-12


@dataclass(frozen=True)
class CostModel:
    """Proportional trading costs, in basis points of traded notional, charged per side.

    ``fees_bps`` is what the broker charges; ``slippage_bps`` is how much worse than the
    close the fill is (buys pay more, sells receive less). Frozen so that the default
    instance can be shared safely; derive variants with :func:`dataclasses.replace`.
    """

    fees_bps: float = 5.0
    slippage_bps: float = 5.0

    def __post_init__(self) -> None:
        for name in ("fees_bps", "slippage_bps"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be finite and >= 0, got {value!r}")

    @property
    def fees(self) -> float:
        """Fees as a fraction of traded notional (vectorbt's ``fees``)."""
        return self.fees_bps / 1e4

    @property
    def slippage(self) -> float:
        """Slippage as a fraction of price (vectorbt's ``slippage``)."""
        return self.slippage_bps / 1e4


@dataclass
class BacktestResult:
    """Everything a report, a metric or an asset needs from one backtest.

    All series share the index of the backtest period (trading days, named ``date``).

    Attributes:
        returns: daily simple returns of the strategy, from the first row of the period
            (0.0 until the first trade settles).
        benchmark_returns: daily simple returns of the equal-weight buy-and-hold.
        equity: strategy value in currency, starting from ``init_cash``.
        benchmark_equity: benchmark value in currency, starting from ``init_cash``.
        weights: executed target weights (date x symbol): the decided weights shifted
            by the execution lag and carried forward between decisions; 0 before the
            first execution.
        turnover: daily one-way turnover, ``sum |weight change| / 2``, measured on the
            notional actually traded (at the close) over the value before trading.
        n_trades: number of filled orders (one per symbol and rebalancing day traded).
    """

    returns: pd.Series
    benchmark_returns: pd.Series
    equity: pd.Series
    benchmark_equity: pd.Series
    weights: pd.DataFrame
    turnover: pd.Series
    n_trades: int


def run_backtest(
    close: pd.DataFrame,
    target_weights: pd.DataFrame,
    costs: CostModel = CostModel(),  # frozen, so one shared default is safe
    execution_lag: int = 1,
    init_cash: float = 1_000_000.0,
    *,
    drift_threshold: float | None = None,
) -> BacktestResult:
    """Trade ``target_weights`` on ``close`` one bar after each decision, with costs.

    Period: from the first date of ``target_weights`` (the prediction period) to the
    last bar of ``close``; earlier bars are dropped, so nothing is traded or measured
    before the first prediction. Between decisions (and after the last one) positions
    are held, which lets sparse weights (e.g. month-end rebalancing) work as expected;
    trim ``close`` to stop the backtest earlier.

    Decisions: a row of ``target_weights`` is a decision for that date; symbols left
    NaN in a row with other values mean 0, and a row that is entirely NaN (or a date
    without a row) means "no new decision, keep the positions". The decisions are
    reindexed to ``close``'s columns, shifted by ``execution_lag`` rows and executed at
    that row's close with vectorbt's ``Portfolio.from_orders`` (target percentages,
    ``group_by=True``, ``cash_sharing=True``, ``call_seq="auto"`` so sells fund buys).

    Rebalancing: orders are placed only on rows where the executed target changes,
    so holdings drift with prices in between instead of paying costs to undo every
    tick. With ``drift_threshold`` set, a row is also rebalanced when the holdings, as
    drifted by prices since the last rebalance (costs ignored), are more than that
    one-way distance (``sum |drifted - target| / 2``) away from the target.

    Benchmark: equal-weight buy-and-hold of every symbol with a price on the first
    trading day of the period, bought at that close with the same fees and slippage
    and never rebalanced.

    Args:
        close: wide close prices (date x symbol). NaN marks a missing bar; it is
            forward-filled for valuation only.
        target_weights: wide weights (date x symbol) decided after each date's close,
            for example from :func:`backtests.signals.top_k_weights`.
        costs: fees and slippage per side, in basis points of traded notional.
        execution_lag: bars between decision and execution; at least 1.
        init_cash: starting capital of the strategy and of the benchmark.
        drift_threshold: optional one-way drift that triggers a rebalance.

    Raises:
        ValueError: on a lag below 1, weights for symbols or dates that have no price
            column or row in ``close``, or non-finite weights.
    """
    if (
        isinstance(execution_lag, bool)
        or not isinstance(execution_lag, int | np.integer)
        or execution_lag < 1
    ):
        raise ValueError(
            "execution_lag must be an integer >= 1: a weight decided after the close of t "
            f"can only trade from the next bar on (got {execution_lag!r})"
        )
    if not math.isfinite(init_cash) or init_cash <= 0:
        raise ValueError(f"init_cash must be finite and > 0, got {init_cash!r}")
    if drift_threshold is not None and not (
        drift_threshold >= 0 and math.isfinite(drift_threshold)
    ):
        raise ValueError(f"drift_threshold must be finite and >= 0, got {drift_threshold!r}")

    prices = _prepare_close(close)
    decisions = _prepare_weights(target_weights, prices)

    raw = prices.loc[decisions.index[0] :]
    valuation = raw.ffill()

    decided = decisions.reindex(index=raw.index, columns=raw.columns)
    has_decision = decided.notna().any(axis=1)
    decided = decided.fillna(0.0)
    decided.loc[~has_decision.to_numpy()] = np.nan
    executed = decided.shift(execution_lag).ffill().fillna(0.0)
    executed.index.name = "date"
    executed.columns.name = "symbol"

    rebalance = _rebalance_rows(executed, valuation, drift_threshold)
    orders = _order_mask(rebalance, raw.notna().to_numpy())
    size = pd.DataFrame(
        np.where(orders, executed.to_numpy(), np.nan), index=raw.index, columns=raw.columns
    )

    import vectorbt as vbt

    pf = vbt.Portfolio.from_orders(
        valuation,
        size=size,
        size_type="targetpercent",
        group_by=True,
        cash_sharing=True,
        call_seq="auto",
        fees=costs.fees,
        slippage=costs.slippage,
        init_cash=float(init_cash),
        freq="1D",
    )

    equity = pd.Series(np.asarray(pf.value(), dtype=float), index=raw.index, name="strategy")
    returns = pd.Series(np.asarray(pf.returns(), dtype=float), index=raw.index, name="strategy")
    # Flat days come out of the simulation as +-1e-16: make them exactly flat.
    returns = returns.where(returns.abs() > _FLAT_RETURN, 0.0)
    records = pf.order_records
    turnover = pd.Series(
        _turnover(records, valuation.to_numpy(), equity.to_numpy()),
        index=raw.index,
        name="turnover",
    )

    benchmark_equity = _buy_and_hold(raw, valuation, costs, float(init_cash))
    benchmark_returns = _simple_returns(benchmark_equity, float(init_cash)).rename("benchmark")

    for series in (equity, returns, turnover, benchmark_equity, benchmark_returns):
        series.index.name = "date"
    return BacktestResult(
        returns=returns,
        benchmark_returns=benchmark_returns,
        equity=equity,
        benchmark_equity=benchmark_equity,
        weights=executed,
        turnover=turnover,
        n_trades=len(records),
    )


def _prepare_close(close: pd.DataFrame) -> pd.DataFrame:
    """Sorted float prices with a unique DatetimeIndex; non-positive prices are rejected."""
    if not isinstance(close, pd.DataFrame) or close.empty:
        raise ValueError("close must be a non-empty wide DataFrame (date x symbol)")
    if not isinstance(close.index, pd.DatetimeIndex):
        raise ValueError("close must be indexed by date (DatetimeIndex)")
    if close.index.has_duplicates:
        raise ValueError("close has duplicate dates")
    if close.columns.has_duplicates:
        raise ValueError("close has duplicate symbols")
    prices = close.sort_index().astype(float)
    values = prices.to_numpy()
    if np.any(values[~np.isnan(values)] <= 0) or np.isinf(values).any():
        raise ValueError("close must hold finite prices > 0 (NaN for a missing bar)")
    return prices


def _prepare_weights(target_weights: pd.DataFrame, prices: pd.DataFrame) -> pd.DataFrame:
    """Sorted float weights whose decisions all refer to a known date and symbol."""
    if not isinstance(target_weights, pd.DataFrame):
        raise ValueError("target_weights must be a wide DataFrame (date x symbol)")
    weights = target_weights.sort_index().astype(float)
    if not isinstance(weights.index, pd.DatetimeIndex):
        raise ValueError("target_weights must be indexed by date (DatetimeIndex)")
    if weights.index.has_duplicates:
        raise ValueError("target_weights has duplicate dates")
    weights = weights.loc[weights.notna().any(axis=1)]
    if weights.empty:
        raise ValueError("target_weights holds no decision")
    if np.isinf(weights.to_numpy()).any():
        raise ValueError("target_weights must be finite")
    unknown_symbols = [
        s
        for s in weights.columns
        if s not in prices.columns and weights[s].fillna(0.0).ne(0.0).any()
    ]
    if unknown_symbols:
        raise ValueError(
            f"target_weights has weights for symbols without prices: {unknown_symbols}"
        )
    unknown_dates = weights.index.difference(prices.index)
    if len(unknown_dates):
        raise ValueError(
            "target_weights has decisions on dates that are not bars of close, e.g. "
            f"{unknown_dates[0].date()}"
        )
    return weights


def _rebalance_rows(
    executed: pd.DataFrame, valuation: pd.DataFrame, drift_threshold: float | None
) -> np.ndarray:
    """Rows on which to trade: the target changed, or (optionally) holdings drifted too far."""
    target = executed.to_numpy()
    previous = np.vstack([np.zeros((1, target.shape[1])), target[:-1]])
    rebalance = np.abs(target - previous).sum(axis=1) > _WEIGHT_TOLERANCE
    if drift_threshold is None:
        return rebalance
    prices = valuation.to_numpy()
    anchor: int | None = None
    for i in range(len(target)):
        if rebalance[i]:
            anchor = i
            continue
        if anchor is None:
            continue
        with np.errstate(invalid="ignore", divide="ignore"):
            growth = np.where(
                np.isfinite(prices[i] / prices[anchor]), prices[i] / prices[anchor], 1.0
            )
        held = target[anchor] * growth
        total = held.sum() + (1.0 - target[anchor].sum())
        if total <= 0:
            continue
        if np.abs(held / total - target[i]).sum() / 2.0 > drift_threshold:
            rebalance[i] = True
            anchor = i
    return rebalance


def _order_mask(rebalance: np.ndarray, has_price: np.ndarray) -> np.ndarray:
    """Cells that get an order: rebalancing rows, deferred per symbol to its next real bar.

    A symbol without a bar on a rebalancing day keeps its order pending until it trades
    again (unless a later rebalance supersedes it), instead of filling at a stale price.
    """
    mask = np.zeros(has_price.shape, dtype=bool)
    pending = np.zeros(has_price.shape[1], dtype=bool)
    for i in range(has_price.shape[0]):
        if rebalance[i]:
            pending[:] = True
        fire = pending & has_price[i]
        mask[i] = fire
        pending &= ~fire
    return mask


def _turnover(records: np.ndarray, prices: np.ndarray, equity: np.ndarray) -> np.ndarray:
    """Daily one-way turnover ``sum |weight change| / 2`` from filled orders.

    Each order's notional is valued at the close (not at the slipped fill price) and
    divided by the portfolio value before that day's trades (value after trades plus
    the fees and slippage they cost), so a full swap reads as 1.0 less costs, never more.
    """
    rows, cols = records["idx"], records["col"]
    market = np.abs(records["size"]) * prices[rows, cols]
    paid = records["fees"] + np.abs(records["size"] * (records["price"] - prices[rows, cols]))
    notional = np.zeros(len(equity))
    costs = np.zeros(len(equity))
    np.add.at(notional, rows, market)
    np.add.at(costs, rows, paid)
    return notional / (equity + costs) / 2.0


def _buy_and_hold(
    raw: pd.DataFrame, valuation: pd.DataFrame, costs: CostModel, init_cash: float
) -> pd.Series:
    """Value of an equal-weight buy-and-hold bought at the first close of the period."""
    equity = pd.Series(init_cash, index=raw.index, name="benchmark", dtype=float)
    traded = raw.notna().any(axis=1).to_numpy()
    if not traded.any():
        return equity
    first = int(np.argmax(traded))
    day0 = raw.iloc[first]
    held = day0.index[day0.notna().to_numpy()]
    fill_price = day0[held] * (1.0 + costs.slippage) * (1.0 + costs.fees)
    shares = (init_cash / len(held)) / fill_price
    held_value = (valuation[held].iloc[first:] * shares).sum(axis=1)
    equity.iloc[first:] = held_value.to_numpy()
    return equity


def _simple_returns(equity: pd.Series, init_cash: float) -> pd.Series:
    """Daily simple returns of a value series, the first one measured against ``init_cash``."""
    previous = equity.shift(1)
    previous.iloc[0] = init_cash
    return equity / previous - 1.0
