"""Unit tests for backtests.portfolio (vectorbt simulation) and backtests.report.

The first vectorbt call compiles numba code (5-15 s); numba's cache keeps the
compiled code under the pytest cache folder so later runs skip that.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path

os.environ.setdefault(
    "NUMBA_CACHE_DIR", str(Path(__file__).resolve().parents[2] / ".cache" / "numba")
)

import numpy as np
import pandas as pd
import pytest

from backtests.metrics import METRIC_NAMES, performance_summary
from backtests.portfolio import BacktestResult, CostModel, run_backtest
from backtests.report import equity_curve_png, write_report
from backtests.signals import top_k_weights

FREE = CostModel(fees_bps=0.0, slippage_bps=0.0)
INIT = 1_000_000.0


def _dates(n: int) -> pd.DatetimeIndex:
    return pd.bdate_range("2024-01-01", periods=n, name="date")


def _random_close(n_days: int = 160, n_symbols: int = 6, seed: int = 42) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    paths = 100.0 * np.exp(np.cumsum(rng.normal(0.0003, 0.015, (n_days, n_symbols)), axis=0))
    return pd.DataFrame(paths, index=_dates(n_days), columns=[f"S{i}" for i in range(n_symbols)])


def _rotating_weights(close: pd.DataFrame, k: int = 2) -> pd.DataFrame:
    """Top-k by trailing 5-day return: uses only closes up to each date."""
    score = close.pct_change(5, fill_method=None)
    long = score.stack().rename("prediction").reset_index()
    long.columns = ["date", "symbol", "prediction"]
    return top_k_weights(long, k=k)


@pytest.fixture(scope="module")
def rotation() -> tuple[pd.DataFrame, pd.DataFrame, BacktestResult]:
    close = _random_close()
    weights = _rotating_weights(close)
    return close, weights, run_backtest(close, weights)


def test_weight_decided_on_jump_day_does_not_earn_the_jump() -> None:
    dates = _dates(10)
    # JMP jumps +10% at the close of day 5 and again at the close of day 7.
    close = pd.DataFrame(
        {"FLAT": 50.0, "JMP": [100, 100, 100, 100, 100, 110, 110, 121, 121, 121]},
        index=dates,
        dtype=float,
    )

    def all_in_jmp(day: int) -> pd.DataFrame:
        return pd.DataFrame({"FLAT": [0.0], "JMP": [1.0]}, index=dates[[day]])

    # Decided after the close of day 4 (t): executed at the close of day 5 (t+1), after the jump.
    on_t = run_backtest(close, all_in_jmp(4), costs=FREE)
    assert on_t.returns.index[0] == dates[4]
    assert on_t.returns.loc[dates[5]] == 0.0
    assert on_t.returns.loc[dates[7]] == pytest.approx(0.10)
    assert on_t.equity.iloc[-1] == pytest.approx(INIT * 1.10)
    assert on_t.weights.loc[dates[4], "JMP"] == 0.0
    assert on_t.weights.loc[dates[5], "JMP"] == 1.0

    # Decided on the jump day itself (t+1): the jump is already in the price it pays.
    on_jump_day = run_backtest(close, all_in_jmp(5), costs=FREE)
    assert on_jump_day.returns.loc[dates[5] : dates[6]].eq(0.0).all()
    assert on_jump_day.equity.iloc[-1] == pytest.approx(INIT * 1.10)

    # Decided the day before (t-1): held from the close of t, so it does earn the jump.
    before = run_backtest(close, all_in_jmp(3), costs=FREE)
    assert before.returns.loc[dates[5]] == pytest.approx(0.10)
    assert before.equity.iloc[-1] == pytest.approx(INIT * 1.21)


@pytest.mark.parametrize("costs", [FREE, CostModel()])
def test_future_decisions_never_change_past_returns(costs: CostModel) -> None:
    close = _random_close(n_days=60, n_symbols=4, seed=3)
    rng = np.random.default_rng(8)
    weights = pd.DataFrame(
        rng.dirichlet(np.ones(4), size=60), index=close.index, columns=close.columns
    )
    cut = 30
    altered = weights.copy()
    altered.iloc[cut:] = altered.iloc[cut:, ::-1].to_numpy()

    a = run_backtest(close, weights, costs=costs)
    b = run_backtest(close, altered, costs=costs)

    assert not np.allclose(a.returns, b.returns)
    # A decision on day `cut` trades at the close of cut + 1: the return of day cut + 1
    # (close cut -> close cut + 1) is earned by the old holdings, but pays the new trade's costs.
    unaffected = cut + 1 if costs == FREE else cut
    pd.testing.assert_series_equal(
        a.returns.iloc[: unaffected + 1], b.returns.iloc[: unaffected + 1]
    )


def test_zero_cost_full_weight_single_symbol_tracks_the_symbol() -> None:
    close = _random_close(n_days=40, n_symbols=1, seed=1)
    weights = pd.DataFrame(1.0, index=close.index, columns=close.columns)

    result = run_backtest(close, weights, costs=FREE)

    symbol_returns = close.iloc[:, 0].pct_change()
    # Bought at the close of day 1 (decided on day 0), so the first return earned is day 2's.
    assert result.returns.iloc[:2].eq(0.0).all()
    np.testing.assert_allclose(result.returns.iloc[2:], symbol_returns.iloc[2:], rtol=0, atol=1e-12)
    assert result.n_trades == 1  # constant target: no daily re-trading
    assert result.turnover.iloc[1] == pytest.approx(0.5)
    assert result.turnover.drop(result.turnover.index[1]).eq(0.0).all()
    assert result.equity.iloc[0] == INIT


def test_costs_reduce_returns_monotonically(
    rotation: tuple[pd.DataFrame, pd.DataFrame, BacktestResult],
) -> None:
    close, weights, _ = rotation
    levels = [
        FREE,
        CostModel(2.0, 0.0),
        CostModel(5.0, 5.0),
        CostModel(20.0, 20.0),
        CostModel(50.0, 50.0),
    ]
    finals = [run_backtest(close, weights, costs=c).equity.iloc[-1] for c in levels]
    assert all(a > b for a, b in itertools.pairwise(finals))
    # Slippage costs the same as fees of the same size, give or take second-order terms.
    fees_only = run_backtest(close, weights, costs=CostModel(10.0, 0.0)).equity.iloc[-1]
    slippage_only = run_backtest(close, weights, costs=CostModel(0.0, 10.0)).equity.iloc[-1]
    assert fees_only == pytest.approx(slippage_only, rel=1e-3)


def test_benchmark_is_equal_weight_buy_and_hold_with_costs() -> None:
    dates = _dates(8)
    close = pd.DataFrame(
        {
            "A": [9.0, 10.0, 11.0, 12.0, 11.0, 13.0, 14.0, 15.0],
            "B": [19.0, 20.0, 20.0, np.nan, 22.0, 18.0, 19.0, 21.0],  # missing bar: forward-filled
            "C": [np.nan, np.nan, 5.0, 5.5, 6.0, 6.0, 6.5, 7.0],  # no price on day one: excluded
        },
        index=dates,
    )
    weights = pd.DataFrame({"A": 1.0, "B": 0.0, "C": 0.0}, index=dates[1:5])
    costs = CostModel(fees_bps=10.0, slippage_bps=20.0)

    result = run_backtest(close, weights, costs=costs)

    period = close.loc[dates[1] :]  # trimmed to the first decision date
    assert result.benchmark_equity.index.equals(period.index)
    fill = 1.002 * 1.001  # slippage, then fees on the slipped notional
    shares_a = INIT / 2 / (10.0 * fill)
    shares_b = INIT / 2 / (20.0 * fill)
    expected = shares_a * period["A"] + shares_b * period["B"].ffill()
    np.testing.assert_allclose(result.benchmark_equity, expected, rtol=1e-12)
    expected_returns = expected / expected.shift(1).fillna(INIT) - 1
    np.testing.assert_allclose(result.benchmark_returns, expected_returns, rtol=1e-12, atol=1e-15)
    assert result.benchmark_returns.iloc[0] == pytest.approx(1 / fill - 1)


def test_missing_bar_defers_the_order_instead_of_using_a_stale_price() -> None:
    dates = _dates(6)
    close = pd.DataFrame({"A": [10.0, 10.0, np.nan, 12.0, 12.6, 12.6]}, index=dates)
    weights = pd.DataFrame({"A": [1.0]}, index=dates[[1]])

    result = run_backtest(close, weights, costs=FREE)

    # Would have been bought at a stale 10 on day 2 and earned +20% on day 3; instead it
    # is bought at the real close of day 3 and earns day 4's +5% only.
    assert result.returns.loc[dates[3]] == 0.0
    assert result.returns.loc[dates[4]] == pytest.approx(0.05)
    assert result.equity.iloc[-1] == pytest.approx(INIT * 1.05)
    assert result.n_trades == 1


def test_period_starts_at_first_decision_and_holds_between_decisions() -> None:
    close = _random_close(n_days=30, n_symbols=3, seed=4)
    # Sparse decisions (two rebalancing dates) are held until the next one and to the end.
    weights = pd.DataFrame(
        {"S0": [1.0, 0.0], "S1": [0.0, 1.0], "S2": [0.0, 0.0]}, index=close.index[[5, 15]]
    )

    result = run_backtest(close, weights, costs=FREE, execution_lag=2)

    assert result.returns.index.equals(close.index[5:])
    assert result.weights.iloc[:2].eq(0.0).all().all()
    assert result.weights.loc[close.index[7] : close.index[16], "S0"].eq(1.0).all()
    assert result.weights.loc[close.index[17] :, "S1"].eq(1.0).all()
    # Executed at the close of row 7, the S0 position earns rows 8..17; S1 from row 18 on.
    held_s0 = close["S0"].iloc[7:18].pct_change().iloc[1:]
    np.testing.assert_allclose(result.returns.iloc[3:13], held_s0, atol=1e-12)
    held_s1 = close["S1"].iloc[17:].pct_change().iloc[1:]
    np.testing.assert_allclose(result.returns.iloc[13:], held_s1, atol=1e-12)
    assert result.n_trades == 3  # buy S0, then sell S0 and buy S1


def test_rotation_result_shape_turnover_and_drift(
    rotation: tuple[pd.DataFrame, pd.DataFrame, BacktestResult],
) -> None:
    close, weights, result = rotation
    index = close.loc[weights.index[0] :].index
    for series in (result.returns, result.benchmark_returns, result.equity, result.turnover):
        assert series.index.equals(index)
        assert series.notna().all()
    assert list(result.weights.columns) == list(close.columns)
    assert (result.turnover >= 0).all() and (result.turnover <= 1.0).all()
    assert result.turnover.max() == pytest.approx(1.0, abs=2e-3)  # some day swaps both names
    assert result.turnover.iloc[1] == pytest.approx(0.5, abs=1e-3)  # first buy from cash
    assert result.n_trades > 0
    np.testing.assert_allclose(result.equity, INIT * (1 + result.returns).cumprod(), rtol=1e-9)

    drifting = run_backtest(close, weights, drift_threshold=0.0)
    assert drifting.n_trades > result.n_trades


def test_invalid_inputs_are_rejected() -> None:
    close = _random_close(n_days=10, n_symbols=2)
    weights = pd.DataFrame(0.5, index=close.index, columns=close.columns)
    with pytest.raises(ValueError, match="execution_lag"):
        run_backtest(close, weights, execution_lag=0)
    with pytest.raises(ValueError, match="symbols without prices"):
        run_backtest(close, weights.assign(ZZZ=0.1))
    with pytest.raises(ValueError, match="not bars of close"):
        run_backtest(close, weights.set_axis(weights.index + pd.Timedelta(hours=1)))
    with pytest.raises(ValueError, match="fees_bps"):
        CostModel(fees_bps=-1.0)


def test_report_html_and_png(
    rotation: tuple[pd.DataFrame, pd.DataFrame, BacktestResult], tmp_path: Path
) -> None:
    _, _, result = rotation
    metrics = performance_summary(
        result.returns, result.benchmark_returns, result.turnover, n_trials=10
    )

    path = write_report(result, metrics, tmp_path / "reports" / "top2.html", "Top-2 <momentum>")

    assert path == tmp_path / "reports" / "top2.html"
    text = path.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    for name in METRIC_NAMES:
        assert name in text
    assert "Top-2 &lt;momentum&gt;" in text
    assert "<script src=" not in text  # plotly.js is inline: the report works offline
    assert len(text) > 1_000_000
    assert list(path.parent.iterdir()) == [path]  # no temporary file left behind

    png = equity_curve_png(result, "Top-2")
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert 5_000 < len(png) < 500_000
