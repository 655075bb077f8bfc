"""Property-based tests of the parsers and the quality gates (hypothesis).

Whatever bytes a file holds, reading it gives canonical bars or a ValueError naming it,
never another exception; whatever values bars hold, the gates keep every row exactly
once (stored or quarantined with a reason) and what they let through obeys every rule.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.quality import MAX_PRICE, MAX_VOLUME, REASONS, SYMBOL_PATTERN, split_bars
from ingest.schema import BAR_COLUMNS, to_canonical
from ingest.sources import read_bars_file

TODAY = date(2024, 1, 31)
HEADER = "date,open,high,low,close,volume\n"

cells = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.text(max_size=12),
    st.sampled_from(["2024-01-02", "01/03/2024", "2024-01-06T00:00:00+05:00", "", "nan", "inf"]),
)


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(content=st.binary(max_size=400))
def test_any_bytes_read_as_bars_or_a_value_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "ZZZ.csv"
    path.write_bytes(content)
    _read_or_value_error(path)


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=st.lists(st.lists(cells, min_size=6, max_size=6), max_size=6))
def test_any_cells_under_a_valid_header_read_or_fail_cleanly(tmp_path: Path, rows) -> None:
    path = tmp_path / "ZZZ.csv"
    pd.DataFrame(rows, columns=HEADER.strip().split(",")).to_csv(path, index=False)
    _read_or_value_error(path)


def _read_or_value_error(path: Path) -> None:
    try:
        bars = read_bars_file(path)
    except ValueError as exc:
        assert path.name in str(exc)
        return
    assert list(bars.columns)[: len(BAR_COLUMNS)] == BAR_COLUMNS
    assert bars["date"].dtype == "datetime64[ns]"
    assert all(bars[c].dtype == "float64" for c in ("open", "high", "low", "close", "volume"))


prices = st.one_of(
    st.floats(min_value=-5, max_value=2e9, allow_nan=False),
    st.sampled_from([np.nan, np.inf, -np.inf, 0.0, 1e12]),
)
bar = st.fixed_dictionaries(
    {
        "symbol": st.sampled_from(["AAA", "BBB", "x'; --", "../etc", ""]),
        "date": st.dates(date(2024, 1, 1), date(2024, 2, 10)).map(pd.Timestamp),
        "open": prices,
        "high": prices,
        "low": prices,
        "close": prices,
        "volume": st.one_of(st.floats(-10, 1e15, allow_nan=False), st.just(np.nan)),
    }
)


@settings(max_examples=150, deadline=None)
@given(rows=st.lists(bar, max_size=25))
def test_the_gates_keep_every_row_once_and_pass_only_valid_bars(rows) -> None:
    bars = pd.DataFrame(rows, columns=BAR_COLUMNS)
    bars["date"] = pd.to_datetime(bars["date"]).astype("datetime64[ns]")
    bars["symbol"] = bars["symbol"].astype(object)
    split = split_bars(bars, today=TODAY)

    n_distinct = len(bars.drop_duplicates())
    assert len(split.good) + len(split.quarantined) == n_distinct
    assert split.quarantined["reason"].map(lambda r: set(r.split(";")) <= set(REASONS)).all()
    assert (split.quarantined["reason"] != "").all()

    good = split.good
    finite = good[["open", "high", "low", "close", "volume"]].map(np.isfinite).all(axis=None)
    assert finite
    assert (good[["open", "high", "low", "close"]] > 0).all(axis=None)
    assert (good[["open", "high", "low", "close"]] <= MAX_PRICE).all(axis=None)
    assert good["volume"].between(0, MAX_VOLUME).all()
    assert (good["high"] >= good[["open", "close", "low"]].max(axis=1)).all()
    assert (good["low"] <= good[["open", "close"]].min(axis=1)).all()
    assert not good.duplicated(["symbol", "date"]).any()
    assert (good["date"].dt.weekday < 5).all() and (good["date"] <= pd.Timestamp(TODAY)).all()
    assert good["symbol"].map(lambda s: re.fullmatch(SYMBOL_PATTERN, s) is not None).all()
    # the gates are stable: what passed once passes again
    assert split_bars(good, today=TODAY).quarantined.empty


@settings(max_examples=100, deadline=None)
@given(
    frame=st.lists(
        st.tuples(st.sampled_from(["Date", "DATE", "date", "Timestamp"]), st.text(max_size=5)),
        max_size=4,
    )
)
def test_headers_either_map_or_fail_with_a_value_error(frame) -> None:
    columns = {name: [value] for name, value in frame}
    try:
        to_canonical(pd.DataFrame(columns), source="probe")
    except ValueError as exc:
        assert str(exc).startswith("probe:")
