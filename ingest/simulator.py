"""A deterministic market simulator with a known, weak, planted signal.

Why simulate: the pipeline needs data that runs anywhere without a network, and a
ground truth to test itself against. Real prices cannot say whether a model found all
the signal there was; here the true conditional expected return (the *oracle*) is
known, so ``model_metrics.oracle_ic`` can tell a weak model from a broken pipeline, and
a leak (a feature that looks ahead) shows up as an IC far above the oracle's.

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
beta_i * market_drift + mu[i,t+1]``; that is the oracle ``expected_ret_1d`` at day t.
The only approximation is a floor at -95% on ``R`` (a price never goes to zero), which
binds with negligible probability.

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
Computed at each close only from what the bars show up to that close (log closes ``L``,
volumes ``V``) with fixed smoothing constants, so a model can in principle learn it:

- ``v``: EWMA volatility of log returns (lambda 0.94, RiskMetrics), seeded with the
  symbol's long-run volatility;
- ``mom = (L[t] - L[t-momentum_window]) / (v * sqrt(momentum_window))`` (shorter at the
  start of the history);
- ``rev = -(L[t] - L[t-reversal_window]) / (v * sqrt(reversal_window))`` clipped to +-3;
- ``vshock = log V[t] - EWMA(log V)[t-1]`` (lambda 0.9): a volume surprise;
- ``raw = momentum_weight * tanh(mom) + reversal_weight * rev
  + volume_weight * tanh(vshock) * tanh(log return / v)`` (saturating momentum,
  linear reversal, and a volume-confirmed continuation: partly nonlinear);
- ``state[t] = signal_persistence * state[t-1] + (1 - signal_persistence) * raw``
  (AR(1) smoothing, so the signal also predicts returns 2..5 days ahead);
- ``mu[i,t+1] = signal_strength * v * state[t]``.

The default ``signal_strength`` makes the daily cross-sectional rank IC of the oracle
against the realized next-day return about 0.045 (weak, as in real equity markets:
Qlib's Alpha158 + LightGBM reports 0.047 on CSI300). Expect the IC of any model
trained on these bars to be below it.

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

Determinism and stability
=========================
All randomness comes from ``numpy.random.Generator`` seeded by ``seed``: per-symbol
constants from one child stream, daily shocks from another, drawn in fixed blocks of
business days from ``start``. A day's values therefore depend only on (``seed``,
``n_symbols``, ``start``, the model parameters) and on earlier days: extending ``end``
only appends, so a daily partition's bars do not depend on the range that was asked.
The recursion runs day by day over arrays of all symbols (about 3 s for 3000 symbols
over 10 years).
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

_TRADING_DAYS = 252
_BLOCK_DAYS = 64  # shocks are drawn in blocks of this many days; changing it changes the stream
_SHOCK_CLIP = 12.0  # standardized innovations are clipped symmetrically (mean stays zero)
_VOL_CAP = 4.0  # conditional volatility is capped at this multiple of its long-run level
_RETURN_FLOOR = -0.95
_EWMA_VOL_LAMBDA = 0.94
_EWMA_VOLUME_LAMBDA = 0.9
_REVERSAL_CLIP = 3.0
_VOLUME_MOVE_CAP = 8.0
_OPEN_NOISE = 0.25


@dataclass(frozen=True)
class SimulatorConfig:
    """Parameters of the simulated market; volatilities and drifts are annualized.

    See the module docstring for the role of each parameter in the model.
    """

    n_symbols: int = 50
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
    signal_strength: float = 0.10
    signal_persistence: float = 0.8
    momentum_window: int = 20
    reversal_window: int = 5
    momentum_weight: float = 1.0
    reversal_weight: float = 0.5
    volume_weight: float = 0.5
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
        if not 0 <= self.signal_persistence < 1:
            problems.append("signal_persistence must be in [0, 1)")
        if not 0 <= self.volume_persistence < 1:
            problems.append("volume_persistence must be in [0, 1)")
        if self.momentum_window < 1 or self.reversal_window < 1:
            problems.append("momentum_window and reversal_window must be >= 1")
        if problems:
            raise ValueError("invalid SimulatorConfig: " + "; ".join(problems))


@dataclass
class SimulatedMarket:
    """Bars in canonical form, the true expected returns, and the sector of each symbol.

    ``oracle`` has one row per bar (same order): symbol, date, expected_ret_1d.
    ``sectors`` has one row per symbol: symbol, sector.
    """

    bars: pd.DataFrame
    oracle: pd.DataFrame
    sectors: pd.DataFrame


def symbol_names(n_symbols: int) -> list[str]:
    """``SIM0001`` ... : zero-padded so that text order is numeric order."""
    return [f"SIM{i:04d}" for i in range(1, n_symbols + 1)]


def simulate_market(config: SimulatorConfig) -> SimulatedMarket:
    """Simulate the market described in the module docstring.

    Deterministic for a given config; the rows of a day never depend on ``end``.
    """
    cfg = config
    n, n_sec = cfg.n_symbols, cfg.n_sectors
    dates = pd.bdate_range(cfg.start, cfg.end).as_unit("ns")
    n_days = len(dates)
    static_seq, daily_seq = np.random.SeedSequence(cfg.seed).spawn(2)
    static, daily = np.random.default_rng(static_seq), np.random.default_rng(daily_seq)

    # -- per-symbol constants ---------------------------------------------------
    sector_of = static.permutation(np.arange(n) % n_sec)
    beta = np.clip(1.0 + cfg.beta_dispersion * static.standard_normal(n), 0.2, 2.5)
    gamma = static.uniform(0.5, 1.5, n)
    idio_sd = cfg.idio_vol * np.exp(cfg.idio_vol_dispersion * static.standard_normal(n))
    log_price0 = math.log(40.0) + 0.8 * static.standard_normal(n)
    log_volume0 = math.log(cfg.mean_volume) + static.standard_normal(n)

    # Long-run daily variances of [market, sectors..., symbols...], updated together.
    long_var = (
        np.concatenate([[cfg.market_vol**2], np.full(n_sec, cfg.sector_vol**2), idio_sd**2])
        / _TRADING_DAYS
    )
    omega = (1.0 - cfg.garch_alpha - cfg.garch_beta) * long_var
    var_cap = _VOL_CAP**2 * long_var
    total_long_var = (
        beta**2 * long_var[0] + gamma**2 * long_var[1 + sector_of] + long_var[1 + n_sec :]
    )
    total_long_sd = np.sqrt(total_long_var)
    drift = beta * cfg.market_drift / _TRADING_DAYS
    jump_comp = cfg.jump_prob * cfg.jump_mean
    t_scale = math.sqrt((cfg.t_df - 2.0) / cfg.t_df)
    ar_noise = cfg.volume_noise * math.sqrt(1.0 - cfg.volume_persistence**2)

    # -- state carried from day to day --------------------------------------------
    h = long_var.copy()
    ring = max(cfg.momentum_window, cfg.reversal_window) + 1
    log_close_ring = np.tile(log_price0, (ring, 1))  # L[t] lives in slot (t + 1) % ring
    ew_var = total_long_var.copy()
    ew_log_volume = log_volume0.copy()
    volume_ar = np.zeros(n)
    state = np.zeros(n)
    mu = np.zeros(n)

    out = {k: np.empty((n, n_days)) for k in ("open", "high", "low", "close", "volume")}
    oracle = np.empty((n, n_days))
    keep = np.empty((n, n_days), dtype=bool)

    for b0 in range(0, n_days, _BLOCK_DAYS):
        # Fixed draw order and full-size blocks: the stream does not depend on n_days.
        z = daily.standard_t(cfg.t_df, (_BLOCK_DAYS, 1 + n_sec + n)) * t_scale
        np.clip(z, -_SHOCK_CLIP, _SHOCK_CLIP, out=z)
        jump_hit = daily.random((_BLOCK_DAYS, n)) < cfg.jump_prob
        jump_size = daily.normal(cfg.jump_mean, cfg.jump_vol, (_BLOCK_DAYS, n))
        volume_eta = daily.standard_normal((_BLOCK_DAYS, n))
        open_noise, up_noise, down_noise = daily.standard_normal((3, _BLOCK_DAYS, n))
        dropped = daily.random((_BLOCK_DAYS, n)) < cfg.missing_rate
        jumps = np.where(jump_hit, jump_size, 0.0) - jump_comp

        days = min(_BLOCK_DAYS, n_days - b0)
        log_ret = np.empty((days, n))
        prev_log_close = np.empty((days, n))
        day_sd = np.empty((days, n))
        for k in range(days):
            t = b0 + k
            sd = np.sqrt(h)
            shock = sd * z[k]
            day_sd[k] = np.sqrt(beta**2 * h[0] + gamma**2 * h[1 + sector_of] + h[1 + n_sec :])
            ret = (
                drift
                + mu
                + beta * shock[0]
                + gamma * shock[1 + sector_of]
                + shock[1 + n_sec :]
                + jumps[k]
            )
            g = np.log1p(np.maximum(ret, _RETURN_FLOOR))
            prev_log_close[k] = log_close_ring[t % ring]
            log_close = prev_log_close[k] + g
            log_close_ring[(t + 1) % ring] = log_close
            log_ret[k] = g

            volume_ar = cfg.volume_persistence * volume_ar + ar_noise * volume_eta[k]
            log_volume = (
                log_volume0
                + cfg.volume_return_sensitivity
                * np.minimum(np.abs(ret) / total_long_sd, _VOLUME_MOVE_CAP)
                + cfg.volume_vol_sensitivity * np.log(day_sd[k] / total_long_sd)
                + volume_ar
            )
            volume = np.maximum(np.round(np.exp(log_volume)), 1.0)
            out["volume"][:, t] = volume
            log_volume = np.log(volume)  # the signal sees the volume the bars show

            # GARCH(1,1) update: tomorrow's variances from today's shocks.
            h = np.minimum(omega + cfg.garch_alpha * shock**2 + cfg.garch_beta * h, var_cap)

            # Planted signal, from observable closes and volumes only.
            ew_var = _EWMA_VOL_LAMBDA * ew_var + (1.0 - _EWMA_VOL_LAMBDA) * g**2
            v = np.sqrt(ew_var)
            mom = (log_close - log_close_ring[(t + 1 - cfg.momentum_window) % ring]) / (
                v * math.sqrt(cfg.momentum_window)
            )
            rev = -(log_close - log_close_ring[(t + 1 - cfg.reversal_window) % ring]) / (
                v * math.sqrt(cfg.reversal_window)
            )
            volume_shock = log_volume - ew_log_volume
            ew_log_volume = (
                _EWMA_VOLUME_LAMBDA * ew_log_volume + (1.0 - _EWMA_VOLUME_LAMBDA) * log_volume
            )
            raw = (
                cfg.momentum_weight * np.tanh(mom)
                + cfg.reversal_weight * np.clip(rev, -_REVERSAL_CLIP, _REVERSAL_CLIP)
                + cfg.volume_weight * np.tanh(volume_shock) * np.tanh(g / v)
            )
            state = cfg.signal_persistence * state + (1.0 - cfg.signal_persistence) * raw
            mu = cfg.signal_strength * v * state
            oracle[:, t] = drift + mu

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
    oracle_frame = pd.DataFrame(
        {"symbol": row_symbol, "date": row_date, "expected_ret_1d": oracle.ravel()[mask]},
        copy=False,
    )
    sectors = pd.DataFrame(
        {"symbol": symbols, "sector": np.array(SECTOR_NAMES, dtype=object)[sector_of]}
    )
    return SimulatedMarket(bars=bars, oracle=oracle_frame, sectors=sectors)
