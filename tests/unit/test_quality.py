"""Quality rules: each error rule with a failing row (pure split and the GX suite agree),
and the warning checks."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from ingest.checks import CHECK_REASONS, ERROR_CHECKS
from ingest.quality import find_anomalies, split_bars, validate_bars

TODAY = date(2024, 1, 31)


def _bars() -> pd.DataFrame:
    days = pd.bdate_range("2024-01-02", "2024-01-12")
    frames = []
    for k, symbol in enumerate(("AAA", "BBB")):
        close = pd.Series(range(len(days)), dtype="float64") * 0.1 + 10 * (k + 1)
        frames.append(
            pd.DataFrame(
                {
                    "symbol": symbol,
                    "date": days,
                    "open": close - 0.05,
                    "high": close + 0.2,
                    "low": close - 0.2,
                    "close": close,
                    "volume": 1000.0,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def _set(frame: pd.DataFrame, row: int, **values) -> pd.DataFrame:
    frame = frame.copy()
    for column, value in values.items():
        frame.loc[row, column] = value
    return frame


# reason -> a frame where row 3 (or the appended row) breaks only that rule
BROKEN = {
    "missing_value": lambda b: _set(b, 3, close=float("nan")),
    "non_positive_price": lambda b: _set(b, 3, open=0.0, low=0.0),
    "high_below_max": lambda b: _set(b, 3, high=b.loc[3, "close"] - 0.01),
    "low_above_min": lambda b: _set(b, 3, low=b.loc[3, "open"] + 0.01),
    "negative_volume": lambda b: _set(b, 3, volume=-5.0),
    "duplicate_key": lambda b: pd.concat([b, b.iloc[[3]].assign(close=99.0, high=99.5)]),
    "future_date": lambda b: _set(b, 3, date=pd.Timestamp("2024-02-05")),
    "weekend_date": lambda b: _set(b, 3, date=pd.Timestamp("2024-01-06")),
    "invalid_symbol": lambda b: _set(b, 3, symbol="'; DROP TABLE x; --"),
    "implausible_value": lambda b: _set(b, 3, volume=float("inf")),
}


def test_clean_bars_pass_everything() -> None:
    bars = _bars()
    split = split_bars(bars, today=TODAY)
    assert split.quarantined.empty and split.score == 1.0 and split.counts == {}
    assert all(outcome.passed for outcome in validate_bars(bars, today=TODAY).values())


@pytest.mark.parametrize("reason", list(BROKEN))
def test_each_rule_quarantines_its_row_and_fails_its_check(reason: str) -> None:
    bars = BROKEN[reason](_bars()).reset_index(drop=True)
    split = split_bars(bars, today=TODAY)
    expected_rows = 2 if reason == "duplicate_key" else 1
    assert split.counts == {reason: expected_rows}
    assert (split.quarantined["reason"] == reason).all()
    assert len(split.good) + len(split.quarantined) == len(bars)
    assert list(split.quarantined.columns) == [*bars.columns, "reason"]
    assert split.score == pytest.approx(len(split.good) / len(bars))

    outcomes = validate_bars(bars, today=TODAY)
    failed = {name for name, outcome in outcomes.items() if not outcome.passed}
    (check,) = [name for name, reasons in CHECK_REASONS.items() if reason in reasons]
    # a null also fails the comparisons it takes part in; every other rule fails alone
    assert check in failed and (reason == "missing_value" or failed == {check})
    assert sum(outcomes[check].unexpected.values()) >= 1
    # what passes the split passes the suite
    assert all(outcome.passed for outcome in validate_bars(split.good, today=TODAY).values())


def test_a_spike_loses_one_row_and_a_shifted_tail_loses_the_tail() -> None:
    bars = _bars()
    spike = _set(bars, 3, open=12_000.0, high=12_000.5, low=11_999.0, close=12_000.0)
    split = split_bars(spike, today=TODAY)
    assert split.quarantined.index.size == 1 and split.counts == {"implausible_jump": 1}
    assert split.quarantined.loc[0, "close"] == 12_000.0

    tail = bars.copy()
    shifted = (tail["symbol"] == "AAA") & (tail.index >= 6)
    tail.loc[shifted, ["open", "high", "low", "close"]] *= 1000
    split = split_bars(tail, today=TODAY)
    assert split.counts == {"implausible_jump": int(shifted.sum())}
    # a split with its adjusted close is no jump
    adjusted = tail.assign(adj_close=bars["close"])
    assert split_bars(adjusted, today=TODAY).quarantined.empty


def test_a_row_with_two_problems_names_both() -> None:
    bars = _set(_bars(), 2, volume=-1.0, high=1.0)
    split = split_bars(bars, today=TODAY)
    assert split.quarantined["reason"].tolist() == ["high_below_max;negative_volume"]


def test_exact_copies_collapse_without_quarantine() -> None:
    bars = _bars()
    split = split_bars(pd.concat([bars, bars.iloc[:4]]), today=TODAY)
    assert split.quarantined.empty
    assert len(split.good) == len(bars)


def test_missing_column_fails_the_columns_check() -> None:
    outcomes = validate_bars(_bars().drop(columns=["volume"]), today=TODAY)
    assert not outcomes["columns_and_types"].passed
    assert set(outcomes) == set(ERROR_CHECKS)


def test_wrong_type_fails_the_columns_check() -> None:
    outcomes = validate_bars(_bars().astype({"close": "object"}), today=TODAY)
    assert not outcomes["columns_and_types"].passed


def test_warnings_flag_large_returns_stale_prices_and_gaps() -> None:
    bars = _bars()
    bars = _set(bars, 7, close=bars.loc[6, "close"] * 1.6, high=bars.loc[6, "close"] * 1.7)
    for row in range(11, 18):  # BBB's close stops moving
        bars = _set(bars, row, close=bars.loc[10, "close"])
    gapped = bars.drop(index=[2, 3, 4, 5])  # AAA misses four business days
    found = find_anomalies(gapped)
    assert found["large_returns"][["symbol", "date"]].values.tolist() == [
        ["AAA", pd.Timestamp("2024-01-11")],  # the spike
        ["AAA", pd.Timestamp("2024-01-12")],  # and the fall back
    ]
    assert set(found["stale_prices"]["symbol"]) == {"BBB"}
    assert found["stale_prices"]["unchanged_bars"].max() == 8
    assert found["gaps"]["missing_business_days"].tolist() == [4]
    quiet = find_anomalies(_bars())
    assert all(rows.empty for rows in quiet.values())
