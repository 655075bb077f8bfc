"""Stress scenarios on hand-made paths: regimes from the benchmark, and a flash crash."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from backtests.metrics import performance_summary
from backtests.stress import REGIMES, flash_crash, market_regimes, sub_period_returns


def _benchmark() -> pd.Series:
    """150 flat days (+-0.2% alternating), 100 rising days (+0.3% a day, +-1%), then 50
    days of a crash (-2% a day, +-0.5%)."""
    day = np.arange(300)
    alternating = (-1.0) ** day
    returns = np.select(
        [day < 150, day < 250],
        [0.002 * alternating, 0.003 + 0.01 * alternating],
        -0.02 + 0.005 * alternating,
    )
    return pd.Series(returns, index=pd.bdate_range("2020-01-01", periods=300))


def _runs(labels: pd.Series) -> list[tuple[int, str]]:
    """(first day, label) of each stretch of equal labels."""
    changes = labels.ne(labels.shift())
    return [(int(i), labels.iloc[i]) for i in np.flatnonzero(changes.to_numpy())]


def test_regimes_of_a_flat_stretch_a_rise_and_a_crash() -> None:
    labels = market_regimes(_benchmark())
    assert labels.name == "regime"
    assert labels.index.equals(_benchmark().index)
    assert set(labels) <= set(REGIMES)
    # warm-up (no full window yet) is normal; the flat stretch is range-bound from its
    # first full 63-day window; the rise is normal; the crash turns bear 10 days in,
    # when the quarter's return falls below -10%, and stays bear (-20% from the peak)
    assert _runs(labels) == [(0, "normal"), (62, "range_bound"), (150, "normal"), (260, "bear")]


def test_regimes_use_no_later_day() -> None:
    benchmark = _benchmark()
    full = market_regimes(benchmark)
    for end in (40, 100, 155, 255, 262):
        pd.testing.assert_series_equal(market_regimes(benchmark.iloc[:end]), full.iloc[:end])


def test_regime_thresholds_are_arguments() -> None:
    benchmark = _benchmark()
    # the crash (about -64% in 50 days) is not -80% from the peak nor in a quarter
    lenient = market_regimes(benchmark, bear_drawdown=-0.8, bear_window_return=-0.8)
    assert (lenient.iloc[250:] != "bear").all()
    # a range must now be flat to 0.001%: the flat stretch (about -0.0126% a quarter) is not
    strict = market_regimes(benchmark, range_window_return=1e-5)
    assert (strict != "range_bound").all()
    # a window of 21 days finds the range and the bear market sooner
    monthly = _runs(market_regimes(benchmark, window=21))
    assert monthly[:2] == [(0, "normal"), (20, "range_bound")]
    assert monthly[-1][1] == "bear" and monthly[-1][0] < 260
    with pytest.raises(ValueError):
        market_regimes(benchmark, window=1)


def test_a_loss_from_the_start_is_a_drawdown() -> None:
    # -25% on day 0: below the starting value by more than 20%, bear from day 0
    falling = pd.Series([-0.25, 0.0, 0.01], index=pd.bdate_range("2020-01-01", periods=3))
    assert market_regimes(falling).tolist() == ["bear", "bear", "bear"]


def test_sub_period_returns_keep_the_masked_days_in_order() -> None:
    index = pd.bdate_range("2020-01-01", periods=6)
    returns = pd.Series([0.01, -0.02, 0.03, 0.0, -0.01, 0.02], index=index)
    labels = pd.Series(["bear", "normal", "bear", "bear", "normal", "bear"], index=index)
    bear = sub_period_returns(returns, labels == "bear")
    assert bear.index.equals(index[[0, 2, 3, 5]])
    assert bear.tolist() == [0.01, 0.03, 0.0, 0.02]
    # a mask that does not cover a day leaves it out
    assert sub_period_returns(returns, (labels == "bear").iloc[:3]).tolist() == [0.01, 0.03]
    # frames (one column per strategy) are restricted the same way
    frame = pd.DataFrame({"a": returns, "b": -returns})
    assert sub_period_returns(frame, labels == "normal")["b"].tolist() == [0.02, 0.01]
    # the metrics of the regime are those of the spliced series: 1.01 * 1.03 * 1.0 * 1.02
    summary = performance_summary(bear, sub_period_returns(returns, labels == "bear"))
    assert summary["total_return"] == pytest.approx(1.01 * 1.03 * 1.02 - 1)


def _prices() -> tuple[pd.DataFrame, pd.DataFrame]:
    """12 days of 3 symbols: close = base + day, open = close - 0.5."""
    index = pd.bdate_range("2024-03-01", periods=12)
    day = np.arange(12, dtype=float)[:, None]
    close = pd.DataFrame(np.array([100.0, 50.0, 10.0]) + day, index=index, columns=["A", "B", "C"])
    return close - 0.5, close


def test_flash_crash_gaps_every_symbol_and_recovers_linearly() -> None:
    open_, close = _prices()
    crash_day = close.index[4]
    new_open, new_close = flash_crash(open_, close, crash_day, gap=-0.10, recovery_days=4)

    # nothing before the crash changes, to the last bit
    pd.testing.assert_frame_equal(new_open.iloc[:4], open_.iloc[:4])
    pd.testing.assert_frame_equal(new_close.iloc[:4], close.iloc[:4])
    # the crash day: 0.9 times the original open and close of every symbol
    np.testing.assert_allclose(new_close.loc[crash_day], [0.9 * 104, 0.9 * 54, 0.9 * 14])
    np.testing.assert_allclose(new_open.loc[crash_day], [0.9 * 103.5, 0.9 * 53.5, 0.9 * 13.5])
    # the recovery: factors 0.925, 0.95, 0.975 on the next three days
    for offset, factor in ((1, 0.925), (2, 0.95), (3, 0.975)):
        np.testing.assert_allclose(new_close.iloc[4 + offset], factor * close.iloc[4 + offset])
        np.testing.assert_allclose(new_open.iloc[4 + offset], factor * open_.iloc[4 + offset])
    assert new_close.loc[close.index[6], "A"] == pytest.approx(0.95 * 106)
    # from the fourth day after the crash on, the original path
    pd.testing.assert_frame_equal(new_close.iloc[8:], close.iloc[8:])
    pd.testing.assert_frame_equal(new_open.iloc[8:], open_.iloc[8:])
    # the inputs are untouched
    pd.testing.assert_frame_equal(close, _prices()[1])


def test_flash_crash_near_the_end_and_bad_arguments() -> None:
    open_, close = _prices()
    _, late = flash_crash(open_, close, close.index[-2], gap=-0.2, recovery_days=10)
    np.testing.assert_allclose(late.iloc[-2], 0.8 * close.iloc[-2])
    np.testing.assert_allclose(late.iloc[-1], 0.82 * close.iloc[-1])  # 1 - 0.2 * 0.9
    pd.testing.assert_frame_equal(late.iloc[:-2], close.iloc[:-2])

    with pytest.raises(ValueError, match="not one of the dates"):
        flash_crash(open_, close, pd.Timestamp("2030-01-01"))
    with pytest.raises(ValueError, match="above -1"):
        flash_crash(open_, close, close.index[3], gap=-1.0)
    with pytest.raises(ValueError, match="recovery_days"):
        flash_crash(open_, close, close.index[3], recovery_days=0)
    with pytest.raises(ValueError, match="same dates"):
        flash_crash(open_.iloc[1:], close, close.index[3])
