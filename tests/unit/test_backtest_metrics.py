"""Unit tests for backtests.metrics, against values computed independently here."""

from __future__ import annotations

import math
import statistics
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from backtests.metrics import (
    METRIC_NAMES,
    deflated_sharpe_ratio,
    drawdown_series,
    expected_max_sharpe,
    max_drawdown,
    max_drawdown_duration,
    monthly_returns,
    performance_summary,
    probabilistic_sharpe_ratio,
    sharpe_ratio,
)

# 21 daily returns: with 21 observations numpy's 5% quantile falls exactly on the
# second-smallest value (position 0.05 * 20 = 1), so VaR needs no interpolation.
KNOWN = [
    0.010,
    -0.020,
    0.015,
    0.000,
    0.005,
    -0.010,
    0.020,
    -0.030,
    0.012,
    0.004,
    -0.006,
    0.008,
    0.000,
    -0.004,
    0.018,
    -0.012,
    0.007,
    0.003,
    -0.001,
    0.011,
    0.009,
]


def _series(values: list[float]) -> pd.Series:
    return pd.Series(values, index=pd.bdate_range("2024-01-01", periods=len(values)))


def test_summary_matches_hand_computation() -> None:
    r = _series(KNOWN)
    bench = _series([0.001 * ((-1) ** i) + 0.0005 for i in range(len(KNOWN))])
    turnover = _series([0.5] + [0.1] * (len(KNOWN) - 1))

    got = performance_summary(r, bench, turnover=turnover)

    assert list(got) == list(METRIC_NAMES)
    assert all(isinstance(v, float) for v in got.values())

    n = len(KNOWN)
    growth = math.prod(1 + x for x in KNOWN)
    mean, stdev = statistics.fmean(KNOWN), statistics.stdev(KNOWN)
    assert got["total_return"] == pytest.approx(growth - 1)
    assert got["cagr"] == pytest.approx(growth ** (252 / n) - 1)
    assert got["volatility"] == pytest.approx(stdev * math.sqrt(252))
    assert got["sharpe"] == pytest.approx(mean / stdev * math.sqrt(252))
    downside = math.sqrt(sum(min(x, 0.0) ** 2 for x in KNOWN) / n)
    assert got["sortino"] == pytest.approx(mean / downside * math.sqrt(252))

    equity, peak, worst = 1.0, 1.0, 0.0
    for x in KNOWN:
        equity *= 1 + x
        peak = max(peak, equity)
        worst = min(worst, equity / peak - 1)
    assert got["max_drawdown"] == pytest.approx(worst)
    assert got["max_drawdown"] < 0
    assert got["calmar"] == pytest.approx(got["cagr"] / abs(worst))

    wins = sum(x > 0 for x in KNOWN)
    losses = sum(x < 0 for x in KNOWN)
    assert got["win_rate"] == pytest.approx(wins / (wins + losses))  # the two 0.0 days excluded
    assert got["profit_factor"] == pytest.approx(
        sum(x for x in KNOWN if x > 0) / -sum(x for x in KNOWN if x < 0)
    )
    ordered = sorted(KNOWN)
    assert got["var_95"] == pytest.approx(ordered[1]) == pytest.approx(-0.020)
    assert got["cvar_95"] == pytest.approx((ordered[0] + ordered[1]) / 2)
    assert got["turnover"] == pytest.approx((0.5 + 0.1 * (n - 1)) / n * 252)
    bmean, bstd = statistics.fmean(bench), statistics.stdev(bench)
    assert got["benchmark_sharpe"] == pytest.approx(bmean / bstd * math.sqrt(252))
    assert got["n_trials"] == 1.0
    assert got["deflated_sharpe"] == pytest.approx(got["psr"])


def test_drawdown_of_a_round_trip() -> None:
    # 1 -> 1.1 -> 0.55 -> 1.1: the fall from the 1.1 peak is exactly 50%.
    got = performance_summary(_series([0.1, -0.5, 1.0]), _series([0.0, 0.0, 0.0]))
    assert got["max_drawdown"] == pytest.approx(-0.5)
    assert got["total_return"] == pytest.approx(0.1)
    equity = pd.Series([100.0, 110.0, 55.0, 110.0, 120.0])
    assert max_drawdown(equity) == pytest.approx(-0.5)
    np.testing.assert_allclose(drawdown_series(equity), [0.0, 0.0, -0.5, 0.0, 0.0])
    # A loss on the very first day is a drawdown from the starting capital.
    assert performance_summary(_series([-0.1, 0.0]), _series([0.0, 0.0]))["max_drawdown"] == (
        pytest.approx(-0.1)
    )


def test_drawdown_duration_counts_days_from_peak_to_recovery() -> None:
    # peak 1.1 on day 1, below it on days 2-3, regained on day 4: 3 days
    assert max_drawdown_duration(pd.Series([1.0, 1.1, 1.0, 1.05, 1.1, 1.2])) == 3.0
    # never regained: from the peak to the last day
    assert max_drawdown_duration(pd.Series([1.0, 1.1, 1.0])) == 1.0
    # the longer of two drawdowns: days 0-2 (regained), then days 3-7 (open at the end)
    assert max_drawdown_duration(pd.Series([1.0, 0.9, 1.0, 1.2, 1.1, 1.0, 1.05, 1.15])) == 4.0
    assert max_drawdown_duration(pd.Series([1.0, 1.0, 1.1])) == 0.0
    assert math.isnan(max_drawdown_duration(pd.Series([], dtype=float)))

    # In the summary the curve starts at 1 before the first return.
    # 1 -> 1.1 -> 0.99 -> 1.0395 -> 1.10187 (regained on day 4) -> 1.0909 (open, 1 day)
    got = performance_summary(_series([0.1, -0.1, 0.05, 0.06, -0.01]), _series([0.0] * 5))
    assert got["max_drawdown_duration"] == 3.0
    # a loss on the first day: below the starting capital on days 1-2, back above on day 3
    got = performance_summary(_series([-0.1, 0.0, 0.2]), _series([0.0] * 3))
    assert got["max_drawdown_duration"] == 3.0


def test_exposure_is_the_mean_gross_exposure() -> None:
    r = _series([0.01, -0.01, 0.0, 0.02])
    got = performance_summary(r, r, gross_exposure=_series([1.0, 0.5, 0.0, 1.5]))
    assert got["exposure"] == pytest.approx(0.75)
    assert math.isnan(performance_summary(r, r)["exposure"])


def test_beta_alpha_and_information_ratio_by_hand() -> None:
    benchmark = [0.01, -0.02, 0.02, 0.01, 0.00]
    # twice the benchmark plus 10 bp a day: beta 2, daily intercept 0.001
    strategy = [2 * b + 0.001 for b in benchmark]
    got = performance_summary(_series(strategy), _series(benchmark))
    assert got["beta"] == pytest.approx(2.0)
    assert got["alpha"] == pytest.approx(0.001 * 252)
    # active return a = r - b = [0.011, -0.019, 0.021, 0.011, 0.001], mean 0.005,
    # deviations [0.006, -0.024, 0.016, 0.006, -0.004], sum of squares 920e-6
    assert got["information_ratio"] == pytest.approx(0.005 / math.sqrt(920e-6 / 4) * math.sqrt(252))
    # Newey-West with floor(4 * (5 / 100) ** (2 / 9)) = 2 lags, Bartlett weights 2/3, 1/3:
    # autocovariances (sums / 5) 184e-6, -91.2e-6 (lag 1), -22.4e-6 (lag 2)
    long_run = 184e-6 + 2 * (2 / 3) * -91.2e-6 + 2 * (1 / 3) * -22.4e-6
    assert got["excess_return_t"] == pytest.approx(0.005 / math.sqrt(long_run / 5))

    # A benchmark that does not move explains nothing: beta and alpha are undefined.
    flat = performance_summary(_series(strategy), _series([0.001] * 5))
    assert math.isnan(flat["beta"]) and math.isnan(flat["alpha"])
    assert math.isfinite(flat["information_ratio"])


def test_psr_matches_the_published_formula() -> None:
    rng = np.random.default_rng(11)
    r = pd.Series(rng.standard_t(5, size=750) * 0.01 + 0.0006)
    got = performance_summary(r, r)

    sr = r.mean() / r.std(ddof=1)
    g3 = stats.skew(r, bias=True)
    g4 = stats.kurtosis(r, fisher=False, bias=True)
    z = sr * math.sqrt(len(r) - 1) / math.sqrt(1 - g3 * sr + (g4 - 1) / 4 * sr**2)
    assert got["psr"] == pytest.approx(stats.norm.cdf(z), rel=1e-9)
    assert 0.0 < got["psr"] < 1.0


def test_psr_increases_with_sharpe() -> None:
    rng = np.random.default_rng(5)
    base = pd.Series(rng.normal(0.0, 0.01, size=500))
    psrs = [
        performance_summary(base + drift, base)["psr"] for drift in (-0.001, 0.0, 0.0005, 0.001)
    ]
    assert psrs == sorted(psrs)
    assert len(set(psrs)) == len(psrs)
    assert probabilistic_sharpe_ratio(0.05, 500) < probabilistic_sharpe_ratio(0.1, 500)
    # Longer track records make the same Sharpe ratio more convincing.
    assert probabilistic_sharpe_ratio(0.05, 250) < probabilistic_sharpe_ratio(0.05, 2500)


def test_deflated_sharpe_penalizes_many_trials() -> None:
    rng = np.random.default_rng(9)
    r = pd.Series(rng.normal(0.0008, 0.01, size=500))
    psr = performance_summary(r, r)["psr"]
    dsrs = [performance_summary(r, r, n_trials=n)["deflated_sharpe"] for n in (1, 2, 10, 100)]
    assert dsrs[0] == pytest.approx(psr)
    assert all(d <= psr for d in dsrs)
    assert dsrs == sorted(dsrs, reverse=True)
    assert dsrs[-1] < psr

    # A wider spread of trial Sharpe ratios makes the best one less surprising.
    narrow = deflated_sharpe_ratio(r, n_trials=50, trial_sharpes=[0.9, 1.0, 1.1])
    wide = deflated_sharpe_ratio(r, n_trials=50, trial_sharpes=[-2.0, 0.0, 2.0])
    assert wide < narrow <= psr
    # Identical trials carry no selection bias.
    assert deflated_sharpe_ratio(r, n_trials=50, trial_sharpes=[1.0, 1.0]) == pytest.approx(psr)


def test_deflated_sharpe_takes_the_trial_variance_directly() -> None:
    rng = np.random.default_rng(9)
    r = pd.Series(rng.normal(0.0008, 0.01, size=500))
    # the sample variance of [-2, 0, 2] is 4
    from_trials = deflated_sharpe_ratio(r, n_trials=50, trial_sharpes=[-2.0, 0.0, 2.0])
    assert deflated_sharpe_ratio(r, n_trials=50, trial_sharpe_variance=4.0) == pytest.approx(
        from_trials
    )
    summary = performance_summary(r, r, n_trials=50, trial_sharpe_variance=4.0)
    assert summary["deflated_sharpe"] == pytest.approx(from_trials)
    assert summary["n_trials"] == 50.0
    assert deflated_sharpe_ratio(r, n_trials=50, trial_sharpe_variance=0.0) == pytest.approx(
        summary["psr"]
    )
    with pytest.raises(ValueError, match="not both"):
        deflated_sharpe_ratio(r, n_trials=5, trial_sharpes=[0.0, 1.0], trial_sharpe_variance=1.0)
    with pytest.raises(ValueError, match=">= 0"):
        deflated_sharpe_ratio(r, n_trials=5, trial_sharpe_variance=-1.0)


def test_expected_max_sharpe_matches_simulation() -> None:
    rng = np.random.default_rng(0)
    simulated = rng.standard_normal((20_000, 100)).max(axis=1).mean()
    assert expected_max_sharpe(100, 1.0) == pytest.approx(simulated, abs=0.05)
    assert expected_max_sharpe(100, 4.0) == pytest.approx(2 * expected_max_sharpe(100, 1.0))
    assert expected_max_sharpe(1, 1.0) == 0.0
    with pytest.raises(ValueError):
        expected_max_sharpe(0, 1.0)


def test_degenerate_inputs_do_not_raise() -> None:
    flat = performance_summary(_series([0.0] * 10), _series([0.0] * 10))
    assert flat["total_return"] == 0.0
    assert flat["max_drawdown"] == 0.0
    assert flat["volatility"] == 0.0
    for key in (
        "sharpe",
        "sortino",
        "calmar",
        "win_rate",
        "profit_factor",
        "psr",
        "benchmark_sharpe",
    ):
        assert math.isnan(flat[key]), key
    # a benchmark that never moves and an active return that is always zero
    for key in ("beta", "alpha", "information_ratio", "excess_return_t"):
        assert math.isnan(flat[key]), key
    assert flat["max_drawdown_duration"] == 0.0

    rising = performance_summary(_series([0.001] * 10), _series([0.0] * 10))
    assert rising["volatility"] == 0.0
    assert rising["sharpe"] == math.inf
    assert rising["sortino"] == math.inf
    assert rising["profit_factor"] == math.inf
    assert rising["calmar"] == math.inf
    assert rising["win_rate"] == 1.0
    assert rising["psr"] == 1.0
    assert rising["deflated_sharpe"] == 1.0

    gains_only = performance_summary(_series([0.01, 0.02, 0.0, 0.03]), _series([0.0] * 4))
    assert gains_only["profit_factor"] == math.inf
    assert gains_only["sortino"] == math.inf
    assert math.isfinite(gains_only["sharpe"])

    empty = performance_summary(pd.Series([], dtype=float), pd.Series([], dtype=float))
    assert empty["n_trials"] == 1.0
    assert all(math.isnan(v) for k, v in empty.items() if k != "n_trials")

    with_nan = performance_summary(_series([0.01, np.nan, -0.01, 0.02]), _series([0.0] * 4))
    assert with_nan["total_return"] == pytest.approx(1.01 * 0.99 * 1.02 - 1)

    # Simulators report flat days as +-1e-16: that is not a loss.
    noisy = performance_summary(_series([0.1, -1e-16, 0.0, 0.05, 1e-17]), _series([0.0] * 5))
    assert noisy["win_rate"] == 1.0
    assert noisy["profit_factor"] == math.inf
    assert noisy["max_drawdown"] == 0.0

    # Compounding a short, huge run over a year overflows: CAGR is honestly infinite.
    assert performance_summary(_series([100.0]), _series([0.0]))["cagr"] == math.inf
    assert performance_summary(_series([-1.0, 0.1]), _series([0.0] * 2))["cagr"] == -1.0

    assert math.isnan(sharpe_ratio([0.01]))
    with pytest.raises(ValueError):
        performance_summary(_series(KNOWN), _series(KNOWN), n_trials=0)


def test_monthly_returns_compound_within_month() -> None:
    idx = pd.to_datetime(["2024-01-30", "2024-01-31", "2024-02-01", "2025-03-03"])
    table = monthly_returns(pd.Series([0.1, 0.1, -0.05, 0.02], index=idx))
    assert list(table.columns) == list(range(1, 13))
    assert list(table.index) == [2024, 2025]
    assert table.loc[2024, 1] == pytest.approx(0.21)
    assert table.loc[2024, 2] == pytest.approx(-0.05)
    assert table.loc[2025, 3] == pytest.approx(0.02)
    assert math.isnan(table.loc[2024, 3])


def test_light_imports_stay_light() -> None:
    """Loading the package must not pull vectorbt, plotting libraries or dagster."""
    code = (
        "import sys, backtests.metrics, backtests.construction, backtests.simulation\n"
        "import backtests.study, backtests.reference, backtests.report, backtests.stress\n"
        "heavy = [m for m in ('vectorbt', 'numba', 'plotly', 'matplotlib', 'dagster', 'scipy')"
        " if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
