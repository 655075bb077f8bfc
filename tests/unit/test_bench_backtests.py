"""The backtest benchmark's backtrader strategy trades the engine's book."""

from __future__ import annotations

import numpy as np
import pytest

from bench.bench_backtests import (
    GRID,
    Config,
    grid_decisions,
    run_backtrader,
    run_grid,
    synthetic_panel,
    total_returns,
)


def test_grid_varies_every_dimension_over_100_configurations() -> None:
    assert len(GRID) == len({c.name for c in GRID}) == 100
    for field in ("top_k", "rebalance_every", "cost_level", "n_drop"):
        assert len({getattr(c, field) for c in GRID}) > 1


def test_panel_scores_predict_the_next_days_returns() -> None:
    panel = synthetic_panel(n_symbols=100, n_dates=500)
    # a score known at a close against the next day's open-to-close return
    next_day = panel.market.close[1:] / panel.market.open[1:] - 1.0
    ic = [np.corrcoef(panel.scores[t], next_day[t])[0, 1] for t in range(len(next_day))]
    assert np.mean(ic) > 0.01


def test_backtrader_trades_the_engines_books() -> None:
    from backtests.construction import rebalance_rows, select_members

    panel = synthetic_panel(n_symbols=30, n_dates=150, seed=3)
    configs = [Config(8, 1, 1.0, 0), Config(8, 5, 2.0, 4)]
    engine = total_returns(run_grid(panel, configs))
    members = select_members(
        panel.scores,
        np.array([c.top_k for c in configs]),
        np.array([c.n_drop for c in configs]),
        rebalance_rows(panel.scores, np.array([c.rebalance_every for c in configs])),
    )
    for config, engine_members in zip(configs, members, strict=True):
        backtrader = run_backtrader(panel, config)
        np.testing.assert_array_equal(backtrader.members, engine_members)
        # whole shares sized at the decision's close, and buys refused for cash where the
        # engine cuts them, make the difference
        assert np.sign(backtrader.total_return) == np.sign(engine[config.name])
        assert abs(backtrader.total_return - engine[config.name]) < 0.05
    weights = grid_decisions(panel, configs)
    decided = ~np.isnan(weights).all(axis=2)
    assert np.allclose(np.nansum(weights, axis=2)[decided], 1.0)


@pytest.mark.slow
def test_quick_run_reports_the_three_results() -> None:
    from bench.bench_backtests import run

    results = {r.name: r for r in run(quick=True)}
    assert set(results) == {
        "backtests_vs_backtrader",
        "backtests_vectorbt_vs_numpy",
        "backtests_vectorbt_numpy_agreement",
    }
    assert results["backtests_vectorbt_numpy_agreement"].holds
