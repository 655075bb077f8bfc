"""The speed of a sensitivity grid: vectorbt against backtrader and against plain numpy.

The grid is the issue's: top-k x rebalance frequency x cost level x holding buffer,
100 long-only equal-weight top-k configurations on one synthetic panel (500 symbols x
2,520 business days at full size), built with :mod:`backtests.construction` and traded
by :func:`backtests.simulation.simulate` in one call.

- backtests_vs_backtrader: the grid's seconds per configuration (construction and
  simulation, end to end, over 100) over backtrader's seconds per configuration, the
  same top-k strategy written as a ``bt.Strategy`` on the same panel (every feed, every
  bar), run on a sample of the grid's configurations. Goal <= 0.02: 50x faster.
- backtests_vectorbt_vs_numpy: the simulation of the grid (order plan and vectorbt)
  over the same order plan traded by :func:`backtests.reference.simulate_reference`,
  the plain-numpy bound (weights times returns, minus costs times turnover, one loop
  over dates vectorized over configurations and names). Goal <= 10.
- backtests_vectorbt_numpy_agreement: the largest absolute difference of total return
  between the two over every configuration, over 1e-9 (goal <= 1.0). Both trade the
  same ``OrderPlan``: the same fills (next bar's open, target percent of the value at
  the order prices, sells before buys), the same fees and slippage per order.

Every engine is warmed up on a small panel first, so numba's compilation is not timed.
Backtrader's figures differ from vectorbt's a little by design, and the detail says by
how much: it sizes whole shares from the decision day's close (vectorbt sizes
fractional shares from the fill day's open) and rejects a buy the cash cannot cover
where vectorbt cuts it.

``--quick`` runs the same grid on 50 symbols x 500 days and two backtrader
configurations.
"""

from __future__ import annotations

import itertools
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from bench.harness import BenchResult, best_of, compare
from bench.memory import GIB, peak_rss_during

ROOT = Path(__file__).resolve().parent.parent
INIT_CASH = 1_000_000.0
AGREEMENT_TOLERANCE = 1e-9

# 5 x 5 x 2 x 2 = 100 configurations
TOP_K = (10, 20, 30, 40, 50)
REBALANCE_EVERY = (1, 2, 5, 10, 21)
COST_LEVELS = (1.0, 2.0)  # multiples of 5 bp commission + 5 bp slippage per side
N_DROP = (0, 10)
BASE_COMMISSION_BPS = 5.0
BASE_SLIPPAGE_BPS = 5.0


@dataclass(frozen=True)
class Config:
    top_k: int
    rebalance_every: int
    cost_level: float
    n_drop: int

    @property
    def name(self) -> str:
        return (
            f"k{self.top_k}_every{self.rebalance_every}_cost{self.cost_level:g}_drop{self.n_drop}"
        )

    @property
    def commission(self) -> float:
        """Commission per side as a fraction of the traded notional."""
        return BASE_COMMISSION_BPS * self.cost_level / 1e4

    @property
    def slippage(self) -> float:
        """Slippage per side as a fraction of the price."""
        return BASE_SLIPPAGE_BPS * self.cost_level / 1e4


GRID = [
    Config(*values) for values in itertools.product(TOP_K, REBALANCE_EVERY, COST_LEVELS, N_DROP)
]
# backtrader's sample: the busiest configuration (daily, no buffer), a weekly one with a
# buffer, a monthly one at double cost
BACKTRADER_SAMPLE = [
    Config(10, 1, 1.0, 0),
    Config(30, 5, 1.0, 10),
    Config(50, 21, 2.0, 0),
]


@dataclass(frozen=True)
class Panel:
    """A synthetic market and the scores known at each close."""

    market: object  # backtests.simulation.Market
    scores: np.ndarray  # (dates x symbols)


def synthetic_panel(n_symbols: int, n_dates: int, seed: int = 0) -> Panel:
    """Bars of ``n_symbols`` names over ``n_dates`` business days and a score per name and day.

    Each name has a persistent alpha (AR(1), half-life about 7 days) that drifts its
    price intraday by 4 bp a day per standard deviation; the score at a close is the
    alpha plus as much noise (an IC of about 0.7 with the alpha), so a top-k book earns
    a little before costs. Returns are a market factor plus idiosyncratic noise, 40% of
    it overnight (close to open) and 60% intraday.
    """
    from backtests.simulation import Market

    rng = np.random.default_rng(seed)
    shape = (n_dates, n_symbols)
    persistence = 0.9
    alpha = np.empty(shape)
    alpha[0] = rng.normal(size=n_symbols)
    shocks = rng.normal(scale=np.sqrt(1 - persistence**2), size=shape)
    for t in range(1, n_dates):
        alpha[t] = persistence * alpha[t - 1] + shocks[t]
    noise = rng.normal(0.0003, 0.01, (n_dates, 1)) + rng.normal(0.0, 0.02, shape)
    drift = np.vstack([np.zeros((1, n_symbols)), 0.0004 * alpha[:-1]])
    overnight = 0.4 * noise
    intraday = 0.6 * noise + drift
    start = rng.uniform(20.0, 200.0, n_symbols)
    log_close = np.log(start) + np.cumsum(overnight + intraday, axis=0)
    close = np.exp(log_close)
    open_ = np.exp(log_close - intraday)
    volume = rng.uniform(2e5, 2e6, shape).round()
    market = Market(
        dates=pd.bdate_range("2015-01-02", periods=n_dates, name="date"),
        symbols=pd.Index([f"S{i:03d}" for i in range(n_symbols)], name="symbol"),
        open=open_,
        close=close,
        volume=volume,
    )
    return Panel(market=market, scores=alpha + rng.normal(size=shape))


def grid_decisions(panel: Panel, configs: list[Config]) -> np.ndarray:
    """(configurations x dates x symbols) target weights: top-k, long-only, equal."""
    from backtests.construction import PortfolioSpec, book_weights, rebalance_rows, select_members

    every = np.array([c.rebalance_every for c in configs])
    members = select_members(
        panel.scores,
        np.array([c.top_k for c in configs]),
        np.array([c.n_drop for c in configs]),
        rebalance_rows(panel.scores, every),
    )
    return book_weights(members, None, PortfolioSpec())


def cost_models(configs: list[Config]) -> list:
    from backtests.simulation import CostModel

    base = CostModel(commission_bps=BASE_COMMISSION_BPS, slippage_bps=BASE_SLIPPAGE_BPS)
    return [base.scaled(c.cost_level) for c in configs]


def run_grid(panel: Panel, configs: list[Config]):
    """The grid end to end: construction, then one simulation of every configuration."""
    from backtests.simulation import simulate

    decisions = grid_decisions(panel, configs)
    return simulate(
        panel.market,
        decisions,
        cost_models(configs),
        [c.name for c in configs],
        init_cash=INIT_CASH,
    )


def total_returns(simulation) -> pd.Series:
    return simulation.value.iloc[-1] / simulation.init_cash - 1.0


@dataclass(frozen=True)
class BacktraderRun:
    total_return: float
    rejected_buys: int
    """Buys the broker refused for want of cash (vectorbt cuts them to the cash left)."""
    members: np.ndarray
    """(dates x symbols) the names chosen on each rebalancing date, like ``select_members``."""


def run_backtrader(panel: Panel, config: Config) -> BacktraderRun:
    """One configuration of the grid as a backtrader strategy on every feed and bar."""
    import backtrader as bt

    market = panel.market
    scores = panel.scores

    class TopK(bt.Strategy):
        """Every ``rebalance_every`` scored days: keep held names ranked better than
        top_k + n_drop, top up to top_k with the best others, equal weights; market
        orders, filled at the next bar's open, sells first."""

        def __init__(self) -> None:
            self.held = np.zeros(len(market.symbols), dtype=bool)
            self.members = np.zeros(scores.shape, dtype=bool)
            self.n_scored_days = 0
            self.rejected = 0

        def notify_order(self, order: bt.Order) -> None:
            if order.status in (order.Margin, order.Rejected):
                self.rejected += 1

        def next(self) -> None:
            row = scores[len(self) - 1]
            scored = ~np.isnan(row)
            if not scored.any():
                return
            self.n_scored_days += 1
            if (self.n_scored_days - 1) % config.rebalance_every:
                return
            order = np.argsort(-row, kind="stable")
            rank = np.empty(row.size, dtype=np.int64)
            rank[order] = np.arange(row.size)
            k = min(config.top_k, int(scored.sum()))
            kept = [s for s in order[: k + config.n_drop] if self.held[s] and scored[s]][:k]
            others = [s for s in order[: int(scored.sum())] if s not in kept]
            members = kept + others[: k - len(kept)]
            self.held[:] = False
            self.held[members] = True
            self.members[len(self) - 1] = self.held
            value = self.broker.getvalue()
            current = np.array([self.getposition(d).size * d.close[0] / value for d in self.datas])
            target = np.where(self.held, 1.0 / k, 0.0)
            sells = np.nonzero(target < current)[0]
            buys = np.nonzero(target > current)[0]
            for s in itertools.chain(sells, buys):
                self.order_target_percent(self.datas[s], target=float(target[s]))

    cerebro = bt.Cerebro(stdstats=False)
    for s, symbol in enumerate(market.symbols):
        bars = pd.DataFrame(
            {
                "open": market.open[:, s],
                "high": np.maximum(market.open[:, s], market.close[:, s]),
                "low": np.minimum(market.open[:, s], market.close[:, s]),
                "close": market.close[:, s],
                "volume": market.volume[:, s],
            },
            index=market.dates,
        )
        cerebro.adddata(bt.feeds.PandasData(dataname=bars, openinterest=None), name=symbol)
    cerebro.addstrategy(TopK)
    cerebro.broker.setcash(INIT_CASH)
    cerebro.broker.setcommission(commission=config.commission)
    # slippage on opening fills too, and beyond the bar's range (it has no intraday range)
    cerebro.broker.set_slippage_perc(config.slippage, slip_open=True, slip_out=True)
    (strategy,) = cerebro.run()
    return BacktraderRun(
        total_return=cerebro.broker.getvalue() / INIT_CASH - 1.0,
        rejected_buys=strategy.rejected,
        members=strategy.members,
    )


def _warm_up() -> None:
    """Compile the numba kernels (construction, order plan, vectorbt) outside the timings."""
    from backtests.reference import simulate_reference
    from backtests.simulation import plan_orders

    small = synthetic_panel(10, 60, seed=1)
    configs = GRID[:2]
    run_grid(small, configs)
    plan = plan_orders(small.market, grid_decisions(small, configs), cost_models(configs))
    simulate_reference(small.market, plan, [c.name for c in configs])


def _engines(panel: Panel, repeat: int) -> tuple[float, float, float, pd.Series]:
    """Seconds of vectorbt and of plain numpy on the grid's decisions, each with its order
    plan, the order plan's own seconds, and numpy's total returns."""
    from backtests.reference import simulate_reference
    from backtests.simulation import plan_orders, simulate

    decisions = grid_decisions(panel, GRID)
    costs = cost_models(GRID)
    names = [c.name for c in GRID]
    vectorbt_seconds = best_of(
        lambda: simulate(panel.market, decisions, costs, names, init_cash=INIT_CASH), repeat
    )
    reference = []

    def numpy_bound() -> None:
        plan = plan_orders(panel.market, decisions, costs, init_cash=INIT_CASH)
        reference[:] = [simulate_reference(panel.market, plan, names, init_cash=INIT_CASH)]

    numpy_seconds = best_of(numpy_bound, repeat)
    plan_seconds = best_of(
        lambda: plan_orders(panel.market, decisions, costs, init_cash=INIT_CASH), repeat
    )
    return vectorbt_seconds, numpy_seconds, plan_seconds, total_returns(reference[0])


def run(quick: bool) -> list[BenchResult]:
    os.environ.setdefault("NUMBA_CACHE_DIR", str(ROOT / ".cache" / "numba"))
    n_symbols, n_dates = (50, 500) if quick else (500, 2520)
    sample = BACKTRADER_SAMPLE[:2] if quick else BACKTRADER_SAMPLE
    repeat = 2
    panel = synthetic_panel(n_symbols, n_dates)
    size = f"{n_symbols} symbols x {n_dates} days"
    _warm_up()

    # the grid end to end, and its peak memory
    started = time.perf_counter()
    grid, peak = peak_rss_during(lambda: run_grid(panel, GRID))
    grid_seconds = time.perf_counter() - started
    grid_returns = total_returns(grid)
    del grid
    grid_seconds = min(grid_seconds, best_of(lambda: run_grid(panel, GRID), repeat=repeat - 1))
    construction_seconds = best_of(lambda: grid_decisions(panel, GRID), repeat)

    vectorbt_seconds, numpy_seconds, plan_seconds, numpy_returns = _engines(panel, repeat)
    difference = (grid_returns - numpy_returns).abs()

    # backtrader, one configuration at a time
    backtrader_seconds = []
    comparisons = []
    for config in sample:
        started = time.perf_counter()
        backtrader = run_backtrader(panel, config)
        backtrader_seconds.append(time.perf_counter() - started)
        comparisons.append(
            f"{config.name}: total return backtrader {backtrader.total_return:+.2%} "
            f"({backtrader.rejected_buys} buys rejected for cash) vs vectorbt "
            f"{grid_returns[config.name]:+.2%}, {backtrader_seconds[-1]:.1f}s"
        )

    n_configs = len(GRID)
    cube = n_configs * n_dates * n_symbols * np.dtype(np.float64).itemsize
    per_config = grid_seconds / n_configs
    backtrader_per_config = float(np.mean(backtrader_seconds))
    grid_detail = (
        f"{size}, {n_configs} configurations (top_k {TOP_K} x rebalance_every "
        f"{REBALANCE_EVERY} x cost level {COST_LEVELS} of {BASE_COMMISSION_BPS:g} bp "
        f"commission + {BASE_SLIPPAGE_BPS:g} bp slippage per side x n_drop {N_DROP}); "
        f"grid {grid_seconds:.2f}s end to end, fastest of {repeat} (alone: construction "
        f"{construction_seconds:.2f}s, simulation {vectorbt_seconds:.2f}s), "
        f"{per_config * 1000:.1f} ms per configuration; peak RSS {peak / GIB:.2f} GiB "
        f"(one configurations x dates x symbols float64 array is {cube / GIB:.2f} GiB: "
        "the decisions; the order plan is built a chunk of configurations at a time)"
    )
    return [
        compare(
            "backtests_vs_backtrader",
            candidate_seconds=per_config,
            baseline="backtrader, the same top-k strategy, per configuration",
            baseline_seconds=backtrader_per_config,
            goal=0.02,
            detail=f"{grid_detail}; backtrader on {len(sample)} of them, one run each: "
            + "; ".join(comparisons),
        ),
        compare(
            "backtests_vectorbt_vs_numpy",
            candidate_seconds=vectorbt_seconds / n_configs,
            baseline="plain-numpy simulation of the same order plan, per configuration",
            baseline_seconds=numpy_seconds / n_configs,
            goal=10.0,
            detail=f"{size}, {n_configs} configurations in one call each, the same order "
            f"plan ({plan_seconds:.2f}s) included on both sides; vectorbt "
            f"{vectorbt_seconds:.2f}s, numpy {numpy_seconds:.2f}s; fastest of {repeat}",
        ),
        BenchResult(
            name="backtests_vectorbt_numpy_agreement",
            baseline=f"tolerance {AGREEMENT_TOLERANCE:g} on total return",
            ratio=float(difference.max() / AGREEMENT_TOLERANCE),
            goal=1.0,
            holds=bool(difference.max() <= AGREEMENT_TOLERANCE),
            seconds=0.0,
            baseline_seconds=0.0,
            detail=f"max |vectorbt - numpy| total return over {n_configs} configurations "
            f"{difference.max():.2e} ({difference.idxmax()}); both trade the same order "
            "plan: fills at the next bar's open, target percent of the value at the "
            "order prices, sells before buys, the same fees and slippage per order; "
            f"total returns from {grid_returns.min():+.1%} to {grid_returns.max():+.1%}",
        ),
    ]
