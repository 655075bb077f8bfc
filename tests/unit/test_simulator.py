"""The simulator: determinism, calendar, bar consistency, stability and stylized facts."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import numpy as np
import pandas as pd
import pytest

from ingest.schema import BAR_COLUMNS, to_canonical
from ingest.simulator import SECTOR_NAMES, SimulatorConfig, simulate_market

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
    frame = market.bars.merge(market.oracle, on=["symbol", "date"], validate="one_to_one")
    close = frame.groupby("symbol")["close"]
    frame["ret"] = close.pct_change()
    for h in range(1, 6):
        frame[f"fwd_{h}"] = close.shift(-h) / close.shift(-(h - 1)) - 1
    return frame


def _mean_rank_ic(frame: pd.DataFrame, target: str) -> float:
    clean = frame.dropna(subset=[target])
    daily = clean.groupby("date")[["expected_ret_1d", target]].corr(method="spearman")
    return float(daily.xs(target, level=1)["expected_ret_1d"].mean())


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


def test_oracle_rows_match_bars(small):
    assert list(small.oracle.columns) == ["symbol", "date", "expected_ret_1d"]
    pd.testing.assert_frame_equal(small.oracle[["symbol", "date"]], small.bars[["symbol", "date"]])
    assert small.oracle["expected_ret_1d"].notna().all()


def test_oracle_rank_ic_is_weak_but_real(wide):
    frame = _with_returns(wide)
    ic_1d = _mean_rank_ic(frame, "fwd_1")
    assert 0.03 <= ic_1d <= 0.06
    # Persistent: the same expectation still ranks returns two to five days out.
    for h in range(2, 6):
        assert _mean_rank_ic(frame, f"fwd_{h}") > 0.02


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


def test_oracle_ranks_the_five_day_label_the_model_is_scored_on(wide):
    # the label as fct_labels computes it: close(t+6) / close(t+1) - 1, by rows
    close = wide.bars.groupby("symbol")["close"]
    frame = wide.oracle.assign(fwd_5d=close.shift(-6) / close.shift(-1) - 1)
    assert 0.04 <= _mean_rank_ic(frame, "fwd_5d") <= 0.12
