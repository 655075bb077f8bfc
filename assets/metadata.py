"""Numbers in asset metadata, formatted for people: one rule for every asset.

A share of something (returns, drawdowns, volatility, hit rates) is a
percentage with two decimals, as text ("-1.71%"); any other ratio (Sharpe, IC, ICIR,
probabilities, turnover) is a float rounded to four decimals, which the UI can still
plot across materializations. A value that is not finite has no number: null.
"""

from __future__ import annotations

import math

import dagster as dg

from backtests.metric_names import PERCENT_METRICS

# Keys whose values are fractions of a whole, shown as percentages.
PERCENT_KEYS = PERCENT_METRICS | {"hit_rate"}
RATIO_DECIMALS = 4


def percent(value: float) -> dg.MetadataValue:
    return (
        dg.MetadataValue.text(f"{value:.2%}") if math.isfinite(value) else dg.MetadataValue.null()
    )


def ratio(value: float) -> dg.MetadataValue:
    if not math.isfinite(value):
        return dg.MetadataValue.null()
    return dg.MetadataValue.float(round(float(value), RATIO_DECIMALS))


def number(key: str, value: float) -> dg.MetadataValue:
    """`value` as a percentage when `key` names a share, else as a rounded ratio."""
    return percent(value) if key in PERCENT_KEYS else ratio(value)
