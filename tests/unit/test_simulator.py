"""The simulator: determinism, calendar, bar consistency, stability, stylized facts, and
an oracle that is the conditional expectation of each label."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import numpy as np
import pandas as pd
import pytest

from ingest import simulator
from ingest.schema import BAR_COLUMNS, to_canonical
from ingest.simulator import ORACLE_COLUMNS, SECTOR_NAMES, SimulatorConfig, simulate_market

SMALL = SimulatorConfig(n_symbols=20, start=date(2021, 1, 1), end=date(2023, 12, 31), seed=7)


@pytest.fixture(scope="module")
def small():
    return simulate_market(SMALL)


@pytest.fixture(scope="module")
def wide():
    """200 symbols over 2 years: enough cross-section for stable IC estimates."""
    return simulate_market(
        SimulatorConfig(n_symbols=200, start=date(2021, 1, 1), end=date(2022, 12, 31), seed=7)
    )


def _with_returns(market) -> pd.DataFrame:
    """Bars, oracle and both labels as fct_labels computes them (by rows)."""
    frame = market.bars.merge(market.oracle, on=["symbol", "date"], validate="one_to_one")
    close = frame.groupby("symbol")["close"]
    frame["ret"] = close.pct_change()
    frame["fwd_ret_1d"] = close.shift(-2) / close.shift(-1) - 1
    frame["fwd_ret_5d"] = close.shift(-6) / close.shift(-1) - 1
    return frame


def _mean_rank_ic(frame: pd.DataFrame, score: str, target: str) -> float:
    clean = frame.dropna(subset=[score, target])
    daily = clean.groupby("date")[[score, target]].corr(method="spearman")
    return float(daily.xs(target, level=1)[score].mean())


def test_same_config_gives_identical_frames(small):
    again = simulate_market(SMALL)
    pd.testing.assert_frame_equal(small.bars, again.bars)
    pd.testing.assert_frame_equal(small.oracle, again.oracle)
    pd.testing.assert_frame_equal(small.sectors, again.sectors)


def test_different_seed_gives_different_market(small):
    other = simulate_market(replace(SMALL, seed=8))
    assert not np.allclose(small.bars["close"].iloc[:100], other.bars["close"].iloc[:100])


def test_bars_are_canonical_and_sorted(small):
    bars = small.bars
    assert list(bars.columns) == BAR_COLUMNS
    pd.testing.assert_frame_equal(to_canonical(bars), bars)
    assert not bars.duplicated(["symbol", "date"]).any()
    assert bars["symbol"].unique().tolist() == [f"SIM{i:04d}" for i in range(1, 21)]


def test_calendar_is_business_days_with_rare_gaps(small):
    calendar = pd.bdate_range(SMALL.start, SMALL.end)
    assert small.bars["date"].dt.dayofweek.max() < 5
    assert set(small.bars["date"]) == set(calendar)
    expected_rows = SMALL.n_symbols * len(calendar)
    dropped = expected_rows - len(small.bars)
    assert 0 < dropped < 0.01 * expected_rows


def test_ohlc_consistent_and_positive(small):
    bars = small.bars
    assert (bars[["open", "high", "low", "close", "volume"]] > 0).all().all()
    assert (bars["high"] >= bars[["open", "close"]].max(axis=1)).all()
    assert (bars["low"] <= bars[["open", "close"]].min(axis=1)).all()
    assert (bars["volume"] == bars["volume"].round()).all()


def test_sectors_cover_every_symbol(small):
    sectors = small.sectors
    assert list(sectors.columns) == ["symbol", "sector"]
    assert sectors["symbol"].tolist() == sorted(small.bars["symbol"].unique())
    assert set(sectors["sector"]) == set(SECTOR_NAMES[: SMALL.n_sectors])


def test_extending_end_only_appends(small):
    """A day's bars and oracle never depend on how far the simulation runs."""
    cutoff = date(2022, 6, 17)  # not on a block boundary
    shorter = simulate_market(replace(SMALL, end=cutoff))
    for name in ("bars", "oracle"):
        longer = getattr(small, name)
        prefix = longer[longer["date"] <= pd.Timestamp(cutoff)].reset_index(drop=True)
        pd.testing.assert_frame_equal(getattr(shorter, name), prefix)
    assert shorter.bars["date"].max() == pd.Timestamp(cutoff)


def test_oracle_from_a_day_gives_the_same_rows_from_that_day(small):
    later = simulate_market(SMALL, oracle_from=date(2023, 6, 14))
    expected = small.oracle[small.oracle["date"] >= pd.Timestamp(2023, 6, 14)]
    pd.testing.assert_frame_equal(later.oracle, expected.reset_index(drop=True))
    pd.testing.assert_frame_equal(later.bars, small.bars)


def test_oracle_rows_match_bars(small):
    assert list(small.oracle.columns) == ["symbol", "date", *ORACLE_COLUMNS]
    pd.testing.assert_frame_equal(small.oracle[["symbol", "date"]], small.bars[["symbol", "date"]])
    assert small.oracle[list(ORACLE_COLUMNS)].notna().all().all()
    # the Monte Carlo error is small against the spread of the expectation across symbols
    for label in ("expected_fwd_ret_1d", "expected_fwd_ret_5d"):
        assert (small.oracle[f"{label}_se"] > 0).all()
        assert small.oracle[f"{label}_se"].median() < 0.1 * small.oracle[label].std()


def test_oracle_is_the_expectation_of_each_label_from_the_state_at_t():
    """Brute force: from the simulator's state at the close of t, run many paths of the
    real dynamics, build each label from close(t+1), close(t+2) and close(t+6), and
    average. The stored oracle row of t must agree within the combined standard error."""
    config = replace(SMALL, end=date(2021, 6, 30))
    market = simulate_market(config)
    latent, _ = simulator._latent_market(config)
    c, history = latent.constants, latent.history
    rng = np.random.default_rng(123)
    paths = 20_000
    for t in (70, 101):
        state = latent.states[t]
        # the stored state is the close of t the bars show
        np.testing.assert_allclose(np.exp(state.log_close), latent.bars["close"][:, t])
        log_close = {}
        for step in range(1, 7):
            z, jumps, volume_eta = simulator._draw_shocks(c, rng, (paths,))
            # Day t+6 only contributes its return: the windows it updates (the 5-day
            # one from the main path's row of t+1, not this path's) are never read.
            state, _ = simulator._advance(c, state, z, jumps, volume_eta, history.dropped(t + step))
            log_close[step] = state.log_close
        labels = {
            "expected_fwd_ret_1d": np.expm1(log_close[2] - log_close[1]),
            "expected_fwd_ret_5d": np.expm1(log_close[6] - log_close[1]),
        }
        day = pd.bdate_range(config.start, config.end)[t]
        stored = market.oracle.set_index(["date", "symbol"]).loc[day]
        stored = stored.reindex(simulator.symbol_names(config.n_symbols))
        for name, realized in labels.items():
            brute = realized.mean(axis=0)
            brute_se = realized.std(axis=0, ddof=1) / np.sqrt(paths)
            combined_se = np.sqrt(brute_se**2 + stored[f"{name}_se"].to_numpy() ** 2)
            z_scores = (stored[name].to_numpy() - brute) / combined_se
            # rows of dropped bars are absent from the oracle (NaN after reindex)
            z_scores = z_scores[~np.isnan(z_scores)]
            assert np.abs(z_scores).max() < 4.5, (name, t, z_scores)
            assert abs(z_scores.mean()) < 4.5 / np.sqrt(len(z_scores)), (name, t)


def test_oracle_rank_ic_is_realistic(wide):
    frame = _with_returns(wide)
    ic_5d = _mean_rank_ic(frame, "expected_fwd_ret_5d", "fwd_ret_5d")
    assert 0.1 <= ic_5d <= 0.25
    ic_1d = _mean_rank_ic(frame, "expected_fwd_ret_1d", "fwd_ret_1d")
    assert 0.03 <= ic_1d < ic_5d


def test_realized_labels_move_one_for_one_with_the_oracle(wide):
    """An expectation, not just a ranking: across symbols, a basis point more of oracle
    is a basis point more of realized label on average (slope 1; factor moves removed by
    taking both relative to the day's mean)."""
    frame = _with_returns(wide)
    for label in ("fwd_ret_1d", "fwd_ret_5d"):
        clean = frame.dropna(subset=[label])
        by_day = clean.groupby("date")
        x = clean[f"expected_{label}"] - by_day[f"expected_{label}"].transform("mean")
        y = clean[label] - by_day[label].transform("mean")
        slope = float((x * y).sum() / (x * x).sum())
        assert 0.7 <= slope <= 1.3, (label, slope)


def test_oracle_beats_every_single_feature(wide):
    frame = _with_returns(wide)
    close, volume = frame.groupby("symbol")["close"], frame.groupby("symbol")["volume"]
    returns = frame.groupby("symbol")["ret"]
    features = {f"ret_{days}d": close.pct_change(days) for days in (1, 5, 10, 20, 60)} | {
        "vol_20d": returns.transform(lambda r: r.rolling(20).std()),
        "vol_60d": returns.transform(lambda r: r.rolling(60).std()),
        "volume_ratio_20": frame["volume"] / volume.transform(lambda v: v.rolling(20).mean()),
    }
    frame = frame.assign(**features)
    oracle_ic = _mean_rank_ic(frame, "expected_fwd_ret_5d", "fwd_ret_5d")
    for name in features:
        assert abs(_mean_rank_ic(frame, name, "fwd_ret_5d")) < 0.6 * oracle_ic, name


def test_momentum_pays_in_calm_names_and_reverses_in_volatile_ones(wide):
    """The planted signal is an interaction: conditioned on the 60-day volatility, the
    60-day return ranks the oracle with opposite signs."""
    frame = _with_returns(wide)
    close, returns = frame.groupby("symbol")["close"], frame.groupby("symbol")["ret"]
    frame["ret_60d"] = close.pct_change(60)
    frame["vol_60d"] = returns.transform(lambda r: r.rolling(60).std()) * np.sqrt(252)
    calm = frame["vol_60d"] < 0.2
    volatile = frame["vol_60d"] > 0.45
    assert _mean_rank_ic(frame[calm], "ret_60d", "expected_fwd_ret_5d") > 0.3
    assert _mean_rank_ic(frame[volatile], "ret_60d", "expected_fwd_ret_5d") < -0.3


def test_returns_have_fat_tails_and_volatility_clustering(wide):
    frame = _with_returns(wide).dropna(subset=["ret"])
    excess_kurtosis = frame.groupby("symbol")["ret"].apply(lambda r: r.kurt())
    assert excess_kurtosis.median() > 2  # Pearson kurtosis > 5; a normal has 3
    abs_autocorr = frame.groupby("symbol")["ret"].apply(lambda r: r.abs().autocorr(1))
    assert abs_autocorr.median() > 0.02


def test_volume_rises_with_absolute_return(wide):
    frame = _with_returns(wide).dropna(subset=["ret"]).assign(abs_ret=lambda f: f["ret"].abs())
    # Ranks within each symbol, so the comparison is not about which stocks trade more.
    ranks = frame.groupby("symbol")[["volume", "abs_ret"]].rank(pct=True)
    assert ranks["volume"].corr(ranks["abs_ret"]) > 0.3


def test_invalid_config_is_rejected():
    with pytest.raises(ValueError, match="end"):
        SimulatorConfig(start=date(2022, 1, 1), end=date(2021, 1, 1))
    with pytest.raises(ValueError, match="garch"):
        SimulatorConfig(garch_alpha=0.2, garch_beta=0.85)
    with pytest.raises(ValueError, match="n_symbols"):
        SimulatorConfig(n_symbols=0)


def test_range_without_business_days_is_empty():
    market = simulate_market(replace(SMALL, start=date(2022, 1, 1), end=date(2022, 1, 2)))
    assert market.bars.empty and market.oracle.empty
    assert list(market.bars.columns) == BAR_COLUMNS
    assert market.bars["date"].dtype == "datetime64[ns]"
