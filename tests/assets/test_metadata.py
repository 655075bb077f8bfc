"""Numbers in asset metadata are formatted for people, by one rule."""

import math

import dagster as dg

from assets.metadata import number


def test_shares_are_percentages_and_ratios_are_rounded() -> None:
    assert number("cagr", -0.017083521310840455) == dg.MetadataValue.text("-1.71%")
    assert number("max_drawdown", -0.2249) == dg.MetadataValue.text("-22.49%")
    assert number("sharpe", 0.091234567) == dg.MetadataValue.float(0.0912)
    assert number("rank_ic", 0.055149) == dg.MetadataValue.float(0.0551)


def test_values_without_a_number_are_null() -> None:
    assert number("sharpe", math.inf) == dg.MetadataValue.null()
    assert number("cagr", math.nan) == dg.MetadataValue.null()
