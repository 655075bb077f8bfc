"""The names of the backtest metrics, apart from :mod:`backtests.metrics` (which computes
them) so that asset metadata formats them without importing pandas or numpy."""

from __future__ import annotations

METRIC_NAMES: tuple[str, ...] = (
    "total_return",
    "cagr",
    "volatility",
    "sharpe",
    "sortino",
    "calmar",
    "max_drawdown",
    "win_rate",
    "profit_factor",
    "turnover",
    "var_95",
    "cvar_95",
    "psr",
    "deflated_sharpe",
    "n_trials",
    "benchmark_sharpe",
    "max_drawdown_duration",
    "exposure",
    "beta",
    "alpha",
    "information_ratio",
    "excess_return_t",
)
"""Keys of :func:`performance_summary`, in the column order of ``backtest_metrics``."""

PERCENT_METRICS = frozenset(
    {
        "total_return",
        "cagr",
        "volatility",
        "max_drawdown",
        "win_rate",
        "var_95",
        "cvar_95",
        "exposure",
        "alpha",
    }
)
"""The metrics that are fractions of a whole: shown as percentages."""
