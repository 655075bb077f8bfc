"""Books from scores: the holding buffer, long-short neutrality, schedules and limits."""

from __future__ import annotations

import numpy as np
import pytest

from backtests.construction import (
    PortfolioSpec,
    book_weights,
    held_after,
    rebalance_rows,
    select_members,
    spec_book,
)


def members_of(scores: list[list[float]], top_k: int, n_drop: int, every: int = 1) -> np.ndarray:
    values = np.array(scores, dtype=float)
    rebalance = rebalance_rows(values, np.array([every]))
    return select_members(values, np.array([top_k]), np.array([n_drop]), rebalance)[0]


def test_buffer_keeps_a_held_name_until_it_falls_below_top_k_plus_n_drop() -> None:
    # symbol 0 is first, then slips to 3rd, then to 5th
    scores = [
        [5, 4, 3, 2, 1],
        [3, 5, 4, 2, 1],
        [1, 5, 4, 3, 2],
    ]
    without = members_of(scores, top_k=2, n_drop=0)
    with_buffer = members_of(scores, top_k=2, n_drop=2)
    assert without[1].tolist() == [False, True, True, False, False]
    # rank 3 is inside 2 + 2: kept, and only one new name is added
    assert with_buffer[1].tolist() == [True, True, False, False, False]
    # rank 5 is outside: dropped for the best name not held
    assert with_buffer[2].tolist() == [False, True, True, False, False]


def test_members_change_only_on_rebalancing_rows() -> None:
    rng = np.random.default_rng(3)
    scores = rng.normal(size=(12, 8))
    scores[:2] = np.nan
    rebalance = rebalance_rows(scores, np.array([5]))
    assert np.flatnonzero(rebalance[0]).tolist() == [2, 7]
    members = select_members(scores, np.array([3]), np.array([0]), rebalance)[0]
    assert members.sum(axis=1).tolist() == [0, 0, 3, 0, 0, 0, 0, 3, 0, 0, 0, 0]


def test_names_without_a_score_are_never_chosen_and_fewer_names_share_the_book() -> None:
    members = members_of([[1.0, np.nan, 3.0, np.nan]], top_k=3, n_drop=0)
    assert members[0].tolist() == [True, False, True, False]
    weights = book_weights(members[None], None, PortfolioSpec(top_k=3))
    assert weights[0, 0].tolist() == [0.5, 0.0, 0.5, 0.0]


def test_long_short_book_is_dollar_neutral_with_unit_gross() -> None:
    rng = np.random.default_rng(0)
    scores = rng.normal(size=(30, 20))
    spec = PortfolioSpec(top_k=4, long_short=True, rebalance_every=3)
    decisions = spec_book(scores, spec, None)
    decided = decisions[~np.isnan(decisions).all(axis=1)]
    assert len(decided) == 10
    np.testing.assert_allclose(decided.sum(axis=1), 0.0, atol=1e-15)
    np.testing.assert_allclose(np.abs(decided).sum(axis=1), 1.0)
    assert ((decided > 0).sum(axis=1) == 4).all() and ((decided < 0).sum(axis=1) == 4).all()
    # the longs are the best scores, the shorts the worst
    first = decided[0]
    order = np.argsort(-scores[0])
    assert set(np.flatnonzero(first > 0)) == set(order[:4])
    assert set(np.flatnonzero(first < 0)) == set(order[-4:])


def test_position_cap_leaves_the_excess_in_cash_and_gross_cap_scales() -> None:
    members = members_of([[3.0, 2.0, 1.0]], top_k=2, n_drop=0)[None]
    capped = book_weights(members, None, PortfolioSpec(top_k=2, max_position=0.3))
    assert capped[0, 0].tolist() == [0.3, 0.3, 0.0]
    half = book_weights(members, None, PortfolioSpec(top_k=2, max_gross=0.5))
    assert half[0, 0].tolist() == [0.25, 0.25, 0.0]


def test_inverse_volatility_weights_favour_the_calm_name() -> None:
    rng = np.random.default_rng(1)
    returns = np.column_stack([rng.normal(0, 0.01, 80), rng.normal(0, 0.03, 80)])
    scores = np.ones((80, 2))
    scores[:70] = np.nan  # the one decision comes with 70 days of history
    spec = PortfolioSpec(top_k=2, weighting="inverse_vol", rebalance_every=80)
    weights = held_after(spec_book(scores, spec, returns))
    assert weights.sum() == pytest.approx(1.0)
    assert weights[0] / weights[1] == pytest.approx(3.0, rel=0.25)


def test_vol_target_scales_the_book_but_never_levers_past_max_gross() -> None:
    rng = np.random.default_rng(2)
    returns = rng.normal(0, 0.02, (100, 3))  # about 32% a year per name
    scores = np.tile([3.0, 2.0, 1.0], (100, 1))
    scores[:90] = np.nan  # the one decision comes with 90 days of history
    spec = PortfolioSpec(top_k=3, rebalance_every=100, vol_target=0.05)
    weights = held_after(spec_book(scores, spec, returns))
    assert 0 < weights.sum() < 0.5
    calm = PortfolioSpec(top_k=3, rebalance_every=100, vol_target=5.0)
    assert held_after(spec_book(scores, calm, returns)).sum() == pytest.approx(1.0)


def test_spec_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="top_k"):
        PortfolioSpec(top_k=0)
    with pytest.raises(ValueError, match="n_drop"):
        PortfolioSpec(n_drop=-1)
    with pytest.raises(ValueError, match="weighting"):
        PortfolioSpec(weighting="cap")  # type: ignore[arg-type]
