"""Canonical bars (to_canonical) and the sources that produce them."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from ingest.quality import find_anomalies, split_bars
from ingest.schema import BAR_COLUMNS, to_canonical
from ingest.source_spec import SOURCE_KINDS, SourceSpec, parse_source
from ingest.sources import load_source, symbols_from_stems


def _raw(**overrides) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "symbol": ["BBB", "AAA", "AAA"],
            "date": ["2024-01-03", "2024-01-03", "2024-01-02"],
            "open": [10, 20, 21],
            "high": [11, 22, 23],
            "low": [9, 19, 20],
            "close": [10.5, 21, 22],
            "volume": [100, 200, 300],
        }
    )
    return frame.assign(**overrides)


def _write_symbol_csvs(folder: Path, symbols=("AAA", "BBB"), header=None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    dates = pd.bdate_range("2024-01-01", "2024-01-31")
    for k, symbol in enumerate(symbols):
        close = 10.0 * (k + 1) + pd.Series(range(len(dates)), dtype="float64")
        frame = pd.DataFrame(
            {
                "Date": dates.strftime("%Y-%m-%d"),
                "Open": close - 0.5,
                "High": close + 1,
                "Low": close - 1,
                "Close": close,
                "Adj Close": close * 0.9,
                "Volume": 1000 + k,
                "Dividend": 0.0,
            }
        )
        if header is not None:
            frame.columns = header
        frame.to_csv(folder / f"{symbol}.csv", index=False)


# -- to_canonical ------------------------------------------------------------------


def test_canonical_dtypes_order_and_index():
    out = to_canonical(_raw())
    assert list(out.columns) == BAR_COLUMNS
    assert out[["symbol", "date"]].astype(str).values.tolist() == [
        ["AAA", "2024-01-02"],
        ["AAA", "2024-01-03"],
        ["BBB", "2024-01-03"],
    ]
    assert out.index.tolist() == [0, 1, 2]
    assert out["date"].dtype == "datetime64[ns]"
    assert {str(out[c].dtype) for c in ["open", "high", "low", "close", "volume"]} == {"float64"}
    assert all(isinstance(s, str) for s in out["symbol"])


@pytest.mark.parametrize("adj_header", ["Adj Close", "adj_close", "AdjClose", "ADJ CLOSE"])
def test_header_spellings_are_case_insensitive(adj_header):
    raw = _raw().rename(columns=str.title).rename(columns={"Volume": "VOLUME"})
    raw[adj_header] = [1.0, 2.0, 3.0]
    raw["Dividend"] = 0.5
    out = to_canonical(raw)
    assert list(out.columns) == [*BAR_COLUMNS, "adj_close"]
    assert out["adj_close"].tolist() == [3.0, 2.0, 1.0]


def test_adj_close_only_when_present():
    assert "adj_close" not in to_canonical(_raw()).columns


def test_dates_are_naive_midnight():
    raw = _raw(date=pd.to_datetime(["2024-01-03 16:00", "2024-01-03 09:30", "2024-01-02 00:00"]))
    raw["date"] = raw["date"].dt.tz_localize("America/New_York")
    out = to_canonical(raw)
    assert out["date"].dt.tz is None
    assert (out["date"] == out["date"].dt.normalize()).all()
    assert out["date"].dt.strftime("%Y-%m-%d").tolist() == [
        "2024-01-02",
        "2024-01-03",
        "2024-01-03",
    ]


def test_named_date_index_becomes_a_column():
    raw = _raw().set_index("date").rename_axis("Date")
    assert to_canonical(raw)["date"].notna().all()


def test_missing_columns_name_the_source():
    with pytest.raises(
        ValueError, match=r"prices\.csv: missing required column\(s\) close, volume"
    ) as err:
        to_canonical(_raw().drop(columns=["close", "volume"]), source="prices.csv")
    assert "\n" not in str(err.value)


def test_ambiguous_headers_are_rejected():
    with pytest.raises(ValueError, match="all mean 'date'"):
        to_canonical(_raw(Date="2024-01-05"))


def test_non_numeric_and_non_date_values_are_errors():
    with pytest.raises(ValueError, match=r"f\.csv: column 'close' has 1 non-numeric value"):
        to_canonical(_raw(close=["1.0", "n/a!", "2"]), source="f.csv")
    with pytest.raises(
        ValueError, match=r"f\.csv: column 'date' has values that are not dates"
    ) as err:
        to_canonical(_raw(date=["2024-01-02", "yesterday", "2024-01-03"]), source="f.csv")
    assert "\n" not in str(err.value)


# -- parse_source ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("simulator", SourceSpec("simulator")),
        (" Sample ", SourceSpec("sample")),
        ("yfinance", SourceSpec("yfinance")),
        ("csv:/data/prices", SourceSpec("csv", Path("/data/prices"))),
        ("parquet:rel/dir", SourceSpec("parquet", Path("rel/dir"))),
    ],
)
def test_parse_source_valid_forms(text, expected):
    assert parse_source(text) == expected
    assert expected.kind in SOURCE_KINDS


@pytest.mark.parametrize("text", ["", "csv", "csv:", "parquet: ", "simulator:x", "s3://bucket"])
def test_parse_source_rejects_other_forms(text):
    with pytest.raises(
        ValueError, match="valid forms: simulator, sample, yfinance, csv:DIR"
    ) as err:
        parse_source(text)
    assert "\n" not in str(err.value)


def test_source_spec_round_trips_as_text():
    assert str(parse_source("csv:/x/y")) == "csv:/x/y"
    assert str(parse_source("simulator")) == "simulator"


# -- load_source -------------------------------------------------------------------

START, END = date(2024, 1, 1), date(2024, 3, 31)


def test_simulator_source_sizes_the_universe_and_has_an_oracle():
    data = load_source(SourceSpec("simulator"), start=START, end=END, universe=5, seed=3)
    assert data.bars["symbol"].nunique() == 5
    assert data.oracle is not None and len(data.oracle) == len(data.bars)
    assert data.bars["date"].between(pd.Timestamp(START), pd.Timestamp(END)).all()
    default = load_source(SourceSpec("simulator"), start=START, end=END, universe=None)
    assert default.bars["symbol"].nunique() == 100


def test_simulator_source_rejects_symbol_names():
    with pytest.raises(ValueError, match="number of symbols"):
        load_source(SourceSpec("simulator"), start=START, end=END, universe=["AAPL"])


def test_sample_source_is_real_offline_and_adjusts_splits_once():
    data = load_source(
        SourceSpec("sample"), start=date(2005, 1, 1), end=date(2005, 12, 31), universe=None
    )
    assert data.oracle is None
    bars = data.bars
    assert set(bars["symbol"]) == {"AAPL", "GOOG", "IBM", "MSFT"}
    assert list(bars.columns) == [*BAR_COLUMNS, "adj_close"]
    aapl = bars[bars["symbol"] == "AAPL"].set_index("date")
    before, after = aapl.loc["2005-02-25"], aapl.loc["2005-02-28"]
    # the raw close halves at the 2:1 split; the adjusted close does not
    assert after["close"] / before["close"] == pytest.approx(0.504, abs=0.01)
    assert 0.95 < after["adj_close"] / before["adj_close"] < 1.05
    # what stg_ohlcv does: scale the raw bar by adj_close / close, once
    adjusted = aapl["close"] * (aapl["adj_close"] / aapl["close"])
    assert adjusted.pct_change().abs().max() < 0.2
    picked = load_source(
        SourceSpec("sample"), start=date(2012, 1, 1), end=date(2013, 12, 31), universe=["FB"]
    )
    assert picked.bars["date"].min() == pd.Timestamp("2012-05-18")
    with pytest.raises(ValueError, match="no bars for symbol"):
        load_source(SourceSpec("sample"), start=START, end=END, universe=["TSLA"])


@pytest.mark.parametrize(
    ("stems", "symbols"),
    [
        (["csvdir_daily_AAPL", "csvdir_daily_IBM"], ["AAPL", "IBM"]),
        (["AAPL", "AMZN"], ["AAPL", "AMZN"]),  # a shared "A" is not a prefix to drop
        (["daily_AAPL"], ["daily_AAPL"]),
        (["px-BRK_B", "px-KO"], ["BRK_B", "KO"]),
    ],
)
def test_symbols_from_stems(stems, symbols):
    assert symbols_from_stems(stems) == symbols


def test_csv_directory_one_file_per_symbol(tmp_path):
    _write_symbol_csvs(tmp_path)
    data = load_source(
        parse_source(f"csv:{tmp_path}"),
        start=date(2024, 1, 8),
        end=date(2024, 1, 12),
        universe=None,
    )
    assert data.oracle is None
    assert list(data.bars.columns) == [*BAR_COLUMNS, "adj_close"]
    assert data.bars.groupby("symbol").size().to_dict() == {"AAA": 5, "BBB": 5}
    # Carried as given: the adjusted close is its own column, close is untouched.
    first = data.bars.iloc[0]
    assert (first["close"], first["adj_close"]) == (15.0, pytest.approx(13.5))


def test_csv_universe_list_filters_and_checks_names(tmp_path):
    _write_symbol_csvs(tmp_path, symbols=("AAA", "BBB", "CCC"))
    spec = SourceSpec("csv", tmp_path)
    data = load_source(spec, start=START, end=END, universe=["CCC", "AAA"])
    assert sorted(data.bars["symbol"].unique()) == ["AAA", "CCC"]
    with pytest.raises(ValueError, match="no bars for symbol\\(s\\) ZZZ"):
        load_source(spec, start=START, end=END, universe=["AAA", "ZZZ"])
    # A count sizes the simulator only; a file source keeps every symbol it holds.
    everything = load_source(spec, start=START, end=END, universe=2)
    assert everything.bars["symbol"].nunique() == 3


def test_csv_long_file_with_symbol_column(tmp_path):
    _raw().rename(columns={"symbol": "Ticker"}).to_csv(tmp_path / "all.csv", index=False)
    data = load_source(SourceSpec("csv", tmp_path), start=START, end=END, universe=None)
    assert data.bars["symbol"].tolist() == ["AAA", "AAA", "BBB"]


def test_parquet_directory(tmp_path):
    to_canonical(_raw()).query("symbol == 'AAA'").drop(columns="symbol").to_parquet(
        tmp_path / "AAA.parquet"
    )
    _raw().query("symbol == 'BBB'").to_parquet(tmp_path / "many.parquet", index=False)
    data = load_source(SourceSpec("parquet", tmp_path), start=START, end=END, universe=None)
    assert data.bars[["symbol", "close"]].values.tolist() == [
        ["AAA", 22.0],
        ["AAA", 21.0],
        ["BBB", 10.5],
    ]
    assert data.bars["date"].dtype == "datetime64[ns]"


def test_unreadable_files_are_rejected_naming_the_file(tmp_path):
    _write_symbol_csvs(tmp_path)
    (tmp_path / "BAD.csv").write_text("date,open,high,low\n2024-01-02,1,2,0.5\n")
    data = load_source(SourceSpec("csv", tmp_path), start=START, end=END, universe=None)
    (rejected,) = data.rejected
    assert rejected.symbol == "BAD" and rejected.path == tmp_path / "BAD.csv"
    assert rejected.reason.endswith(
        "BAD.csv: missing required column(s) close, volume (found: date, open, high, low, symbol)"
    )
    assert set(data.bars["symbol"]) == {"AAA", "BBB"}
    # a listed symbol whose file was rejected is explained by the rejection, not an error
    listed = load_source(SourceSpec("csv", tmp_path), start=START, end=END, universe=["AAA", "BAD"])
    assert set(listed.bars["symbol"]) == {"AAA"}

    broken = tmp_path / "parquet"
    broken.mkdir()
    (broken / "XYZ.parquet").write_bytes(b"not a parquet file")
    with pytest.raises(
        ValueError, match=r"every file was rejected: .*XYZ\.parquet: cannot read"
    ) as err:
        load_source(SourceSpec("parquet", broken), start=START, end=END, universe=None)
    assert "\n" not in str(err.value)


def test_missing_or_empty_directory_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="not a directory"):
        load_source(SourceSpec("csv", tmp_path / "nope"), start=START, end=END, universe=None)
    with pytest.raises(ValueError, match=r"no \*\.parquet files"):
        load_source(SourceSpec("parquet", tmp_path), start=START, end=END, universe=None)


def test_reference_prices_load_without_applying_splits(reference_dir: Path):
    data = load_source(
        SourceSpec("csv", reference_dir / "prices"),
        start=date(2012, 1, 1),
        end=date(2014, 12, 31),
        universe=None,
    )
    bars = data.bars
    assert list(bars.columns) == BAR_COLUMNS  # dividend and split are dropped, not applied
    counts = bars.groupby("symbol").size()
    assert set(counts.index) == {"AAPL", "IBM", "KO", "MSFT"}  # "csvdir_daily_" dropped
    assert (counts == 754).all()
    closed = pd.to_datetime(["2012-10-29", "2012-10-30"])
    assert not bars["date"].isin(closed).any()
    # The file's split flag on 2014-06-09 must not rescale AAPL's already-adjusted prices.
    aapl = bars[bars["symbol"] == "AAPL"].set_index("date")["close"]
    jump = aapl[pd.Timestamp("2014-06-09")] / aapl[pd.Timestamp("2014-06-06")]
    assert 0.9 < jump < 1.1


def test_reference_prices_pass_the_quality_gates(reference_dir: Path):
    bars = load_source(
        SourceSpec("csv", reference_dir / "prices"),
        start=date(2000, 1, 1),
        end=date(2030, 12, 31),
        universe=None,
    ).bars
    split = split_bars(bars, today=date.today())
    assert split.quarantined.empty and split.score == 1.0
    # the split flag of 2014-06-09 is already in the prices: no "return" of -86% there
    assert find_anomalies(bars)["large_returns"].empty
