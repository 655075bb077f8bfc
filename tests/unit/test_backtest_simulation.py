"""The simulation's rules on hand-made markets, and vectorbt against its plain-numpy twin."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from backtests.construction import PortfolioSpec, book_weights, rebalance_rows, select_members
from backtests.reference import simulate_reference
from backtests.simulation import CostModel, Market, plan_orders, simulate

FREE = CostModel(commission_bps=0.0, slippage_bps=0.0)


def market(open_: np.ndarray, close: np.ndarray, volume: np.ndarray | None = None) -> Market:
    n_dates, n_symbols = close.shape
    return Market(
        dates=pd.bdate_range("2024-01-01", periods=n_dates, name="date"),
        symbols=pd.Index([f"S{i}" for i in range(n_symbols)], name="symbol"),
        open=open_.astype(float),
        close=close.astype(float),
        volume=np.full(close.shape, 1e6) if volume is None else volume.astype(float),
    )


def one_decision(n_dates: int, row: int, weights: list[float]) -> np.ndarray:
    decisions = np.full((1, n_dates, len(weights)), np.nan)
    decisions[0, row] = weights
    return decisions


def random_market(seed: int = 0, n_dates: int = 260, n_symbols: int = 25) -> Market:
    rng = np.random.default_rng(seed)
    returns = rng.normal(0.0003, 0.02, (n_dates, n_symbols))
    close = 50 * np.exp(np.cumsum(np.log1p(returns), axis=0))
    open_ = close * np.exp(rng.normal(0, 0.006, close.shape))
    volume = rng.uniform(2e4, 2e5, close.shape)
    return market(open_, close, volume)


def grid_decisions(m: Market, long_short: bool, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    scores = np.roll(m.returns, -1, axis=0) + rng.normal(0, 0.02, m.close.shape)
    scores[:10] = np.nan
    top_k, n_drop, every = np.array([3, 5, 5, 8]), np.array([0, 0, 4, 2]), np.array([1, 5, 5, 10])
    rebalance = rebalance_rows(scores, every)
    long_members = select_members(scores, top_k, n_drop, rebalance)
    short_members = select_members(-scores, top_k, n_drop, rebalance) if long_short else None
    return book_weights(long_members, short_members, PortfolioSpec(long_short=long_short))


def test_open_execution_misses_the_overnight_jump_close_execution_misses_the_whole_day() -> None:
    # decided after the close of day 1; day 2 opens +10% (news overnight) and closes +20%
    close = np.array([[100.0], [100.0], [120.0], [120.0]])
    open_ = np.array([[100.0], [100.0], [110.0], [120.0]])
    m = market(open_, close)
    decisions = one_decision(4, 1, [1.0])
    at_open = simulate(m, decisions, FREE, ["s"], execution="open")
    at_close = simulate(m, decisions, FREE, ["s"], execution="close")
    # bought at 110, valued at 120: earns the intraday move only
    assert at_open.value["s"].iloc[2] == pytest.approx(1e6 * 120 / 110)
    # bought at the close of day 2: earns nothing of that day
    assert at_close.value["s"].iloc[2] == pytest.approx(1e6)
    assert at_open.returns["s"].iloc[:2].eq(0).all()


def test_future_decisions_never_change_past_value() -> None:
    m = random_market()
    decisions = grid_decisions(m, long_short=True)
    base = simulate(m, decisions, CostModel(), ["a", "b", "c", "d"])
    changed = decisions.copy()
    changed[:, 200:] = np.where(np.isnan(changed[:, 200:]), np.nan, changed[:, 200:][:, :, ::-1])
    later = simulate(m, changed, CostModel(), ["a", "b", "c", "d"])
    pd.testing.assert_frame_equal(base.value.iloc[:201], later.value.iloc[:201])


@pytest.mark.parametrize("long_short", [False, True])
@pytest.mark.parametrize(
    "costs",
    [
        FREE,
        CostModel(),
        CostModel(
            commission_bps=3.0,
            commission_per_share=0.01,
            slippage_bps=4.0,
            slippage_vol_mult=0.1,
            impact_coef=0.5,
            borrow_bps=50.0,
        ),
    ],
)
@pytest.mark.parametrize("execution", ["open", "close"])
def test_vectorbt_agrees_with_the_numpy_twin(
    long_short: bool, costs: CostModel, execution: str
) -> None:
    m = random_market()
    decisions = grid_decisions(m, long_short)
    names = ["a", "b", "c", "d"]
    engine = simulate(m, decisions, costs, names, execution=execution)
    twin = simulate_reference(m, plan_orders(m, decisions, costs, execution), names)
    total = engine.value.iloc[-1] / 1e6 - 1
    assert np.abs(total - (twin.value.iloc[-1] / 1e6 - 1)).max() < 1e-9
    np.testing.assert_allclose(engine.turnover, twin.turnover, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(engine.gross, twin.gross, rtol=1e-9, atol=1e-12)
    assert engine.n_orders.tolist() == twin.n_orders.tolist()


def test_costs_lower_returns_monotonically() -> None:
    m = random_market()
    decisions = grid_decisions(m, long_short=False)[:1]
    finals = [
        simulate(m, decisions, CostModel().scaled(level), ["a"]).value["a"].iloc[-1]
        for level in (0.0, 1.0, 2.0, 4.0)
    ]
    assert finals == sorted(finals, reverse=True)
    assert finals[0] > finals[-1]


def test_volume_scaled_slippage_on_a_hand_example() -> None:
    # 1e6 of capital buys 100% of one name whose 20-day dollar volume is 1e7: 10% of a day
    close = np.full((4, 1), 100.0)
    m = market(close.copy(), close, np.full((4, 1), 1e5))
    decisions = one_decision(4, 0, [1.0])
    costs = CostModel(commission_bps=0.0, slippage_bps=0.0, impact_coef=0.5)
    plan = plan_orders(m, decisions, costs)
    # impact = 0.5 x participation 0.1 = 5% of the price
    assert plan.slippage[0, 1, 0] == pytest.approx(0.05)
    result = simulate(m, decisions, costs, ["s"])
    # the buy is cut to the cash: 1e6 / 105 shares, worth 1e6 * 100 / 105 at the close
    assert result.value["s"].iloc[1] == pytest.approx(1e6 * 100 / 105)


def test_per_share_commission_is_a_rate_of_the_price() -> None:
    close = np.full((3, 1), 20.0)
    m = market(close.copy(), close)
    plan = plan_orders(m, one_decision(3, 0, [0.5]), CostModel(0.0, 0.02, 0.0))
    assert plan.fees[0, 1, 0] == pytest.approx(0.02 / 20.0)


def test_borrow_fee_is_charged_on_the_previous_close_short_exposure() -> None:
    close = np.full((5, 2), 50.0)
    m = market(close.copy(), close)
    decisions = one_decision(5, 0, [0.5, -0.5])
    result = simulate(m, decisions, CostModel(0.0, 0.0, 0.0, borrow_bps=252.0), ["s"])
    daily = 252.0 / 1e4 / 252
    # flat prices: the only return is the fee on 50% short from the day after the trade
    np.testing.assert_allclose(
        result.returns["s"].to_numpy(), [0, 0, -daily / 2, -daily / 2, -daily / 2]
    )


def test_a_missing_bar_defers_the_order_to_the_next_bar() -> None:
    close = np.array([[10.0, 10.0], [10.0, np.nan], [10.0, 12.0], [10.0, 12.0]])
    m = market(close.copy(), close)
    decisions = one_decision(4, 0, [0.5, 0.5])
    plan = plan_orders(m, decisions, FREE)
    assert np.isnan(plan.targets[0, 1, 1]) and plan.targets[0, 2, 1] == 0.5
    result = simulate(m, decisions, FREE, ["s"])
    # bought at 12 on day 2, not at the stale 10 of day 0: no gain on the holding
    assert result.value["s"].iloc[-1] == pytest.approx(1e6)


def test_invalid_inputs_are_rejected() -> None:
    m = random_market(n_dates=20, n_symbols=3)
    with pytest.raises(ValueError, match="decisions must be"):
        simulate(m, np.zeros((1, 19, 3)), FREE, ["a"])
    with pytest.raises(ValueError, match="names"):
        simulate(m, np.zeros((1, 20, 3)), FREE, ["a", "b"])
    with pytest.raises(ValueError, match="execution"):
        simulate(m, np.zeros((1, 20, 3)), FREE, ["a"], execution="vwap")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="slippage_bps"):
        CostModel(slippage_bps=-1.0)


def test_the_grid_in_chunks_of_configurations_equals_the_grid_in_one(monkeypatch) -> None:
    from backtests import study
    from backtests.config import GridSpec, StudyConfig

    m = random_market(seed=4, n_dates=120, n_symbols=12)
    rng = np.random.default_rng(2)
    scores = np.roll(m.returns, -1, axis=0) + rng.normal(0, 0.02, m.close.shape)
    config = StudyConfig(grid=GridSpec(top_k=(3, 5), rebalance_every=(1, 5), n_drop=(0, 2)))
    whole = study.run_grid(m, scores, config, m.returns)
    # three configurations' cells per chunk: 24 configurations in eight chunks
    monkeypatch.setattr(study, "MAX_CELLS", 3 * scores.size)
    chunked = study.run_grid(m, scores, config, m.returns)
    assert len(whole) == 24
    pd.testing.assert_frame_equal(whole, chunked)


def test_a_market_refuses_prices_at_or_below_zero_and_misshapen_arrays() -> None:
    close = np.array([[10.0, np.nan], [10.5, 20.0]])
    with pytest.raises(ValueError, match="> 0"):
        market(np.where(np.isnan(close), np.nan, 0.0), close)
    good = market(close, close)
    with pytest.raises(ValueError, match="dates x symbols"):
        Market(good.dates, good.symbols, close, close, close[:, :1])
