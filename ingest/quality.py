"""Quality gates for daily bars: which rows may enter the lake, and what looks odd.

Two kinds of rules, kept apart on purpose:

- **Errors** make a row unusable; it goes to quarantine with its reason(s) and never
  reaches the lake. :func:`split_bars` applies them row by row, so the good rows of the
  same input still proceed. The same rules are also written as a Great Expectations
  suite (:func:`validate_bars`), which the blocking asset checks run on what is stored:
  a second, independent implementation guards against a bug in the first and against
  files stored before these gates existed.
- **Warnings** (:func:`find_anomalies`) flag rows that are valid but suspicious (a huge
  return, a price that does not move, a long hole in a series). Real markets produce
  them (a takeover, a trading halt), so they are reported, never quarantined.

Reasons (the ``reason`` column of a quarantined row; several are joined by ``;``):

=====================  ======================================================
``missing_value``      a required cell (symbol, date, OHLC, volume) is empty
``non_positive_price`` open, high, low, close (or adj_close) is <= 0
``high_below_max``     high < max(open, close, low)
``low_above_min``      low > min(open, close)
``negative_volume``    volume < 0
``duplicate_key``      two rows for one (symbol, date) that disagree (all are
                       quarantined: there is no way to tell which is right;
                       exact copies are collapsed to one row instead)
``future_date``        the bar is dated after ``today``
``weekend_date``       the bar is dated on a Saturday or a Sunday
``invalid_symbol``     the symbol is not ticker-like (letters, digits and
                       ``. - ^ = _``, at most 32, not starting with a dot):
                       no path, quote or SQL ever travels as a symbol
``implausible_value``  a price above 1e9 or a volume above 1e13 (infinity too)
``implausible_jump``   the close moved over 100x, up or down, from the previous
                       bar of the symbol in the same input (an unadjusted split
                       or a unit change): every row off the level that most of
                       the symbol's rows share is quarantined, so a spike loses
                       one row and a shifted tail loses the tail
=====================  ======================================================

``implausible_jump`` needs the neighbouring bars, so it is a gate of the split only;
the Great Expectations suite checks every other rule.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd

from ingest.checks import ERROR_CHECKS
from ingest.schema import ADJ_CLOSE, BAR_COLUMNS, PRICE_COLUMNS

REASONS = (
    "missing_value",
    "non_positive_price",
    "high_below_max",
    "low_above_min",
    "negative_volume",
    "duplicate_key",
    "future_date",
    "weekend_date",
    "invalid_symbol",
    "implausible_value",
    "implausible_jump",
)

SYMBOL_PATTERN = r"[A-Za-z0-9^=_\-][A-Za-z0-9.^=_\-]{0,31}"
MAX_PRICE = 1e9
MAX_VOLUME = 1e13
MAX_JUMP = 100.0

ANOMALY_LOOKBACK_DAYS = 14
"""Calendar days read before the first reviewed day, so that its return and its gap
have a predecessor."""


@dataclass
class QualitySplit:
    """The rows that may enter the lake and the rows that may not (with ``reason``)."""

    good: pd.DataFrame
    quarantined: pd.DataFrame
    n_input: int
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def score(self) -> float:
        """Share of input rows that passed (1.0 for an empty input)."""
        return 1.0 if self.n_input == 0 else len(self.good) / self.n_input


def split_bars(bars: pd.DataFrame, *, today: date) -> QualitySplit:
    """Split canonical bars into good rows and quarantined rows (see the module docstring).

    Exact duplicate rows are collapsed first (a file concatenated twice is not an error);
    ``counts`` gives the number of quarantined rows per reason (a row with two reasons
    counts under both).
    """
    n_input = len(bars)
    repeated = bars.duplicated(["symbol", "date"], keep=False).to_numpy()
    if repeated.any():  # only rows sharing a key can be exact copies
        copy = np.zeros(len(bars), dtype=bool)
        copy[np.flatnonzero(repeated)[bars[repeated].duplicated().to_numpy()]] = True
        bars = bars[~copy]
    bars = bars.reset_index(drop=True)
    prices = [c for c in (*PRICE_COLUMNS, ADJ_CLOSE) if c in bars.columns]
    days = pd.to_datetime(bars["date"])
    failing = {
        "missing_value": bars[BAR_COLUMNS].isna().any(axis=1)
        | (bars["symbol"].astype(str).str.strip() == ""),
        "non_positive_price": (bars[prices] <= 0).any(axis=1),
        "high_below_max": bars["high"] < bars[["open", "close", "low"]].max(axis=1),
        "low_above_min": bars["low"] > bars[["open", "close"]].min(axis=1),
        "negative_volume": bars["volume"] < 0,
        "duplicate_key": bars.duplicated(["symbol", "date"], keep=False),
        "future_date": days > pd.Timestamp(today),
        "weekend_date": days.dt.weekday >= 5,
        "invalid_symbol": ~bars["symbol"].astype(str).str.fullmatch(SYMBOL_PATTERN),
        "implausible_value": (bars[prices] > MAX_PRICE).any(axis=1) | (bars["volume"] > MAX_VOLUME),
        "implausible_jump": _off_level(bars),
    }
    flags = pd.DataFrame(failing).fillna(False).astype(bool)
    bad = flags.any(axis=1).to_numpy()
    quarantined = bars[bad].copy()
    quarantined["reason"] = [
        ";".join(name for name, hit in zip(REASONS, row, strict=True) if hit)
        for row in flags[bad][list(REASONS)].to_numpy()
    ]
    return QualitySplit(
        good=bars[~bad].reset_index(drop=True),
        quarantined=quarantined.reset_index(drop=True),
        n_input=n_input,
        counts={name: int(flags[name].sum()) for name in REASONS if flags[name].any()},
    )


def _off_level(bars: pd.DataFrame) -> pd.Series:
    """Rows whose close sits off the symbol's main level (see ``implausible_jump``)."""
    if bars.empty:
        return pd.Series(False, index=bars.index)
    close = bars[ADJ_CLOSE].fillna(bars["close"]) if ADJ_CLOSE in bars else bars["close"]
    usable = close.where(close > 0)  # other gates handle missing and non-positive prices
    order = np.lexsort((pd.to_datetime(bars["date"]).to_numpy(), bars["symbol"].astype(str)))
    ordered = pd.DataFrame(
        {"symbol": bars["symbol"].astype(str).to_numpy()[order], "log": np.log(usable)[order]}
    )
    ordered["log"] = ordered.groupby("symbol", sort=False)["log"].ffill()
    step = ordered.groupby("symbol", sort=False)["log"].diff().fillna(0.0)
    jump = np.sign(step).where(step.abs() > np.log(MAX_JUMP), 0.0)
    if not jump.any():
        return pd.Series(False, index=bars.index)
    level = jump.groupby(ordered["symbol"], sort=False).cumsum()
    main = level.groupby(ordered["symbol"], sort=False).transform(lambda x: x.mode().iloc[0])
    off = np.empty(len(bars), dtype=bool)
    off[order] = (level != main).to_numpy()
    return pd.Series(off, index=bars.index)


def reason_counts(quarantined: pd.DataFrame) -> dict[str, int]:
    """Rows per reason in a quarantine frame (a row with two reasons counts twice)."""
    if quarantined.empty:
        return {}
    counts = quarantined["reason"].str.split(";").explode().value_counts()
    return {str(reason): int(n) for reason, n in counts.items()}


# -- warnings ----------------------------------------------------------------------


def find_anomalies(
    bars: pd.DataFrame,
    *,
    return_threshold: float = 0.25,
    stale_bars: int = 5,
    gap_business_days: int = 3,
) -> dict[str, pd.DataFrame]:
    """Rows of ``bars`` that each warning check flags (check name -> rows).

    ``bars`` should include a few bars before the days under review, so that the first
    reviewed bar has a predecessor. Returns are close to close within a symbol (adjusted
    close when the bars have one);
    ``stale_bars`` counts a run of equal closes; a gap is the number of business days
    missing between two consecutive bars of a symbol (holidays cost one or two).
    """
    ordered = bars.sort_values(["symbol", "date"], ignore_index=True)
    by_symbol = ordered.groupby("symbol", sort=False)
    # the adjusted close where there is one, so that a split is not a "return"
    close = (
        ordered[ADJ_CLOSE].fillna(ordered["close"]) if ADJ_CLOSE in ordered else ordered["close"]
    )
    prev_close = close.groupby(ordered["symbol"], sort=False).shift(1)
    ret = close / prev_close - 1
    unchanged = close.eq(prev_close)
    # length of the run of unchanged closes ending at each row
    run_id = (~unchanged).cumsum()
    run = unchanged.groupby(run_id).cumsum() + 1
    prev_day = by_symbol["date"].shift(1)
    has_prev = prev_day.notna().to_numpy()
    missing = np.zeros(len(ordered), dtype=np.int64)
    missing[has_prev] = (
        np.busday_count(
            prev_day[has_prev].to_numpy(dtype="datetime64[D]"),
            ordered["date"][has_prev].to_numpy(dtype="datetime64[D]"),
        )
        - 1
    )
    return {
        "large_returns": ordered.assign(ret=ret)[ret.abs() > return_threshold],
        "stale_prices": ordered.assign(unchanged_bars=run)[run >= stale_bars],
        "gaps": ordered.assign(missing_business_days=missing)[missing > gap_business_days],
    }


# -- Great Expectations -------------------------------------------------------------


def _suite_for(check: str, columns: list[str], today: date) -> list[object]:
    import great_expectations.expectations as gxe

    prices = [c for c in (*PRICE_COLUMNS, ADJ_CLOSE) if c in columns]
    if check == "columns_and_types":
        return [
            *(gxe.ExpectColumnToExist(column=c) for c in BAR_COLUMNS),
            gxe.ExpectColumnValuesToBeOfType(column="date", type_="datetime64[ns]"),
            *(
                gxe.ExpectColumnValuesToBeOfType(column=c, type_="float64")
                for c in [*PRICE_COLUMNS, "volume"]
            ),
            *(gxe.ExpectColumnValuesToNotBeNull(column=c) for c in BAR_COLUMNS),
        ]
    if check == "positive_prices":
        return [
            gxe.ExpectColumnValuesToBeBetween(column=c, min_value=0, strict_min=True)
            for c in prices
        ]
    if check == "high_is_highest":
        return [
            gxe.ExpectColumnPairValuesAToBeGreaterThanB(column_A="high", column_B=c, or_equal=True)
            for c in ("open", "close", "low")
        ]
    if check == "low_is_lowest":
        return [
            gxe.ExpectColumnPairValuesAToBeGreaterThanB(column_A=c, column_B="low", or_equal=True)
            for c in ("open", "close")
        ]
    if check == "non_negative_volume":
        return [gxe.ExpectColumnValuesToBeBetween(column="volume", min_value=0)]
    if check == "unique_symbol_date":
        return [gxe.ExpectCompoundColumnsToBeUnique(column_list=["symbol", "date"])]
    if check == "plausible_values":
        return [
            gxe.ExpectColumnValuesToMatchRegex(column="symbol", regex=f"^{SYMBOL_PATTERN}$"),
            *(gxe.ExpectColumnValuesToBeBetween(column=c, max_value=MAX_PRICE) for c in prices),
            gxe.ExpectColumnValuesToBeBetween(column="volume", max_value=MAX_VOLUME),
        ]
    if check == "business_dates":
        return [
            gxe.ExpectColumnValuesToBeBetween(
                column="date", max_value=pd.Timestamp(today).isoformat()
            ),
            gxe.ExpectColumnValuesToBeInSet(column="weekday", value_set=[0, 1, 2, 3, 4]),
        ]
    raise ValueError(f"unknown check {check!r}")


@dataclass(frozen=True)
class CheckOutcome:
    """The result of one blocking check: passed, and unexpected rows per expectation."""

    name: str
    passed: bool
    unexpected: dict[str, int]


def validate_bars(bars: pd.DataFrame, *, today: date) -> dict[str, CheckOutcome]:
    """Run every blocking check of :data:`ERROR_CHECKS` on ``bars`` with Great Expectations.

    One ephemeral context, one pandas data source and a whole-dataframe batch; one suite
    holds every expectation, and the results are grouped back by check.
    """
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx

    frame = bars.copy()
    if "date" in frame.columns and pd.api.types.is_datetime64_any_dtype(frame["date"]):
        frame["weekday"] = frame["date"].dt.weekday
    else:
        frame["weekday"] = -1
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = {"globally": False}  # type: ignore[assignment]
    batch = (
        context.data_sources.add_pandas("bars")
        .add_dataframe_asset("bars")
        .add_batch_definition_whole_dataframe("all")
        .get_batch(batch_parameters={"dataframe": frame})
    )
    suite = gx.ExpectationSuite(name="raw_ohlcv")
    for check in ERROR_CHECKS:
        for expectation in _suite_for(check, list(frame.columns), today):
            # results come back in no promised order: the check rides along in meta
            expectation.meta = {"check": check}
            suite.add_expectation(expectation)
    result = batch.validate(suite)

    outcomes: dict[str, dict[str, int]] = {check: {} for check in ERROR_CHECKS}
    passed = dict.fromkeys(ERROR_CHECKS, True)
    for item in result.results:
        config = item.expectation_config
        check = config.meta["check"]
        label = f"{config.type}({_describe(config.kwargs)})"
        if not item.success:
            passed[check] = False
            outcomes[check][label] = int(item.result.get("unexpected_count") or 0)
    return {check: CheckOutcome(check, passed[check], outcomes[check]) for check in ERROR_CHECKS}


def _describe(kwargs: dict[str, object]) -> str:
    keys = ("column", "column_A", "column_B", "column_list")
    return ", ".join(str(kwargs[k]) for k in keys if k in kwargs)
