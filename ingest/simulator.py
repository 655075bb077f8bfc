"""A deterministic market simulator with a known, weak, planted signal, and its oracle.

Why simulate: the pipeline needs data that runs anywhere without a network, and a
ground truth to test itself against. Real prices cannot say whether a model found all
the signal there was; here the *oracle* is known: the conditional expectation of each
label alphadag trains on, given everything the simulator knows at the feature date.
``model_metrics.oracle_ic`` scores it like a model, so a weak model can be told from a
broken pipeline, and a leak (a feature that looks ahead) shows up as an IC far above
the oracle's.

The model
=========

Calendar: business days (``pandas.bdate_range``) from ``start`` to ``end`` inclusive,
no holidays. Symbols ``SIM0001, SIM0002, ...``, each in one of ``n_sectors`` sectors
(balanced, shuffled by the seed).

Close-to-close simple return of symbol *i* on day *t*::

    R[i,t] = beta_i * market_drift                        (equity premium, known)
           + mu[i,t]                                      (planted signal, known at t-1)
           + beta_i * m[t] + gamma_i * s[sector(i),t]     (market and sector factors)
           + e[i,t]                                       (idiosyncratic noise)
           + J[i,t] - jump_prob * jump_mean               (compensated jumps)

Every noise term has mean zero given the past, so ``E[R[i,t+1] | day t] =
beta_i * market_drift + mu[i,t+1]`` exactly, but for a floor at -95% on ``R`` (a price
never goes to zero), which binds with negligible probability.

- Factors and noise: ``m``, ``s`` and ``e`` are ``sqrt(h) * z`` where ``z`` is Student-t
  with ``t_df`` degrees of freedom scaled to unit variance (fat tails) and clipped
  symmetrically at 12 standard units (keeps the mean at zero), and ``h`` follows
  GARCH(1,1): ``h[t+1] = w + garch_alpha * (sqrt(h[t]) z[t])^2 + garch_beta * h[t]``
  with ``w`` chosen so the long-run volatility is ``market_vol``, ``sector_vol`` or the
  symbol's own idiosyncratic volatility; ``h`` is capped at 4x the long-run volatility.
- Per-symbol constants (drawn once from the seed): ``beta_i ~ 1 + beta_dispersion * N``
  clipped to [0.2, 2.5]; ``gamma_i ~ U(0.5, 1.5)``; idiosyncratic volatility lognormal
  with median ``idio_vol`` and log-sd ``idio_vol_dispersion``; initial price lognormal
  around 40; mean volume lognormal around ``mean_volume``.
- Jumps: with probability ``jump_prob`` a day carries ``J ~ N(jump_mean, jump_vol)``
  (negative mean: crashes are larger than spikes); the daily compensator keeps the
  expected return exact.

Planted signal
--------------
Computed at each close only from what the bars show up to that close, over windows
that the features of ``fct_features`` also use, so a model can learn it. With ``r``
the daily log returns of the latent path and ``V`` the volumes, at the close of t:

- ``vol60 = sqrt(252 * mean(r^2 over the last 60 days))``: annualized 60-day volatility
  (``vol_60d``);
- ``volatile = tanh(vol_sharpness * log(vol60 / vol_pivot))``: about -1 for a calm name,
  +1 for a volatile one; the pivot sits near the median volatility of the universe;
- ``momentum = tanh((sum of r over 60 days - its mean over the symbols) /
  momentum_scale)``: the 60-day return relative to the universe (``ret_60d_cs_z``);
- ``recent = clip(sum of r over 5 days / reversal_scale, -3, 3)``: the week's move
  (``ret_5d``);
- ``surprise = log(V[t] / mean(V over the last 20 days))`` (``volume_ratio_20``);
- ``raw = - momentum_weight * volatile * momentum - reversal_weight * recent
  + volume_weight * tanh(recent) * tanh(surprise / volume_surprise_scale)``;
- ``mu[i,t+1] = signal_strength * raw``.

So momentum pays in calm names and reverses in volatile ones, a week's move partly
reverses, and it continues instead when today's volume is unusually high. Each
interaction has almost no linear projection: averaged over the regimes, momentum and
the volume surprise say little on their own. The windows (60 days for the regime and
momentum) change slowly against the 5-day label horizon, so the signal at t is most
of the label's expectation. Before the first day, the windows hold a virtual calm
history: zero returns at the long-run variance, volumes at their mean.

Volume and intraday prices
--------------------------
``log V = log(mean volume of i) + volume_return_sensitivity * min(|R| / long-run vol, 8)
+ volume_vol_sensitivity * 0.5 * log(conditional var / long-run var) + u`` with ``u`` an
AR(1) (``volume_persistence``, stationary sd ``volume_noise``); rounded to whole shares.
So volume rises with the size of the move and with the volatility regime.
``open = previous close * exp(overnight_share * log return + 0.25 * sigma * N)``;
``high = max(open, close) * exp(intraday_range * sigma * |N|)`` and ``low`` the mirror
image, with ``sigma`` the day's conditional volatility: ``high >= max(open, close)``,
``low <= min(open, close)`` and every price is positive.

Gaps: each (symbol, day) row is dropped with probability ``missing_rate``, like a
vendor's missing bar. The latent path (and the signal) still runs through that day;
the oracle row of a dropped bar is dropped with it.

The oracle
==========
One row per bar (symbol, the feature date t) with ``ORACLE_COLUMNS``: the conditional
expectation, given the simulator's whole state at the close of t, of each label of
``fct_labels``, with its timing (the signal is formed after the close of t and traded
at the next close)::

    expected_fwd_ret_1d = E[close(t+2) / close(t+1) - 1 | state at t]
    expected_fwd_ret_5d = E[close(t+6) / close(t+1) - 1 | state at t]

in business days of the latent path (a label that ``fct_labels`` builds across a
dropped bar spans one more day). ``mu`` of the days after t+1 depends on returns not
yet drawn, so the expectation is a Monte Carlo estimate: from the state at t,
``oracle_paths`` paths (antithetic pairs: the second half of the paths runs on the
negated shocks of the first) simulate days t+1 .. t+5 with the model's own dynamics.
Writing ``P[j] = close(t+j) / close(t+1)``, the 5-day label is the sum over j = 2..6
of ``P[j-1] * R[t+j]`` and ``E[R[t+j] | day t+j-1] = drift + mu[t+j]``; each path
contributes the sum of ``P[j-1] * (drift + mu[t+j])`` instead of its realized label:
the same expectation without the day-to-day return noise, which is nearly all of the
label's variance. ``*_se`` is the standard error of each estimate (from the spread of
the pair means); it is a few percent of the expectation's spread across symbols.
The oracle's paths draw from their own random stream, so they never change the bars.

Determinism and stability
=========================
All randomness comes from ``numpy.random.Generator`` seeded by ``seed``: per-symbol
constants from one child stream, daily shocks from another, oracle paths from a third
(one child of it per block of start days), drawn in fixed blocks of business days from
``start``. A day's values therefore depend
only on (``seed``, ``n_symbols``, ``start``, the model parameters) and on earlier days:
extending ``end`` only appends, so a daily partition's bars and oracle rows do not
depend on the range that was asked. The recursion runs day by
day over arrays of all symbols; the oracle's paths run over blocks of days at once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

SECTOR_NAMES = (
    "Technology",
    "Financials",
    "Health Care",
    "Industrials",
    "Consumer Discretionary",
    "Energy",
    "Utilities",
    "Materials",
    "Consumer Staples",
    "Communication Services",
    "Real Estate",
)
"""The eleven GICS sectors; the first ``n_sectors`` are used."""

ORACLE_COLUMNS = (
    "expected_fwd_ret_1d",
    "expected_fwd_ret_1d_se",
    "expected_fwd_ret_5d",
    "expected_fwd_ret_5d_se",
)
"""The oracle's columns after symbol and date: the conditional expectation of each label
of ``fct_labels`` and the Monte Carlo standard error of that estimate."""

_TRADING_DAYS = 252
_BLOCK_DAYS = 64  # shocks are drawn in blocks of this many days; changing it changes the stream
_ORACLE_BLOCK_DAYS = 16  # oracle paths start from this many days at once (bounds memory)
_SHOCK_CLIP = 12.0  # standardized innovations are clipped symmetrically (mean stays zero)
_VOL_CAP = 4.0  # conditional volatility is capped at this multiple of its long-run level
_RETURN_FLOOR = -0.95
_VOLUME_MOVE_CAP = 8.0
_OPEN_NOISE = 0.25
# Windows of the planted signal, in days; each matches a feature of fct_features.
_REVERSAL_WINDOW = 5  # ret_5d
_MOMENTUM_WINDOW = 60  # ret_60d
_SLOW_VOL_WINDOW = 60  # vol_60d
_VOLUME_WINDOW = 20  # volume_ratio_20
_HISTORY_PAD = _SLOW_VOL_WINDOW  # rows of virtual history before the first day
_REVERSAL_CLIP = 3.0
# fwd_ret_5d runs from close(t+1) to close(t+6): the oracle steps days t+1 .. t+5, after
# which the expectation of the return of t+6 is known. No window is shorter than those
# 5 steps, so every value a window drops along a path was realized by day t.
_ORACLE_STEPS = 5
assert _ORACLE_STEPS <= _REVERSAL_WINDOW


@dataclass(frozen=True)
class SimulatorConfig:
    """Parameters of the simulated market; volatilities and drifts are annualized.

    See the module docstring for the role of each parameter in the model.
    """

    n_symbols: int = 100
    start: date = date(2021, 1, 1)
    end: date = date(2023, 12, 31)
    seed: int = 7
    n_sectors: int = 8
    # factor structure
    market_drift: float = 0.06
    market_vol: float = 0.16
    sector_vol: float = 0.10
    idio_vol: float = 0.25
    idio_vol_dispersion: float = 0.35
    beta_dispersion: float = 0.3
    # volatility clustering and tails
    garch_alpha: float = 0.08
    garch_beta: float = 0.90
    t_df: float = 4.0
    jump_prob: float = 0.004
    jump_mean: float = -0.02
    jump_vol: float = 0.06
    # planted signal
    signal_strength: float = 0.004
    momentum_weight: float = 1.0
    reversal_weight: float = 0.3
    volume_weight: float = 0.3
    momentum_scale: float = 0.2
    reversal_scale: float = 0.05
    vol_pivot: float = 0.30
    vol_sharpness: float = 6.0
    volume_surprise_scale: float = 0.3
    # volume and intraday prices
    mean_volume: float = 1_000_000.0
    volume_return_sensitivity: float = 0.3
    volume_vol_sensitivity: float = 1.0
    volume_noise: float = 0.25
    volume_persistence: float = 0.7
    overnight_share: float = 0.3
    intraday_range: float = 0.5
    # data gaps
    missing_rate: float = 0.002
    # oracle
    oracle_paths: int = 16

    def __post_init__(self) -> None:
        problems = []
        if self.n_symbols < 1:
            problems.append("n_symbols must be >= 1")
        if self.end < self.start:
            problems.append(f"end ({self.end}) is before start ({self.start})")
        if not 1 <= self.n_sectors <= len(SECTOR_NAMES):
            problems.append(f"n_sectors must be in 1..{len(SECTOR_NAMES)}")
        if self.garch_alpha < 0 or self.garch_beta < 0 or self.garch_alpha + self.garch_beta >= 1:
            problems.append("garch_alpha and garch_beta must be >= 0 with a sum below 1")
        if self.t_df <= 2:
            problems.append("t_df must be > 2 (finite variance)")
        if not 0 <= self.jump_prob <= 1 or not 0 <= self.missing_rate < 1:
            problems.append("jump_prob must be in [0, 1] and missing_rate in [0, 1)")
        if not 0 <= self.volume_persistence < 1:
            problems.append("volume_persistence must be in [0, 1)")
        if self.volume_surprise_scale <= 0:
            problems.append("volume_surprise_scale must be > 0")
        if self.oracle_paths < 4 or self.oracle_paths % 2:
            problems.append(
                "oracle_paths must be even and >= 4 (antithetic pairs, a standard error)"
            )
        if problems:
            raise ValueError("invalid SimulatorConfig: " + "; ".join(problems))


@dataclass
class SimulatedMarket:
    """Bars in canonical form, the oracle, and the sector of each symbol.

    ``oracle`` has one row per bar (same order; from ``oracle_from`` on when given):
    symbol, date, then ``ORACLE_COLUMNS``.
    ``sectors`` has one row per symbol: symbol, sector.
    """

    bars: pd.DataFrame
    oracle: pd.DataFrame
    sectors: pd.DataFrame


def symbol_names(n_symbols: int) -> list[str]:
    """``SIM0001`` ... : zero-padded so that text order is numeric order."""
    return [f"SIM{i:04d}" for i in range(1, n_symbols + 1)]


@dataclass(frozen=True)
class _Constants:
    """Per-symbol constants and derived parameters of one simulated market."""

    cfg: SimulatorConfig
    sector_of: np.ndarray
    beta: np.ndarray
    gamma: np.ndarray
    drift: np.ndarray
    omega: np.ndarray  # GARCH intercepts of [market, sectors..., symbols...]
    var_cap: np.ndarray
    total_long_var: np.ndarray
    log_volume0: np.ndarray
    t_scale: float
    jump_comp: float
    volume_ar_noise: float

    @property
    def n_common(self) -> int:
        """The market factor and the sector factors."""
        return 1 + self.cfg.n_sectors


@dataclass(frozen=True)
class _State:
    """Everything day t+1 depends on, known at the close of day t.

    Arrays end in the symbol axis (``h_common`` in the factor axis); leading axes, if
    any, are oracle paths and start days. Window sums run over the last bars of the
    latent path: log returns over 5 and 20 days, squared log returns over 20 and 60,
    volumes over 20.
    """

    h_common: np.ndarray  # GARCH variances of the market and sector factors for t+1
    h_idio: np.ndarray  # GARCH variance of each symbol's own shock for t+1
    log_close: np.ndarray
    volume_ar: np.ndarray
    sum_ret_5: np.ndarray
    sum_ret_60: np.ndarray
    sum_sq_60: np.ndarray
    sum_volume_20: np.ndarray
    mu: np.ndarray  # planted expected return of day t+1 beyond the drift


@dataclass(frozen=True)
class _Dropped:
    """The values that leave each rolling window on the day being simulated."""

    ret_5: np.ndarray
    ret_60: np.ndarray
    sq_60: np.ndarray
    volume_20: np.ndarray


@dataclass(frozen=True)
class _Day:
    """What one simulated day shows: its floored return, log return, volume and the
    conditional volatility the intraday prices are drawn with."""

    ret: np.ndarray
    log_ret: np.ndarray
    volume: np.ndarray
    sd: np.ndarray


def _constants(cfg: SimulatorConfig, static: np.random.Generator) -> tuple[_Constants, np.ndarray]:
    """The per-symbol constants, and the initial log prices."""
    n, n_sec = cfg.n_symbols, cfg.n_sectors
    sector_of = static.permutation(np.arange(n) % n_sec)
    beta = np.clip(1.0 + cfg.beta_dispersion * static.standard_normal(n), 0.2, 2.5)
    gamma = static.uniform(0.5, 1.5, n)
    idio_sd = cfg.idio_vol * np.exp(cfg.idio_vol_dispersion * static.standard_normal(n))
    log_price0 = math.log(40.0) + 0.8 * static.standard_normal(n)
    log_volume0 = math.log(cfg.mean_volume) + static.standard_normal(n)
    long_var = (
        np.concatenate([[cfg.market_vol**2], np.full(n_sec, cfg.sector_vol**2), idio_sd**2])
        / _TRADING_DAYS
    )
    constants = _Constants(
        cfg=cfg,
        sector_of=sector_of,
        beta=beta,
        gamma=gamma,
        drift=beta * cfg.market_drift / _TRADING_DAYS,
        omega=(1.0 - cfg.garch_alpha - cfg.garch_beta) * long_var,
        var_cap=_VOL_CAP**2 * long_var,
        total_long_var=(
            beta**2 * long_var[0] + gamma**2 * long_var[1 + sector_of] + long_var[1 + n_sec :]
        ),
        log_volume0=log_volume0,
        t_scale=math.sqrt((cfg.t_df - 2.0) / cfg.t_df),
        jump_comp=cfg.jump_prob * cfg.jump_mean,
        volume_ar_noise=cfg.volume_noise * math.sqrt(1.0 - cfg.volume_persistence**2),
    )
    return constants, log_price0


def _initial_state(c: _Constants, log_price0: np.ndarray) -> _State:
    """The state before the first day: windows filled with a virtual calm history
    (zero returns at the long-run variance, volumes at their mean)."""
    zeros = np.zeros_like(log_price0)
    mean_volume = np.exp(c.log_volume0)
    return _State(
        h_common=c.omega[: c.n_common] / (1.0 - c.cfg.garch_alpha - c.cfg.garch_beta),
        h_idio=c.omega[c.n_common :] / (1.0 - c.cfg.garch_alpha - c.cfg.garch_beta),
        log_close=log_price0,
        volume_ar=zeros,
        sum_ret_5=zeros,
        sum_ret_60=zeros,
        sum_sq_60=_SLOW_VOL_WINDOW * c.total_long_var,
        sum_volume_20=_VOLUME_WINDOW * mean_volume,
        mu=zeros,
    )


def _planted_mu(
    c: _Constants,
    sum_ret_5: np.ndarray,
    sum_ret_60: np.ndarray,
    sum_sq_60: np.ndarray,
    volume: np.ndarray,
    sum_volume_20: np.ndarray,
) -> np.ndarray:
    """The planted expected return of the next day, from the windows at today's close."""
    cfg = c.cfg
    slow_vol = np.sqrt(sum_sq_60 * (_TRADING_DAYS / _SLOW_VOL_WINDOW))
    volatile = np.tanh(cfg.vol_sharpness * np.log(slow_vol / cfg.vol_pivot))
    relative = sum_ret_60 - sum_ret_60.mean(axis=-1, keepdims=True)
    momentum = np.tanh(relative / cfg.momentum_scale)
    recent = np.clip(sum_ret_5 / cfg.reversal_scale, -_REVERSAL_CLIP, _REVERSAL_CLIP)
    volume_surprise = np.log(volume * _VOLUME_WINDOW / sum_volume_20)
    raw = (
        -cfg.momentum_weight * volatile * momentum
        - cfg.reversal_weight * recent
        + cfg.volume_weight * np.tanh(recent) * np.tanh(volume_surprise / cfg.volume_surprise_scale)
    )
    return cfg.signal_strength * raw


def _advance(
    c: _Constants,
    s: _State,
    z: np.ndarray,
    jumps: np.ndarray,
    volume_eta: np.ndarray,
    dropped: _Dropped,
) -> tuple[_State, _Day]:
    """Simulate the next day from state ``s``: ``z`` are the standardized shocks of
    [market, sectors..., symbols...], ``jumps`` the compensated jumps."""
    cfg, n_common = c.cfg, c.n_common
    sector = 1 + c.sector_of
    shock_common = np.sqrt(s.h_common) * z[..., :n_common]
    shock_idio = np.sqrt(s.h_idio) * z[..., n_common:]
    h_market = s.h_common[..., :1]
    day_sd = np.sqrt(c.beta**2 * h_market + c.gamma**2 * s.h_common[..., sector] + s.h_idio)
    ret = (
        c.drift
        + s.mu
        + c.beta * shock_common[..., :1]
        + c.gamma * shock_common[..., sector]
        + shock_idio
        + jumps
    )
    ret = np.maximum(ret, _RETURN_FLOOR)
    log_ret = np.log1p(ret)
    volume_ar = cfg.volume_persistence * s.volume_ar + c.volume_ar_noise * volume_eta
    total_long_sd = np.sqrt(c.total_long_var)
    log_volume = (
        c.log_volume0
        + cfg.volume_return_sensitivity * np.minimum(np.abs(ret) / total_long_sd, _VOLUME_MOVE_CAP)
        + cfg.volume_vol_sensitivity * np.log(day_sd / total_long_sd)
        + volume_ar
    )
    volume = np.maximum(np.round(np.exp(log_volume)), 1.0)
    squared = log_ret**2
    windows = {
        "sum_ret_5": s.sum_ret_5 + log_ret - dropped.ret_5,
        "sum_ret_60": s.sum_ret_60 + log_ret - dropped.ret_60,
        "sum_sq_60": s.sum_sq_60 + squared - dropped.sq_60,
        "sum_volume_20": s.sum_volume_20 + volume - dropped.volume_20,
    }
    # GARCH(1,1): tomorrow's variances from today's shocks.
    garch = cfg.garch_alpha, cfg.garch_beta
    state = _State(
        h_common=np.minimum(
            c.omega[:n_common] + garch[0] * shock_common**2 + garch[1] * s.h_common,
            c.var_cap[:n_common],
        ),
        h_idio=np.minimum(
            c.omega[n_common:] + garch[0] * shock_idio**2 + garch[1] * s.h_idio,
            c.var_cap[n_common:],
        ),
        log_close=s.log_close + log_ret,
        volume_ar=volume_ar,
        mu=_planted_mu(c, volume=volume, **windows),
        **windows,
    )
    return state, _Day(ret=ret, log_ret=log_ret, volume=volume, sd=day_sd)


class _History:
    """Realized log returns, squared log returns and volumes of every day, after
    ``_HISTORY_PAD`` rows of the virtual history the windows start from."""

    def __init__(self, c: _Constants, n_days: int) -> None:
        n = len(c.beta)
        pad = _HISTORY_PAD
        self.log_ret = np.zeros((pad + n_days, n))
        self.squared = np.zeros((pad + n_days, n))
        self.squared[:pad] = c.total_long_var
        self.volume = np.zeros((pad + n_days, n))
        self.volume[:pad] = np.exp(c.log_volume0)

    def record(self, t: int, day: _Day) -> None:
        row = _HISTORY_PAD + t
        self.log_ret[row] = day.log_ret
        self.squared[row] = day.log_ret**2
        self.volume[row] = day.volume

    def dropped(self, first: int, count: int | None = None) -> _Dropped:
        """What the windows drop on day ``first`` (one row per symbol), or with
        ``count`` on each of the days ``first .. first + count - 1`` (a leading axis)."""

        def rows(values: np.ndarray, window: int) -> np.ndarray:
            start = _HISTORY_PAD + first - window
            return values[start] if count is None else values[start : start + count]

        return _Dropped(
            ret_5=rows(self.log_ret, _REVERSAL_WINDOW),
            ret_60=rows(self.log_ret, _MOMENTUM_WINDOW),
            sq_60=rows(self.squared, _SLOW_VOL_WINDOW),
            volume_20=rows(self.volume, _VOLUME_WINDOW),
        )


def _draw_shocks(
    c: _Constants, rng: np.random.Generator, shape: tuple[int, ...]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Standardized factor and symbol shocks, compensated jumps and volume noise."""
    cfg, n = c.cfg, len(c.beta)
    z = rng.standard_t(cfg.t_df, (*shape, c.n_common + n)) * c.t_scale
    np.clip(z, -_SHOCK_CLIP, _SHOCK_CLIP, out=z)
    jump_hit = rng.random((*shape, n)) < cfg.jump_prob
    jump_size = rng.normal(cfg.jump_mean, cfg.jump_vol, (*shape, n))
    jumps = np.where(jump_hit, jump_size, 0.0) - c.jump_comp
    volume_eta = rng.standard_normal((*shape, n))
    return z, jumps, volume_eta


def _stack_states(states: list[_State]) -> _State:
    return _State(
        **{f: np.stack([getattr(s, f) for s in states]) for f in _State.__dataclass_fields__}
    )


def _oracle_from(
    c: _Constants, start: _State, history: _History, first: int, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Both labels' conditional expectations for the start days ``first ..``, whose
    end-of-day states ``start`` holds (leading axis: start day), by Monte Carlo.

    Each path runs days t+1 .. t+5 with fresh shocks. Writing P[j] for the growth
    close(t+j)/close(t+1), the label is the sum over j = 2..6 of P[j-1] * R[t+j], and
    E[R[t+j] | day t+j-1] = drift + mu[t+j] exactly. So each path contributes
    sum P[j-1] * (drift + mu[t+j]) instead of its realized label: the same expectation
    without the return noise, which is most of the label's variance.
    """
    paths, count = c.cfg.oracle_paths, len(start.mu)
    # Antithetic pairs: the second half of the paths runs on the negated shocks of the
    # first (the same jumps); both halves have the model's law, and the pair means are
    # independent, with less variance than two independent paths.
    z, jumps, volume_eta = _draw_shocks(c, rng, (_ORACLE_STEPS, paths // 2, _ORACLE_BLOCK_DAYS))
    z = np.concatenate([z, -z], axis=1)
    jumps = np.concatenate([jumps, jumps], axis=1)
    volume_eta = np.concatenate([volume_eta, -volume_eta], axis=1)
    state = _State(
        **{
            f: np.broadcast_to(getattr(start, f), (paths, *getattr(start, f).shape))
            for f in _State.__dataclass_fields__
        }
    )
    growth = np.ones((paths, *start.mu.shape))
    five_day = np.zeros_like(growth)
    one_day = None
    for step in range(1, _ORACLE_STEPS + 1):  # simulate day t+step
        state, day = _advance(
            c,
            state,
            z[step - 1, :, :count],
            jumps[step - 1, :, :count],
            volume_eta[step - 1, :, :count],
            history.dropped(first + step, count),
        )
        expected = c.drift + state.mu  # of the return of day t+step+1, given day t+step
        if step == 1:
            one_day = expected
        else:
            growth = growth * (1.0 + day.ret)
        five_day += growth * expected
    result = {}
    for label, per_path in (("expected_fwd_ret_1d", one_day), ("expected_fwd_ret_5d", five_day)):
        pair_means = 0.5 * (per_path[: paths // 2] + per_path[paths // 2 :])
        result[label] = pair_means.mean(axis=0)
        result[f"{label}_se"] = pair_means.std(axis=0, ddof=1) / math.sqrt(paths // 2)
    return result


@dataclass
class _Latent:
    """The simulated path before it becomes frames: the constants, every day's
    end-of-day state and history, the bars as (symbol, day) arrays and which bars the
    vendor delivers."""

    constants: _Constants
    states: list[_State]
    history: _History
    bars: dict[str, np.ndarray]
    keep: np.ndarray


def _simulate_latent(c: _Constants, log_price0: np.ndarray, daily: np.random.Generator) -> _Latent:
    cfg = c.cfg
    n = cfg.n_symbols
    n_days = len(pd.bdate_range(cfg.start, cfg.end))
    state = _initial_state(c, log_price0)
    history = _History(c, n_days)
    states: list[_State] = []
    out = {k: np.empty((n, n_days)) for k in ("open", "high", "low", "close", "volume")}
    keep = np.empty((n, n_days), dtype=bool)

    for b0 in range(0, n_days, _BLOCK_DAYS):
        # Fixed draw order and full-size blocks: the stream does not depend on n_days.
        z, jumps, volume_eta = _draw_shocks(c, daily, (_BLOCK_DAYS,))
        open_noise, up_noise, down_noise = daily.standard_normal((3, _BLOCK_DAYS, n))
        dropped = daily.random((_BLOCK_DAYS, n)) < cfg.missing_rate

        days = min(_BLOCK_DAYS, n_days - b0)
        log_ret = np.empty((days, n))
        prev_log_close = np.empty((days, n))
        day_sd = np.empty((days, n))
        for k in range(days):
            t = b0 + k
            prev_log_close[k] = state.log_close
            state, day = _advance(c, state, z[k], jumps[k], volume_eta[k], history.dropped(t))
            history.record(t, day)
            states.append(state)
            log_ret[k], day_sd[k] = day.log_ret, day.sd
            out["volume"][:, t] = day.volume

        # Intraday prices for the whole block at once.
        block_log_close = prev_log_close + log_ret
        log_open = (
            prev_log_close
            + cfg.overnight_share * log_ret
            + _OPEN_NOISE * day_sd * open_noise[:days]
        )
        span = cfg.intraday_range * day_sd
        cols = slice(b0, b0 + days)
        out["close"][:, cols] = np.exp(block_log_close).T
        out["open"][:, cols] = np.exp(log_open).T
        out["high"][:, cols] = np.exp(
            np.maximum(log_open, block_log_close) + span * np.abs(up_noise[:days])
        ).T
        out["low"][:, cols] = np.exp(
            np.minimum(log_open, block_log_close) - span * np.abs(down_noise[:days])
        ).T
        keep[:, cols] = ~dropped[:days].T

    return _Latent(constants=c, states=states, history=history, bars=out, keep=keep)


def _latent_market(cfg: SimulatorConfig) -> tuple[_Latent, np.random.SeedSequence]:
    """The latent path of ``cfg`` and the seed of its oracle paths."""
    static_seq, daily_seq, oracle_seq = np.random.SeedSequence(cfg.seed).spawn(3)
    c, log_price0 = _constants(cfg, np.random.default_rng(static_seq))
    latent = _simulate_latent(c, log_price0, np.random.default_rng(daily_seq))
    return latent, oracle_seq


def simulate_market(config: SimulatorConfig, oracle_from: date | None = None) -> SimulatedMarket:
    """Simulate the market described in the module docstring, with its oracle.

    ``oracle_from``: the first day that gets oracle rows (default: every day). The
    oracle costs far more than the bars, and a run that stores a few recent days needs
    only theirs; the rows it does compute are the same either way.

    Deterministic for a given config; the rows of a day never depend on ``end``.
    """
    cfg = config
    n = cfg.n_symbols
    dates = pd.bdate_range(cfg.start, cfg.end).as_unit("ns")
    n_days = len(dates)
    latent, oracle_seq = _latent_market(cfg)
    c, out, keep = latent.constants, latent.bars, latent.keep

    first = 0 if oracle_from is None else int(np.searchsorted(dates, pd.Timestamp(oracle_from)))
    oracle = {name: np.full((n, n_days), np.nan) for name in ORACLE_COLUMNS}
    for block, o0 in enumerate(range(0, n_days, _ORACLE_BLOCK_DAYS)):
        if o0 + _ORACLE_BLOCK_DAYS <= first:
            continue
        # One stream per block of start days, so skipping blocks changes no other block.
        block_seq = np.random.SeedSequence(
            oracle_seq.entropy, spawn_key=(*oracle_seq.spawn_key, block)
        )
        chunk = latent.states[o0 : o0 + _ORACLE_BLOCK_DAYS]
        for name, values in _oracle_from(
            c, _stack_states(chunk), latent.history, o0, np.random.default_rng(block_seq)
        ).items():
            oracle[name][:, o0 : o0 + len(chunk)] = values.T

    symbols = np.array(symbol_names(n), dtype=object)
    mask = keep.ravel()
    row_symbol = np.repeat(symbols, n_days)[mask]
    row_date = np.tile(dates.to_numpy(), n)[mask]
    bars = pd.DataFrame(
        {
            "symbol": row_symbol,
            "date": row_date,
            **{k: out[k].ravel()[mask] for k in ("open", "high", "low", "close", "volume")},
        },
        copy=False,  # the columns are fresh arrays; skip consolidating ~7M-row blocks
    )
    with_oracle = keep.copy()
    with_oracle[:, :first] = False
    oracle_mask = with_oracle.ravel()
    oracle_frame = pd.DataFrame(
        {
            "symbol": np.repeat(symbols, n_days)[oracle_mask],
            "date": np.tile(dates.to_numpy(), n)[oracle_mask],
            **{name: oracle[name].ravel()[oracle_mask] for name in ORACLE_COLUMNS},
        },
        copy=False,
    )
    sectors = pd.DataFrame(
        {"symbol": symbols, "sector": np.array(SECTOR_NAMES, dtype=object)[c.sector_of]}
    )
    return SimulatedMarket(bars=bars, oracle=oracle_frame, sectors=sectors)
