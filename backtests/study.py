"""A backtest study: the model's book beside its baselines, the oracle bound, stress and a sensitivity grid.

Everything here runs on the same bars, the same dates and the same construction and
costs, so every number is comparable with every other:

- **strategies**: the model's long-only book (the headline) and its dollar-neutral
  long-short book; baselines: equal-weight buy-and-hold of the universe (the
  benchmark), 12-1 momentum, 5-day reversal, and any other score given (the model
  zoo's best single feature and ridge, refitted walk-forward like the model); on the
  simulator, the *oracle*: the same construction fed the conditional expectation of
  the label, the attainable bound.
- **stress**: the headline book with slippage x2 and x3, on the bear and range-bound
  days of the benchmark, through a flash crash, and on the champion's test period
  alone.
- **grid**: top-k x rebalance frequency x cost level x holding buffer, simulated in
  one vectorized pass. Its Sharpe ratios are the trials the deflated Sharpe ratio
  counts: the configurations actually tried on this backtest period.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from backtests.config import GridSpec, StudyConfig
from backtests.construction import (
    book_weights,
    rebalance_rows,
    select_members,
    spec_book,
)
from backtests.metrics import performance_summary, sharpe_ratio
from backtests.simulation import MAX_CELLS, Market, Simulation, simulate
from backtests.stress import BEAR, RANGE_BOUND, flash_crash, market_regimes

__all__ = [
    "BENCHMARK",
    "GridSpec",
    "StudyConfig",
    "StudyResult",
    "price_baselines",
    "run_study",
]

BENCHMARK = "buy_and_hold"
MOMENTUM_LOOKBACK, MOMENTUM_SKIP, REVERSAL_LOOKBACK = 252, 21, 5
DEFAULT_STUDY = StudyConfig()  # frozen: one instance serves as every default


@dataclass
class StudyResult:
    """What a study produced; ``metrics`` has one row per strategy, ``stress`` one per scenario."""

    headline: str
    metrics: pd.DataFrame
    simulation: Simulation
    stress: pd.DataFrame
    grid: pd.DataFrame
    regimes: pd.Series
    flash_crash_day: pd.Timestamp | None
    extras: dict[str, object] = field(default_factory=dict)


def price_baselines(close: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Scores from prices alone, known at each close: 12-1 momentum and 5-day reversal."""
    closes = close.ffill()
    momentum = closes.shift(MOMENTUM_SKIP) / closes.shift(MOMENTUM_LOOKBACK) - 1.0
    reversal = -(closes / closes.shift(REVERSAL_LOOKBACK) - 1.0)
    return {"momentum_12_1": momentum, "reversal_5d": reversal}


def run_study(
    market: Market,
    scores: Mapping[str, pd.DataFrame],
    model: str,
    config: StudyConfig = DEFAULT_STUDY,
    *,
    oracle: pd.DataFrame | None = None,
    test_start: pd.Timestamp | None = None,
    log: Callable[[str], None] = lambda _: None,
) -> StudyResult:
    """Backtest every strategy over ``market``'s dates from the model's first score on.

    Args:
        market: bars from before the first score on (baselines may look back); the
            backtest period starts at the model's first scored date.
        scores: wide (date x symbol) scores per strategy name, higher is better; must
            include ``model``. Scores are decisions after each date's close.
        model: the name of the model's scores (its books are the headline).
        oracle: the oracle's scores, when the source has one.
        test_start: first date of the champion's test period (a stress scenario).
    """
    if model not in scores:
        raise ValueError(f"scores has no {model!r}")
    start = scores[model].dropna(how="all").index.min()
    period = market.since(start)
    spec, costs = config.spec, config.costs
    aligned = {name: _align(frame, period) for name, frame in scores.items()}
    if oracle is not None:
        aligned["oracle"] = _align(oracle, period)
    returns = period.returns

    # the model first, then the benchmark and the other baselines, the oracle last
    order = [model, *(n for n in aligned if n not in (model, "oracle")), "oracle"]
    names: list[str] = []
    books: list[np.ndarray] = []
    for name in (n for n in order if n in aligned):
        names.append(name)
        books.append(spec_book(aligned[name], spec, returns))
        if name in (model, "oracle"):
            names.append(f"{name}_long_short")
            books.append(spec_book(aligned[name], replace(spec, long_short=True), returns))
        if name == model:
            names.append(BENCHMARK)
            books.append(_buy_and_hold(period))
    headline = model
    decisions = np.stack(books)
    # slippage stress: the headline book again, same orders, more slippage
    stress_books = decisions[[names.index(headline)] * 2]
    log(f"simulating {len(names)} strategies and 2 slippage stresses over {len(period.dates)} days")
    simulation = simulate(
        period,
        np.concatenate([decisions, stress_books]),
        [costs] * len(names) + [costs.with_slippage_scaled(2.0), costs.with_slippage_scaled(3.0)],
        [*names, "slippage_x2", "slippage_x3"],
        execution=config.execution,
        init_cash=config.init_cash,
    )

    grid = run_grid(period, aligned[model], config, returns)
    log(
        f"grid: {len(grid)} configurations, Sharpe {grid['sharpe'].min():.2f}..{grid['sharpe'].max():.2f}"
    )
    trial_sharpes = grid["sharpe"].to_numpy()
    benchmark = simulation.returns[BENCHMARK]

    def summary(column: str, days: pd.Index | None = None) -> dict[str, float]:
        values = simulation.column(column)
        bench = benchmark
        if days is not None:
            values, bench = values.loc[days], bench.loc[days]
        return performance_summary(
            values["returns"],
            bench,
            values["turnover"],
            n_trials=len(grid),
            trial_sharpes=trial_sharpes,
            gross_exposure=values["gross"],
        )

    metrics = pd.DataFrame([{"strategy": n, **summary(n)} for n in names])
    scenarios: list[dict[str, object]] = [
        {"scenario": "base", **summary(headline)},
        {"scenario": "slippage_x2", **summary("slippage_x2")},
        {"scenario": "slippage_x3", **summary("slippage_x3")},
    ]
    labels = market_regimes(benchmark)
    for regime in (BEAR, RANGE_BOUND):
        days = labels.index[labels == regime]
        row: dict[str, object] = {"scenario": regime, "days": len(days)}
        if len(days) >= 2:
            row |= summary(headline, days)
        scenarios.append(row)
    if test_start is not None:
        days = period.dates[period.dates >= test_start]
        scenarios.append({"scenario": "test_period", "days": len(days), **summary(headline, days)})
    crashed, crash_day = _crashed(period)
    index = [names.index(headline), names.index(BENCHMARK)]
    crash = simulate(
        crashed,
        decisions[index],
        costs,
        [headline, BENCHMARK],
        execution=config.execution,
        init_cash=config.init_cash,
    )
    scenarios.append(
        {
            "scenario": "flash_crash",
            **performance_summary(
                crash.returns[headline],
                crash.returns[BENCHMARK],
                crash.turnover[headline],
                n_trials=len(grid),
                trial_sharpes=trial_sharpes,
                gross_exposure=crash.gross[headline],
            ),
        }
    )
    stress = pd.DataFrame(scenarios)
    stress["days"] = stress["days"].fillna(len(period.dates)).astype(int)
    return StudyResult(
        headline=headline,
        metrics=metrics,
        simulation=simulation,
        stress=stress,
        grid=grid,
        regimes=labels,
        flash_crash_day=crash_day,
    )


def run_grid(
    period: Market, scores: np.ndarray, config: StudyConfig, returns: np.ndarray
) -> pd.DataFrame:
    """The sensitivity grid on ``scores``: every configuration, simulated a chunk of
    configurations at a time so that memory is bounded by ``MAX_CELLS``, not by the grid
    (one chunk on the default data; two configurations at a time at 3,000 symbols x
    10 years, where the 120 books alone would take 7 GB)."""
    table = pd.DataFrame(
        config.grid.configurations(), columns=["top_k", "rebalance_every", "cost_scale", "n_drop"]
    )
    chunk = max(1, MAX_CELLS // max(1, scores.size))
    parts = []
    for start in range(0, len(table), chunk):
        rows = table.iloc[start : start + chunk]
        rebalance = rebalance_rows(scores, rows["rebalance_every"].to_numpy())
        members = select_members(
            scores, rows["top_k"].to_numpy(), rows["n_drop"].to_numpy(), rebalance
        )
        decisions = book_weights(members, None, config.spec, returns)
        del members
        names = [f"grid_{i}" for i in rows.index]
        simulation = simulate(
            period,
            decisions,
            [config.costs.scaled(level) for level in rows["cost_scale"]],
            names,
            execution=config.execution,
            init_cash=config.init_cash,
        )
        total = simulation.value.iloc[-1] / config.init_cash - 1.0
        parts.append(
            rows.assign(
                sharpe=[sharpe_ratio(simulation.returns[n]) for n in names],
                total_return=total.to_numpy(),
                turnover=(simulation.turnover.mean() * 252).to_numpy(),
            )
        )
    return pd.concat(parts, ignore_index=True)


def _align(scores: pd.DataFrame, period: Market) -> np.ndarray:
    frame = scores.copy()
    frame.index = pd.to_datetime(frame.index)
    return frame.reindex(index=period.dates, columns=period.symbols).to_numpy(dtype=np.float64)


def _crashed(period: Market) -> tuple[Market, pd.Timestamp]:
    """The period with a -10% market-wide gap halfway through, recovered over 10 days."""
    day = period.dates[len(period.dates) // 2]
    open_, close = (
        pd.DataFrame(values, index=period.dates, columns=period.symbols)
        for values in (period.open, period.close)
    )
    crashed_open, crashed_close = flash_crash(open_, close, day)
    return period.with_prices(crashed_open.to_numpy(), crashed_close.to_numpy()), day


def _buy_and_hold(period: Market) -> np.ndarray:
    """Equal weight in every name with a bar on the first day, decided once, never rebalanced."""
    decisions = np.full(period.close.shape, np.nan)
    first = np.isfinite(period.close[0])
    decisions[0] = np.where(first, 1.0 / max(1, first.sum()), 0.0)
    return decisions
