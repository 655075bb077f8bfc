"""The quality checks of raw bars, by name: what the asset declares before any data is read.

Apart from :mod:`ingest.quality` (which runs them) so that the Dagster definitions
declare the checks without importing pandas.
"""

ERROR_CHECKS: dict[str, str] = {
    "columns_and_types": "required columns present, typed, and not null",
    "positive_prices": "open, high, low, close (and adj_close) > 0",
    "high_is_highest": "high >= max(open, close, low)",
    "low_is_lowest": "low <= min(open, close)",
    "non_negative_volume": "volume >= 0",
    "unique_symbol_date": "one row per (symbol, date)",
    "business_dates": "no bar dated in the future or on a weekend",
    "plausible_values": "ticker-like symbols, prices <= 1e9, volumes <= 1e13",
}
"""Blocking checks (name -> what it asserts), each backed by GX expectations."""

CHECK_REASONS: dict[str, tuple[str, ...]] = {
    "columns_and_types": ("missing_value",),
    "positive_prices": ("non_positive_price",),
    "high_is_highest": ("high_below_max",),
    "low_is_lowest": ("low_above_min",),
    "non_negative_volume": ("negative_volume",),
    "unique_symbol_date": ("duplicate_key",),
    "business_dates": ("future_date", "weekend_date"),
    "plausible_values": ("invalid_symbol", "implausible_value", "implausible_jump"),
}
"""The quarantine reasons that each blocking check stands for."""

WARNING_CHECKS: dict[str, str] = {
    "large_returns": "close-to-close return beyond the threshold",
    "stale_prices": "close unchanged for many consecutive bars",
    "gaps": "many business days missing between two bars of a symbol",
}
"""Non-blocking checks (name -> what it flags)."""
