"""Performance and risk statistics of a daily return series.

Pure numpy/pandas (the normal distribution comes from :mod:`statistics`), so importing
this module is cheap: sensors, checks and notebooks read metrics without paying for
vectorbt or plotting libraries.

Conventions used everywhere in this module:

- returns are daily *simple* returns (``r_t = V_t / V_{t-1} - 1``), one per trading day;
- annualization uses :data:`TRADING_DAYS` = 252 (``sqrt(252)`` for volatility-like
  quantities, compounding over ``T / 252`` years for growth);
- Sharpe and Sortino ratios use a zero risk-free rate;
- NaN returns are dropped before any statistic is computed, and returns within
  1e-12 of zero (floating-point noise of a simulator on a flat day) count as 0;
- statistics against the benchmark (beta, alpha, information ratio, excess-return
  t-statistic) use the days on which both the strategy and the benchmark have a return
  (the two series are aligned on their index).

Degenerate inputs never raise. A statistic is ``inf`` only when it is a ratio whose
numerator is non-zero and whose denominator is exactly zero (for example the Sharpe
ratio of a constant positive return), and ``NaN`` when it is undefined (0/0, or too
few observations).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import NormalDist

import numpy as np
import pandas as pd

from backtests.metric_names import METRIC_NAMES, PERCENT_METRICS
from ml.metrics import hac_t_stat

__all__ = [
    "METRIC_NAMES",
    "PERCENT_METRICS",
    "TRADING_DAYS",
    "deflated_sharpe_ratio",
    "drawdown_series",
    "equity_curve",
    "expected_max_sharpe",
    "max_drawdown",
    "max_drawdown_duration",
    "monthly_returns",
    "performance_summary",
    "probabilistic_sharpe_ratio",
    "rolling_sharpe",
    "sharpe_ratio",
]

TRADING_DAYS = 252
"""Trading days per year used to annualize every statistic."""

_EULER_GAMMA = 0.5772156649015329
# Below this a standard deviation is treated as zero: a constant series computed in
# floating point can show a dispersion of ~1e-19 that would otherwise turn into a
# meaningless Sharpe ratio of 1e15.
_ZERO_DISPERSION = 1e-12
# Daily returns this small (1e-8 of a basis point) are rounding noise, i.e. flat days.
_FLAT_RETURN = 1e-12
_NORMAL = NormalDist()


def _clean(returns: pd.Series | Sequence[float] | np.ndarray) -> np.ndarray:
    """Float array of the non-NaN returns, with float noise (``|r| <= 1e-12``) set to 0.

    A simulator that values positions as cash plus shares times price reports flat
    days as +-1e-16 rather than 0; left alone, that noise would count as wins and
    losses and turn "no losses" into a profit factor of 1e15.
    """
    values = np.asarray(returns, dtype=float).ravel()
    values = values[~np.isnan(values)]
    return np.where(np.abs(values) <= _FLAT_RETURN, 0.0, values)


def _ratio(numerator: float, denominator: float) -> float:
    """``numerator / denominator`` that is +-inf for x/0 and NaN for 0/0 or NaN operands."""
    if math.isnan(numerator) or math.isnan(denominator):
        return math.nan
    if denominator == 0.0:
        if numerator == 0.0:
            return math.nan
        return math.copysign(math.inf, numerator)
    return numerator / denominator


def _sharpe_daily(values: np.ndarray) -> float:
    """Non-annualized Sharpe ratio ``mean / std`` (ddof=1) of a clean return array."""
    if values.size < 2:
        return math.nan
    mean = float(values.mean())
    std = float(values.std(ddof=1))
    if std <= _ZERO_DISPERSION:
        std = 0.0
    return _ratio(mean, std)


def _annualized_growth(growth: float, n_obs: int) -> float:
    """``growth ** (252 / T) - 1``; -1.0 once everything is lost, inf if it overflows."""
    if growth <= 0.0:
        return -1.0
    try:
        return growth ** (TRADING_DAYS / n_obs) - 1.0
    except OverflowError:
        return math.inf


def _volatility(values: np.ndarray) -> float:
    """Annualized sample standard deviation, exactly 0.0 below the zero-dispersion threshold."""
    if values.size < 2:
        return math.nan
    std = float(values.std(ddof=1))
    return 0.0 if std <= _ZERO_DISPERSION else std * math.sqrt(TRADING_DAYS)


def sharpe_ratio(returns: pd.Series | Sequence[float] | np.ndarray) -> float:
    """Annualized Sharpe ratio with zero risk-free rate: ``mean / std * sqrt(252)``.

    The standard deviation is the sample one (ddof=1). NaN with fewer than two
    observations or when all returns are zero; +-inf for a constant non-zero return.
    """
    return _sharpe_daily(_clean(returns)) * math.sqrt(TRADING_DAYS)


def equity_curve(returns: pd.Series, initial: float = 1.0) -> pd.Series:
    """Compounded value of ``initial`` invested at the start of the return series.

    ``equity[t] = initial * prod(1 + r[:t+1])``; NaN returns count as flat days so the
    curve keeps the index of ``returns``.
    """
    return initial * (1.0 + returns.astype(float).fillna(0.0)).cumprod()


def drawdown_series(equity: pd.Series) -> pd.Series:
    """Relative distance of an equity curve below its running peak (0 or negative).

    ``drawdown[t] = equity[t] / max(equity[:t+1]) - 1``. The peak is taken over the
    curve itself, so pass a curve that includes its starting value (as
    :class:`~backtests.portfolio.BacktestResult` equity does) when a loss on the first
    day should count as a drawdown.
    """
    equity = equity.astype(float)
    return equity / equity.cummax() - 1.0


def max_drawdown(equity: pd.Series) -> float:
    """Deepest drawdown of an equity curve as a negative fraction (e.g. -0.12), 0.0 if none.

    NaN for an empty curve.
    """
    if equity.dropna().empty:
        return math.nan
    return float(drawdown_series(equity.dropna()).min())


def _longest_drawdown_days(equity: np.ndarray) -> float:
    """Longest peak-to-recovery stretch of an equity array, in steps (see max_drawdown_duration)."""
    if equity.size == 0:
        return math.nan
    underwater = equity < np.maximum.accumulate(equity)
    if not underwater.any():
        return 0.0
    # Runs of consecutive underwater steps: a run of n steps that ends before the last
    # step is followed by the recovery, so it spans n + 1 steps from its peak; a run that
    # reaches the end spans n steps from its peak to the end.
    edges = np.diff(np.concatenate(([0], underwater.astype(np.int8), [0])))
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    spans = stops - starts + (stops < equity.size)
    return float(spans.max())


def max_drawdown_duration(equity: pd.Series) -> float:
    """Longest time, in trading days (steps of the curve), from a peak to the day the
    equity first regains it, or to the last day if it never does.

    ``[1.0, 1.1, 1.0, 1.05, 1.1]`` gives 3 (peak on day 1, regained on day 4);
    ``[1.0, 1.1, 1.0]`` gives 1 (still below the peak on the last day). A float, like
    every statistic here: 0.0 for a curve that never falls, NaN for an empty one. As
    with :func:`max_drawdown`, pass a curve that includes its starting value when a
    loss on the first day counts.
    """
    return _longest_drawdown_days(equity.dropna().to_numpy(dtype=float))


def rolling_sharpe(returns: pd.Series, window: int = 63) -> pd.Series:
    """Annualized Sharpe ratio over a trailing window of ``window`` days (63 = one quarter).

    Values are NaN until a full window is available and where the window has no
    dispersion, so that a plot is never dominated by a division by ~0.
    """
    returns = returns.astype(float)
    mean = returns.rolling(window, min_periods=window).mean()
    std = returns.rolling(window, min_periods=window).std(ddof=1)
    std = std.where(std > _ZERO_DISPERSION)
    return mean / std * math.sqrt(TRADING_DAYS)


def monthly_returns(returns: pd.Series) -> pd.DataFrame:
    """Compounded return of each calendar month, as a year x month (1..12) table.

    Months without data are NaN, which is what a heatmap or a table should show.
    """
    returns = returns.astype(float).dropna()
    columns = pd.Index(range(1, 13), name="month")
    if returns.empty:
        return pd.DataFrame(columns=columns, index=pd.Index([], name="year"), dtype=float)
    monthly = (1.0 + returns).groupby([returns.index.year, returns.index.month]).prod() - 1.0
    table = monthly.unstack()
    table.index.name = "year"
    table.columns.name = "month"
    return table.reindex(columns=columns)


def probabilistic_sharpe_ratio(
    sharpe: float,
    n_obs: int,
    skew: float = 0.0,
    kurtosis: float = 3.0,
    benchmark_sharpe: float = 0.0,
) -> float:
    """Probability that the true Sharpe ratio exceeds ``benchmark_sharpe`` (Bailey & Lopez de Prado, 2012).

    ``PSR = Phi((SR - SR*) * sqrt(T - 1) / sqrt(1 - g3 * SR + (g4 - 1) / 4 * SR**2))``

    where ``SR`` and ``SR*`` are *non-annualized* (daily) Sharpe ratios, ``T`` the
    number of returns, ``g3`` the skewness and ``g4`` the (Pearson, non-excess)
    kurtosis of the returns. It corrects a Sharpe ratio for track-record length and
    for fat tails / negative skew, which inflate the apparent significance of a
    backtest. NaN when ``T < 2`` or the inputs are NaN; 1.0 or 0.0 when ``SR`` is
    +-inf (a constant return), or when the variance term is zero.
    """
    if n_obs < 2 or math.isnan(sharpe) or math.isnan(benchmark_sharpe):
        return math.nan
    if math.isinf(sharpe):
        return 1.0 if sharpe > benchmark_sharpe else 0.0
    if math.isnan(skew) or math.isnan(kurtosis):
        return math.nan
    variance = 1.0 - skew * sharpe + (kurtosis - 1.0) / 4.0 * sharpe**2
    if variance <= 0.0:
        # Only reachable at the boundary kurtosis = skew**2 + 1 (a two-point distribution).
        if sharpe == benchmark_sharpe:
            return 0.5
        return 1.0 if sharpe > benchmark_sharpe else 0.0
    z = (sharpe - benchmark_sharpe) * math.sqrt(n_obs - 1) / math.sqrt(variance)
    return _NORMAL.cdf(z)


def expected_max_sharpe(n_trials: int, variance: float) -> float:
    """Expected maximum of ``n_trials`` Sharpe estimates whose true value is zero.

    ``E[max SR] ~= sqrt(V) * ((1 - g) * Z(1 - 1/N) + g * Z(1 - 1/(N e)))`` with ``g`` the
    Euler-Mascheroni constant and ``Z`` the standard normal quantile (Bailey & Lopez de
    Prado, 2014, "The Deflated Sharpe Ratio"). This is the bar the best of ``N``
    unskilled strategies clears by luck alone. Zero for a single trial. Same scale as
    ``variance`` (pass daily-scale variance for a daily Sharpe ratio).
    """
    if n_trials < 1:
        raise ValueError(f"n_trials must be at least 1, got {n_trials}")
    if n_trials == 1 or variance == 0.0:
        return 0.0
    if math.isnan(variance) or variance < 0.0:
        return math.nan
    n = float(n_trials)
    z = (1.0 - _EULER_GAMMA) * _NORMAL.inv_cdf(1.0 - 1.0 / n) + _EULER_GAMMA * _NORMAL.inv_cdf(
        1.0 - 1.0 / (n * math.e)
    )
    return math.sqrt(variance) * z


def deflated_sharpe_ratio(
    returns: pd.Series | Sequence[float] | np.ndarray,
    n_trials: int = 1,
    trial_sharpes: Sequence[float] | None = None,
    trial_sharpe_variance: float | None = None,
) -> float:
    """PSR of ``returns`` against the Sharpe ratio the best of ``n_trials`` lucky trials would show.

    The benchmark is :func:`expected_max_sharpe` with the variance of the trials'
    Sharpe ratios, on the **annualized** scale of the ``sharpe`` metric (it is converted
    to the daily scale by dividing by 252). It comes from, in this order:

    - ``trial_sharpe_variance``, the variance across trials of their annualized Sharpe
      ratios, when given and finite;
    - otherwise the sample variance (ddof=1) of ``trial_sharpes``, the annualized
      Sharpe ratios of the trials, when at least two of them are finite;
    - otherwise the sampling variance of a daily Sharpe estimate under the null,
      ``1 / (T - 1)``.

    With ``n_trials == 1`` it equals the PSR against zero.

    Which trials to count: the ones whose selection could have inflated *this* Sharpe
    ratio, i.e. the configurations tried on the same backtest period (a sensitivity
    grid of top-k, rebalance frequency, costs, ...), with ``n_trials`` their number and
    ``trial_sharpe_variance`` the variance of their Sharpe ratios over that period.
    Hyper-parameter trials selected on a validation metric of another period do not
    select on this backtest and are not the right count. The variance can be passed
    alone because a vectorized grid reports it without handing over every trial's
    series.

    Raises:
        ValueError: if ``n_trials < 1``, if ``trial_sharpe_variance`` is negative, or if
            both ``trial_sharpes`` and ``trial_sharpe_variance`` are given.
    """
    values = _clean(returns)
    n_obs = int(values.size)
    if n_trials < 1:
        raise ValueError(f"n_trials must be at least 1, got {n_trials}")
    if trial_sharpes is not None and trial_sharpe_variance is not None:
        raise ValueError("give trial_sharpes or trial_sharpe_variance, not both")
    if trial_sharpe_variance is not None and trial_sharpe_variance < 0.0:
        raise ValueError(f"trial_sharpe_variance must be >= 0, got {trial_sharpe_variance}")
    sharpe = _sharpe_daily(values)
    skew, kurtosis = _moments(values)
    variance = math.nan
    if trial_sharpe_variance is not None:
        variance = float(trial_sharpe_variance) / TRADING_DAYS
    elif trial_sharpes is not None:
        trials = np.asarray(list(trial_sharpes), dtype=float)
        trials = trials[np.isfinite(trials)]
        if trials.size >= 2:
            variance = float(trials.var(ddof=1)) / TRADING_DAYS
    if not math.isfinite(variance):
        variance = 1.0 / (n_obs - 1) if n_obs >= 2 else math.nan
    benchmark = expected_max_sharpe(n_trials, variance)
    return probabilistic_sharpe_ratio(sharpe, n_obs, skew, kurtosis, benchmark)


def _against_benchmark(returns: pd.Series, benchmark_returns: pd.Series) -> dict[str, float]:
    """beta, alpha, information_ratio and excess_return_t on the days both have a return."""
    both = pd.concat(
        [returns.astype(float), benchmark_returns.astype(float)], axis=1, join="inner"
    ).dropna()
    r = _clean(both.iloc[:, 0])
    b = _clean(both.iloc[:, 1])
    out = dict.fromkeys(("beta", "alpha", "information_ratio", "excess_return_t"), math.nan)
    if r.size < 2:
        return out
    active = r - b
    out["information_ratio"] = _sharpe_daily(active) * math.sqrt(TRADING_DAYS)
    out["excess_return_t"] = hac_t_stat(active)
    centered = b - b.mean()
    # population moments on both sides of the ratio: the ddof cancels
    benchmark_variance = float(np.mean(centered**2))
    if math.sqrt(benchmark_variance) > _ZERO_DISPERSION:
        beta = float(np.mean(centered * r)) / benchmark_variance
        out["beta"] = beta
        out["alpha"] = (float(r.mean()) - beta * float(b.mean())) * TRADING_DAYS
    return out


def _moments(values: np.ndarray) -> tuple[float, float]:
    """Population skewness and Pearson kurtosis; (0, 3) (the normal's) if there is no dispersion.

    Population (biased) moments are used on purpose: they satisfy
    ``kurtosis >= skew**2 + 1``, which keeps the PSR variance term non-negative.
    """
    if values.size < 2:
        return math.nan, math.nan
    centered = values - values.mean()
    m2 = float(np.mean(centered**2))
    if math.sqrt(m2) <= _ZERO_DISPERSION:
        return 0.0, 3.0
    m3 = float(np.mean(centered**3))
    m4 = float(np.mean(centered**4))
    return m3 / m2**1.5, m4 / m2**2


def performance_summary(
    returns: pd.Series,
    benchmark_returns: pd.Series,
    turnover: pd.Series | None = None,
    n_trials: int = 1,
    trial_sharpes: Sequence[float] | None = None,
    *,
    gross_exposure: pd.Series | None = None,
    trial_sharpe_variance: float | None = None,
) -> dict[str, float]:
    """The statistics stored in ``backtest_metrics``, as plain floats keyed by column name.

    With ``r`` the daily returns (NaN dropped) and ``T`` their number:

    - ``total_return``: ``prod(1 + r) - 1``.
    - ``cagr``: ``(1 + total_return) ** (252 / T) - 1`` (-1.0 if everything was lost,
      inf if a short, huge run overflows when compounded to a year).
    - ``volatility``: ``std(r, ddof=1) * sqrt(252)``.
    - ``sharpe``: ``mean(r) / std(r, ddof=1) * sqrt(252)``, zero risk-free rate.
    - ``sortino``: ``mean(r) / DD * sqrt(252)`` with the downside deviation
      ``DD = sqrt(mean(min(r, 0) ** 2))`` over all days (target return 0).
    - ``calmar``: ``cagr / |max_drawdown|``.
    - ``max_drawdown``: deepest fall of the compounded equity (starting at 1 before the
      first return) below its running peak, a negative fraction such as -0.12.
    - ``win_rate``: share of days with ``r > 0`` among days with ``r != 0`` (flat days,
      e.g. in cash, are neither wins nor losses).
    - ``profit_factor``: ``sum(r[r > 0]) / |sum(r[r < 0])|``.
    - ``turnover``: ``mean(turnover) * 252``, the annualized daily one-way turnover
      (``sum |weight change| / 2`` per day); NaN when ``turnover`` is not given.
    - ``var_95``: historical 5% quantile of ``r`` (numpy's linear interpolation), the
      daily loss exceeded on 1 day in 20; negative for any strategy that can lose.
    - ``cvar_95``: mean of the returns at or below ``var_95`` (expected shortfall).
    - ``psr``: :func:`probabilistic_sharpe_ratio` of the daily Sharpe ratio against 0,
      with the skewness and kurtosis of ``r``: the probability that the true Sharpe
      ratio is positive.
    - ``deflated_sharpe``: :func:`deflated_sharpe_ratio`, the PSR against the expected
      maximum Sharpe ratio of ``n_trials`` unskilled trials; the variance of the
      trials' annualized Sharpe ratios is ``trial_sharpe_variance``, or that of
      ``trial_sharpes``. Count the configurations tried on this backtest period (the
      sensitivity grid), not hyper-parameter trials selected on another metric: see
      :func:`deflated_sharpe_ratio`. Equals ``psr`` when ``n_trials == 1`` and is never
      above it otherwise.
    - ``n_trials``: ``n_trials``, as a float.
    - ``benchmark_sharpe``: ``sharpe`` of ``benchmark_returns``.
    - ``max_drawdown_duration``: :func:`max_drawdown_duration` of the same equity as
      ``max_drawdown``, in trading days: the longest stretch from a peak to the day
      it is regained (or to the last day if it never is).
    - ``exposure``: mean of ``gross_exposure`` (``sum |weight|`` per day, 1.0 for a
      fully invested long-only book, 2.0 for a 100/100 long-short one); NaN when
      ``gross_exposure`` is not given.

    Against the benchmark, on the days both series have a return, with ``b`` the
    benchmark's returns and ``a = r - b`` the active return:

    - ``beta``: ``cov(r, b) / var(b)``, the slope of the CAPM regression of ``r`` on
      ``b`` (zero risk-free rate); NaN when the benchmark does not move.
    - ``alpha``: the regression's daily intercept ``mean(r) - beta * mean(b)``, times
      252 (annualized by simple scaling, not compounded).
    - ``information_ratio``: ``mean(a) / std(a, ddof=1) * sqrt(252)``.
    - ``excess_return_t``: t-statistic of ``mean(a)`` with Newey-West (HAC) standard
      errors (:func:`ml.metrics.hac_t_stat`, Newey and West's default lag count), so
      that autocorrelated active returns do not overstate significance; NaN with
      fewer than three days or a constant active return.

    Degenerate input does not raise. Ratios are ``+-inf`` when the denominator is zero
    and the numerator is not (``sharpe`` and ``sortino`` of a constant positive return,
    ``sortino``/``profit_factor``/``calmar`` of a series without losses) and ``NaN`` when
    both are zero or there are too few observations (fewer than 2 for dispersion-based
    statistics, none for the others). ``psr`` is 1.0/0.0 for a constant positive/negative
    return. Empty ``returns`` give NaN everywhere except ``n_trials``, ``turnover``,
    ``exposure`` and ``benchmark_sharpe``, which do not depend on them.

    Raises:
        ValueError: if ``n_trials < 1``, or as :func:`deflated_sharpe_ratio` for the
            trial variance.
    """
    if n_trials < 1:
        raise ValueError(f"n_trials must be at least 1, got {n_trials}")
    r = _clean(returns)
    n_obs = int(r.size)
    nan = math.nan
    out: dict[str, float] = dict.fromkeys(METRIC_NAMES, nan)
    out["n_trials"] = float(n_trials)
    out["benchmark_sharpe"] = float(sharpe_ratio(benchmark_returns))
    if turnover is not None:
        daily_turnover = _clean(turnover)
        if daily_turnover.size:
            out["turnover"] = float(daily_turnover.mean()) * TRADING_DAYS
    if gross_exposure is not None:
        daily_exposure = _clean(gross_exposure)
        if daily_exposure.size:
            out["exposure"] = float(daily_exposure.mean())
    if n_obs == 0:
        return out

    growth = float(np.prod(1.0 + r))
    total_return = growth - 1.0
    cagr = _annualized_growth(growth, n_obs)
    equity = np.concatenate(([1.0], np.cumprod(1.0 + r)))
    mdd = float(np.min(equity / np.maximum.accumulate(equity) - 1.0))

    mean = float(r.mean())
    daily_sharpe = _sharpe_daily(r)
    downside = float(np.sqrt(np.mean(np.minimum(r, 0.0) ** 2)))
    gains = float(r[r > 0.0].sum())
    losses = float(-r[r < 0.0].sum())
    n_moves = int(np.count_nonzero(r))
    var_95 = float(np.quantile(r, 0.05))
    skew, kurtosis = _moments(r)

    out.update(
        total_return=total_return,
        cagr=cagr,
        volatility=_volatility(r),
        sharpe=daily_sharpe * math.sqrt(TRADING_DAYS),
        sortino=_ratio(mean, downside) * math.sqrt(TRADING_DAYS),
        calmar=_ratio(cagr, abs(mdd)),
        max_drawdown=mdd,
        win_rate=float(np.count_nonzero(r > 0.0)) / n_moves if n_moves else nan,
        profit_factor=_ratio(gains, losses),
        var_95=var_95,
        cvar_95=float(r[r <= var_95].mean()),
        psr=probabilistic_sharpe_ratio(daily_sharpe, n_obs, skew, kurtosis, 0.0),
        deflated_sharpe=deflated_sharpe_ratio(
            r,
            n_trials=n_trials,
            trial_sharpes=trial_sharpes,
            trial_sharpe_variance=trial_sharpe_variance,
        ),
        max_drawdown_duration=_longest_drawdown_days(equity),
        **_against_benchmark(returns, benchmark_returns),
    )
    return {key: float(value) for key, value in out.items()}
