"""Stress scenarios: market regimes detected from the benchmark, and a flash crash.

Pure numpy/pandas, like :mod:`backtests.metrics`. Two kinds of stress are built here:

- **Regimes** (:func:`market_regimes`): each day is labelled ``"bear"``,
  ``"range_bound"`` or ``"normal"`` from the benchmark alone, using only the
  benchmark's returns up to and including that day, so a label never depends on what
  happens next. The strategy is then judged on the days of one label with
  :func:`sub_period_returns`.
- **A flash crash** (:func:`flash_crash`): prices rewritten so that every symbol gaps
  down on one day and recovers linearly; the backtest is re-run on the new prices.

Metrics over the days of a regime are the metrics of the strategy's daily returns
restricted to those days, in date order: the days are not contiguous, so compounding,
drawdowns and drawdown durations run over the spliced series (the gaps between
stretches are skipped, not counted as flat), and annualization uses the number of
those days. A regime's Sharpe ratio therefore answers "how did the strategy do on
bear days", not "how did it do from the first bear day to the last".
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from backtests.metrics import TRADING_DAYS, equity_curve

__all__ = [
    "BEAR",
    "NORMAL",
    "RANGE_BOUND",
    "REGIMES",
    "flash_crash",
    "market_regimes",
    "sub_period_returns",
]

BEAR = "bear"
RANGE_BOUND = "range_bound"
NORMAL = "normal"
REGIMES: tuple[str, ...] = (BEAR, RANGE_BOUND, NORMAL)
"""The labels of :func:`market_regimes`."""


def market_regimes(
    benchmark_returns: pd.Series,
    window: int = 63,
    bear_drawdown: float = -0.20,
    bear_window_return: float = -0.10,
    range_window_return: float = 0.03,
    range_max_volatility_ratio: float = 1.25,
) -> pd.Series:
    """Label each day ``"bear"``, ``"range_bound"`` or ``"normal"`` from the benchmark.

    With ``E`` the benchmark's compounded equity (1.0 before the first return, NaN
    returns counted as flat days), on day ``t``:

    - **bear** if the drawdown ``E[t] / max(1, E[:t+1]) - 1`` is at or below
      ``bear_drawdown`` (-20%, the usual definition of a bear market), or if the return
      over the trailing ``window`` days (63, a quarter) ``E[t] / E[t - window] - 1`` is at
      or below ``bear_window_return`` (-10%: a sharp fall that has not yet reached -20%
      from the peak);
    - otherwise **range_bound** if that trailing return is within
      ``+-range_window_return`` (3% over a quarter) and the trailing volatility (the
      annualized standard deviation of the last ``window`` returns) is at most
      ``range_max_volatility_ratio`` times its median over all days up to ``t``: the
      market goes nowhere without being unusually agitated (a whipsaw that ends flat
      is not a calm range);
    - otherwise **normal**.

    Every quantity uses returns up to day ``t`` only. During the first ``window`` days
    the trailing return and volatility are not defined yet: only the drawdown rule
    applies and the other days are ``normal``.

    Returns a string Series named ``regime`` with the index of ``benchmark_returns``.
    """
    if window < 2:
        raise ValueError(f"window must be at least 2 days, got {window}")
    returns = benchmark_returns.astype(float).fillna(0.0)
    equity = equity_curve(returns)
    drawdown = equity / equity.cummax().clip(lower=1.0) - 1.0
    # the equity `window` days earlier; 1.0 (the start) for the day `window - 1`
    earlier = equity.shift(window)
    if len(equity) >= window:
        earlier.iloc[window - 1] = 1.0
    window_return = equity / earlier - 1.0
    volatility = returns.rolling(window, min_periods=window).std(ddof=1) * math.sqrt(TRADING_DAYS)
    typical_volatility = volatility.expanding().median()

    bear = (drawdown <= bear_drawdown) | (window_return <= bear_window_return)
    calm = volatility <= range_max_volatility_ratio * typical_volatility
    range_bound = (window_return.abs() <= range_window_return) & calm
    labels = np.select([bear.to_numpy(), range_bound.to_numpy()], [BEAR, RANGE_BOUND], NORMAL)
    return pd.Series(labels, index=benchmark_returns.index, name="regime", dtype=object)


def sub_period_returns(
    returns: pd.Series | pd.DataFrame, mask: pd.Series
) -> pd.Series | pd.DataFrame:
    """The rows of ``returns`` on the days where ``mask`` is True, in date order.

    ``mask`` is aligned on the index (days it does not cover count as False), e.g.
    ``market_regimes(benchmark) == "bear"``. Pass the result to
    :func:`backtests.metrics.performance_summary` (with the benchmark restricted the
    same way) to get a regime's metrics, computed as described in the module docstring.
    """
    keep = mask.reindex(returns.index, fill_value=False).astype(bool)
    return returns.loc[keep.to_numpy()]


def flash_crash(
    open_: pd.DataFrame,
    close: pd.DataFrame,
    day: pd.Timestamp,
    gap: float = -0.10,
    recovery_days: int = 10,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Open and close prices (dates x symbols) with a market-wide gap on ``day`` and a
    linear recovery.

    Every price of the bar ``k`` bars after ``day`` (``k = 0`` on ``day``) is multiplied
    by ``1 + gap * (1 - k / recovery_days)`` for ``k <= recovery_days``: the open and
    close of ``day`` are ``1 + gap`` times the original (-10% by default), the loss
    shrinks by equal steps, and from bar ``recovery_days`` on prices are the original
    ones. Within a bar open and close get the same factor, so the gap and each step of
    the recovery happen overnight, between one close and the next open: a portfolio
    cannot trade out of the gap. Bars before ``day`` are unchanged; a recovery that
    would run past the last bar stops there. New frames are returned; the inputs are
    not modified.

    Raises:
        ValueError: if the frames' dates or symbols differ, ``day`` is not one of the
            dates, ``gap <= -1`` (prices would not stay positive) or
            ``recovery_days < 1``.
    """
    if not open_.index.equals(close.index) or not open_.columns.equals(close.columns):
        raise ValueError("open_ and close must have the same dates and symbols")
    if gap <= -1.0:
        raise ValueError(f"gap must be above -1 (prices stay positive), got {gap}")
    if recovery_days < 1:
        raise ValueError(f"recovery_days must be at least 1, got {recovery_days}")
    if day not in close.index:
        raise ValueError(f"{day} is not one of the dates of the prices")
    start = close.index.get_loc(day)
    steps = np.arange(min(recovery_days + 1, len(close.index) - start))
    factor = np.ones(len(close.index))
    factor[start : start + steps.size] = 1.0 + gap * (1.0 - steps / recovery_days)
    return open_.mul(factor, axis=0), close.mul(factor, axis=0)
