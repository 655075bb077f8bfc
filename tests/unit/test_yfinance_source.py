"""The ``yfinance`` source, replayed offline: no test here ever opens a network connection.

What is replayed: ``tests/fixtures/yfinance/chart_ACME.json`` and ``chart_ZETA.json`` are
response bodies in Yahoo's v8 chart format (``/v8/finance/chart/{symbol}``: ``meta``,
``timestamp``, ``indicators.quote``, ``indicators.adjclose``, ``events.splits``). They
were written by hand for two made-up symbols, not captured from Yahoo (there is no
network here), with numbers chosen to be checkable: ACME has a 2:1 split effective
2024-01-05 (raw prices halve, ``adjclose`` is continuous), ZETA did not trade on
2024-01-08 (nulls, as Yahoo sends them). Only yfinance's HTTP method
(``YfData.get`` / ``YfData.cache_get``) is replaced, by one that serves those bodies by
the symbol in the URL; everything else (``yfinance.download``, its threads, its JSON
parser, timezone handling, the reindexing of several symbols onto one calendar, the
column layout) is the installed yfinance's own code. Sockets are blocked in every test,
so a request that escaped the replay would fail the test instead of reaching Yahoo.
"""

from __future__ import annotations

import json
import re
import socket
import sys
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from ingest.schema import BAR_COLUMNS
from ingest.sources import SourceSpec, load_source

yfinance = pytest.importorskip("yfinance")
from yfinance.data import YfData  # noqa: E402

FIXTURES = Path(__file__).parent.parent / "fixtures" / "yfinance"
START, END = date(2024, 1, 2), date(2024, 1, 10)
SPEC = SourceSpec("yfinance")
NOT_FOUND = {
    "chart": {
        "result": None,
        "error": {"code": "Not Found", "description": "No data found, symbol may be delisted"},
    }
}


class _Response:
    status_code = 200
    url = "https://query2.finance.yahoo.com/v8/finance/chart"

    def __init__(self, payload: dict) -> None:
        self._payload = payload
        self.text = json.dumps(payload)

    def json(self) -> dict:
        return self._payload

    def raise_for_status(self) -> None:
        pass


def _replay(self, url, params=None, timeout=30):
    chart = re.search(r"/v8/finance/chart/([^/?]+)", url)
    path = FIXTURES / f"chart_{chart.group(1)}.json" if chart else None
    return _Response(json.loads(path.read_text()) if path and path.exists() else NOT_FOUND)


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path):
    def blocked(*args, **kwargs):
        raise OSError("network access in a test")

    monkeypatch.setattr(socket.socket, "connect", blocked)
    monkeypatch.setattr(socket, "create_connection", blocked)
    yfinance.set_tz_cache_location(str(tmp_path / "yf-cache"))
    monkeypatch.setattr(YfData, "get", _replay)
    monkeypatch.setattr(YfData, "cache_get", _replay)


def _load(universe) -> pd.DataFrame:
    return load_source(SPEC, start=START, end=END, universe=universe).bars


def _force_download_args(monkeypatch, **forced) -> None:
    """Make the source's single download call use another layout, as other versions do."""
    real = yfinance.download

    def download(*args, **kwargs):
        return real(*args, **{**kwargs, **forced})

    monkeypatch.setattr(yfinance, "download", download)


def test_replayed_download_gives_canonical_bars():
    data = load_source(SPEC, start=START, end=END, universe=["acme", "ZETA"])
    assert data.oracle is None
    bars = data.bars
    assert list(bars.columns) == [*BAR_COLUMNS, "adj_close"]
    assert bars["date"].dtype == "datetime64[ns]"
    assert bars["symbol"].map(type).eq(str).all()
    assert {str(bars[c].dtype) for c in [*BAR_COLUMNS[2:], "adj_close"]} == {"float64"}
    assert bars.index.tolist() == list(range(len(bars)))
    # symbols are upper-cased as Yahoo does; ZETA's day without a trade is dropped
    days = {s: g["date"].dt.strftime("%Y-%m-%d").tolist() for s, g in bars.groupby("symbol")}
    assert days["ACME"] == [d.strftime("%Y-%m-%d") for d in pd.bdate_range(START, END)]
    assert "2024-01-08" not in days["ZETA"] and len(days["ZETA"]) == 6
    assert bars[["open", "high", "low", "close", "volume"]].notna().all().all()


def test_split_is_carried_by_adj_close_and_applied_once():
    acme = _load(["ACME"]).set_index("date")
    before, after = acme.loc["2024-01-04"], acme.loc["2024-01-05"]
    # raw prices as traded: the close halves at the 2:1 split ...
    assert (before["close"], after["close"]) == (104.0, 52.5)
    assert before["volume"] == 900_000.0
    # ... and Yahoo's adjusted close, kept as is (not adjusted again), is continuous
    assert (before["adj_close"], after["adj_close"]) == (52.0, 52.5)
    # what stg_ohlcv does (scale by adj_close / close, once) gives a continuous series
    factor = acme["adj_close"] / acme["close"]
    assert factor.loc[:"2024-01-04"].eq(0.5).all() and factor.loc["2024-01-05":].eq(1.0).all()
    adjusted_open = acme["open"] * factor
    assert adjusted_open.pct_change().abs().max() < 0.05


@pytest.mark.parametrize(
    "forced",
    [
        {"group_by": "ticker"},  # (ticker, field) columns
        {"ignore_tz": False},  # tz-aware index in the exchange's time zone
        {"group_by": "ticker", "ignore_tz": False},
    ],
)
def test_other_layouts_give_the_same_bars(monkeypatch, forced):
    expected = _load(["ACME", "ZETA"])
    _force_download_args(monkeypatch, **forced)
    pd.testing.assert_frame_equal(_load(["ACME", "ZETA"]), expected)


def test_single_symbol_with_flat_columns(monkeypatch):
    expected = _load(["ZETA"])
    _force_download_args(monkeypatch, multi_level_index=False)
    pd.testing.assert_frame_equal(_load(["ZETA"]), expected)
    assert len(expected) == 6


def test_range_is_inclusive_of_both_ends():
    bars = load_source(SPEC, start=date(2024, 1, 3), end=date(2024, 1, 5), universe=["ACME"]).bars
    assert bars["date"].dt.strftime("%Y-%m-%d").tolist() == [
        "2024-01-03",
        "2024-01-04",
        "2024-01-05",
    ]


@pytest.mark.parametrize("universe", [None, 50, []])
def test_universe_must_list_symbols(universe):
    with pytest.raises(ValueError, match=r"yfinance: the universe must list the symbols") as err:
        _load(universe)
    assert "\n" not in str(err.value)


def test_missing_extra_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "yfinance", None)  # makes `import yfinance` fail
    with pytest.raises(ValueError, match=r"uv sync --extra yfinance") as err:
        _load(["ACME"])
    assert "\n" not in str(err.value)


def test_unknown_symbol_is_named(monkeypatch):
    with pytest.raises(
        ValueError, match=r"^yfinance: no bars for NOPE \(2024-01-02\.\.2024-01-10\): \w"
    ):
        _load(["ACME", "NOPE"])


def test_network_failure_names_the_symbols(monkeypatch):
    def unreachable(self, url, params=None, timeout=30):
        raise ConnectionError("Failed to resolve 'query2.finance.yahoo.com'")

    monkeypatch.setattr(YfData, "get", unreachable)
    monkeypatch.setattr(YfData, "cache_get", unreachable)
    with pytest.raises(ValueError, match=r"^yfinance: no bars for ACME, ZETA") as err:
        _load(["ACME", "ZETA"])
    assert "\n" not in str(err.value)


def test_download_that_raises_is_one_line(monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("Too Many Requests.\nRate limited. Try after a while.")

    monkeypatch.setattr(yfinance, "download", broken)
    with pytest.raises(
        ValueError,
        match=r"^yfinance: download of ACME, ZETA \(2024-01-02\.\.2024-01-10\) failed: Too Many",
    ) as err:
        _load(["ACME", "ZETA"])
    assert "\n" not in str(err.value)
