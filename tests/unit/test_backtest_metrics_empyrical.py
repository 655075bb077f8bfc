"""backtests.metrics against empyrical-reloaded, an independent implementation of the
same statistics, on fixed seeded series.

Where the two agree by convention the tolerance is float round-off (rel 1e-10); where
the conventions differ, the test converts one into the other and says how.
"""

from __future__ import annotations

import math

import empyrical
import numpy as np
import pandas as pd
import pytest

from backtests.metrics import TRADING_DAYS, performance_summary

ROUND_OFF = 1e-10


def _strategy_and_benchmark(first_day_loss: bool) -> tuple[pd.Series, pd.Series]:
    """500 days of a benchmark and a strategy with beta 1.3 on it plus noise and drift."""
    rng = np.random.default_rng(42)
    index = pd.bdate_range("2022-01-03", periods=500)
    benchmark = pd.Series(rng.normal(0.0004, 0.01, size=500), index=index)
    noise = pd.Series(rng.normal(0.0, 0.006, size=500), index=index)
    strategy = 0.0002 + 1.3 * benchmark + noise
    if first_day_loss:
        strategy.iloc[0] = -0.05
    return strategy, benchmark


@pytest.fixture(params=[False, True], ids=["seeded", "first_day_loss"])
def series(request: pytest.FixtureRequest) -> tuple[pd.Series, pd.Series, dict[str, float]]:
    strategy, benchmark = _strategy_and_benchmark(request.param)
    return strategy, benchmark, performance_summary(strategy, benchmark)


def test_return_and_risk_statistics_agree(series) -> None:
    strategy, _, got = series
    # Same conventions: ddof=1 standard deviation, sqrt(252), zero risk-free rate,
    # CAGR compounded over T / 252 years.
    assert got["sharpe"] == pytest.approx(empyrical.sharpe_ratio(strategy), rel=ROUND_OFF)
    assert got["volatility"] == pytest.approx(empyrical.annual_volatility(strategy), rel=ROUND_OFF)
    assert got["cagr"] == pytest.approx(empyrical.annual_return(strategy), rel=ROUND_OFF)
    # Downside deviation over all days with target 0, the mean annualized by 252 and the
    # deviation by sqrt(252) in both.
    assert got["sortino"] == pytest.approx(empyrical.sortino_ratio(strategy), rel=ROUND_OFF)
    # Both anchor the running peak at the starting capital, so a loss on the first day
    # is a drawdown in both (the "first_day_loss" case checks it).
    assert got["max_drawdown"] == pytest.approx(empyrical.max_drawdown(strategy), rel=ROUND_OFF)
    assert got["calmar"] == pytest.approx(empyrical.calmar_ratio(strategy), rel=ROUND_OFF)


def test_tail_statistics_agree(series) -> None:
    strategy, _, got = series
    # Both take numpy's linearly interpolated 5% quantile.
    assert got["var_95"] == pytest.approx(empyrical.value_at_risk(strategy), rel=ROUND_OFF)
    # empyrical averages the int((T - 1) * 0.05) + 1 = 25 lowest returns; this module
    # averages the returns at or below the interpolated quantile, which falls between
    # the 25th and 26th lowest when (T - 1) * 0.05 = 24.95 is not an integer: the same
    # 25 returns. (With an integer position the two can differ by one return.)
    assert (len(strategy) - 1) * 0.05 % 1 != 0
    assert got["cvar_95"] == pytest.approx(
        empyrical.conditional_value_at_risk(strategy), rel=ROUND_OFF
    )


def test_benchmark_relative_statistics_agree(series) -> None:
    strategy, benchmark, got = series
    alpha, beta = empyrical.alpha_beta(strategy, benchmark)
    assert got["beta"] == pytest.approx(beta, rel=ROUND_OFF)
    assert 1.2 < got["beta"] < 1.4  # the beta the series was built with
    # empyrical compounds the daily intercept, (1 + a) ** 252 - 1; this module scales
    # it, a * 252. Convert ours back to the daily intercept and compound it.
    daily_intercept = got["alpha"] / TRADING_DAYS
    assert (1.0 + daily_intercept) ** TRADING_DAYS - 1.0 == pytest.approx(alpha, rel=ROUND_OFF)
    # empyrical's excess Sharpe is the daily information ratio (ddof=1, not annualized).
    assert got["information_ratio"] == pytest.approx(
        empyrical.excess_sharpe(strategy, benchmark) * math.sqrt(TRADING_DAYS), rel=ROUND_OFF
    )


def test_benchmark_statistics_use_the_common_days() -> None:
    strategy, benchmark = _strategy_and_benchmark(first_day_loss=False)
    # The benchmark misses 20 days and has 5 extra ones before the strategy starts.
    extra = pd.Series(0.01, index=pd.bdate_range(end="2021-12-31", periods=5))
    gappy = pd.concat([extra, benchmark.drop(benchmark.index[100:120])])
    got = performance_summary(strategy, gappy)
    common = strategy.drop(strategy.index[100:120])
    alpha, beta = empyrical.alpha_beta(common, benchmark.drop(benchmark.index[100:120]))
    assert got["beta"] == pytest.approx(beta, rel=ROUND_OFF)
    assert (1.0 + got["alpha"] / TRADING_DAYS) ** TRADING_DAYS - 1.0 == pytest.approx(
        alpha, rel=ROUND_OFF
    )
    # the strategy's own statistics still use every one of its days
    assert got["sharpe"] == pytest.approx(empyrical.sharpe_ratio(strategy), rel=ROUND_OFF)
