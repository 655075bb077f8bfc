"""From bars to the lake: quarantine contents, idempotent reruns, stored rows protected."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from ingest.ingestion import ingest_bars, partition_day, quarantine_file
from ingest.lake import partition_dir, read_bars, read_partition, write_partitions

TODAY = date(2024, 6, 28)
DAYS = [d.date() for d in pd.bdate_range("2024-01-02", "2024-01-12")]


def _bars(symbols=("AAA", "BBB", "CCC"), scale: float = 1.0) -> pd.DataFrame:
    index = pd.MultiIndex.from_product([symbols, pd.to_datetime(DAYS)], names=["symbol", "date"])
    frame = index.to_frame(index=False)
    close = 10.0 * scale + frame.groupby("symbol").cumcount() * 0.1
    return frame.assign(
        open=close, high=close + 0.5, low=close - 0.5, close=close, volume=100.0 * scale
    )


def _ingest(bars: pd.DataFrame, home: Path, **kwargs):
    return ingest_bars(
        bars,
        lake_root=home / "lake",
        quarantine_root=home / "quarantine",
        days=kwargs.pop("days", DAYS),
        today=TODAY,
        **kwargs,
    )


def _break(bars: pd.DataFrame, symbol: str, day: str, **values) -> pd.DataFrame:
    bars = bars.copy()
    row = (bars["symbol"] == symbol) & (bars["date"] == pd.Timestamp(day))
    for column, value in values.items():
        bars.loc[row, column] = value
    return bars


def test_bad_rows_go_to_quarantine_and_good_rows_proceed(tmp_path) -> None:
    bars = _break(_bars(), "BBB", "2024-01-05", high=1.0)
    report = _ingest(bars, tmp_path)
    assert report.counts == {"high_below_max": 1}
    assert report.rows_written == len(bars) - 1
    stored = read_bars(tmp_path / "lake")
    assert len(stored) == len(bars) - 1
    assert not ((stored["symbol"] == "BBB") & (stored["date"] == "2024-01-05")).any()

    target = quarantine_file(tmp_path / "quarantine", date(2024, 1, 5))
    assert report.quarantine_files == [target]
    rejected = pd.read_parquet(target)
    assert list(rejected.columns) == [*bars.columns, "reason"]
    assert rejected[["symbol", "high", "reason"]].values.tolist() == [
        ["BBB", 1.0, "high_below_max"]
    ]


def test_rerun_leaves_no_duplicates_and_clears_stale_quarantine(tmp_path) -> None:
    bad = _break(_bars(), "AAA", "2024-01-03", volume=-1.0)
    _ingest(bad, tmp_path)
    _ingest(bad, tmp_path)
    stored = read_bars(tmp_path / "lake")
    assert not stored.duplicated(["symbol", "date"]).any()
    assert len(stored) == len(bad) - 1
    target = quarantine_file(tmp_path / "quarantine", date(2024, 1, 3))
    assert len(pd.read_parquet(target)) == 1

    _ingest(_bars(), tmp_path)  # the source fixed the row
    assert not target.exists()
    pd.testing.assert_frame_equal(read_bars(tmp_path / "lake"), _bars())


def test_bad_input_never_erases_a_stored_bar(tmp_path) -> None:
    _ingest(_bars(), tmp_path)
    before = read_partition(tmp_path / "lake", date(2024, 1, 8))
    # a new delivery where BBB's bar of that day is broken: the stored one is kept
    _ingest(_break(_bars(scale=2.0), "BBB", "2024-01-08", close=-3.0), tmp_path)
    after = read_partition(tmp_path / "lake", date(2024, 1, 8))
    assert (
        after.set_index("symbol").loc["BBB", "close"]
        == before.set_index("symbol").loc["BBB", "close"]
    )
    assert after.set_index("symbol").loc["AAA", "volume"] == 200.0  # fresh rows replaced
    # a day where every row is bad keeps its file untouched
    path = partition_dir(tmp_path / "lake", date(2024, 1, 9)) / "bars.parquet"
    stamp = path.stat().st_mtime_ns
    _ingest(_bars().assign(volume=-1.0), tmp_path, days=[date(2024, 1, 9)])
    assert path.stat().st_mtime_ns == stamp


def test_weekend_rows_are_quarantined_under_fridays_partition(tmp_path) -> None:
    saturday = _bars(("AAA",)).iloc[[0]].assign(date=pd.Timestamp("2024-01-06"))
    report = _ingest(pd.concat([_bars(), saturday]), tmp_path)
    assert report.counts == {"weekend_date": 1}
    assert quarantine_file(tmp_path / "quarantine", date(2024, 1, 5)).exists()
    assert partition_day(pd.Series(pd.to_datetime(["2024-01-06", "2024-01-07"]))).tolist() == [
        date(2024, 1, 5),
        date(2024, 1, 5),
    ]


def test_rows_outside_the_days_are_left_alone(tmp_path) -> None:
    report = _ingest(_bars(), tmp_path, days=DAYS[:2])
    assert report.rows_outside == 3 * (len(DAYS) - 2)
    assert sorted(read_bars(tmp_path / "lake")["date"].dt.date.unique()) == DAYS[:2]


def test_upsert_replaces_matching_rows_and_keeps_the_rest(tmp_path) -> None:
    _ingest(_bars(), tmp_path)
    update = _bars(("BBB", "DDD"), scale=3.0)
    _ingest(update, tmp_path, mode="upsert", origin="inbox-x")
    stored = read_bars(tmp_path / "lake")
    assert sorted(stored["symbol"].unique()) == ["AAA", "BBB", "CCC", "DDD"]
    assert not stored.duplicated(["symbol", "date"]).any()
    assert (stored.loc[stored["symbol"] == "BBB", "volume"] == 300.0).all()
    assert (stored.loc[stored["symbol"] == "AAA", "volume"] == 100.0).all()


def test_replace_drops_symbols_the_source_no_longer_has(tmp_path) -> None:
    write_partitions(tmp_path / "lake", _bars(("AAA", "ZZZ")))
    _ingest(_bars(("AAA",)), tmp_path)
    assert read_bars(tmp_path / "lake")["symbol"].unique().tolist() == ["AAA"]


def test_unknown_mode_is_an_error(tmp_path) -> None:
    with pytest.raises(ValueError, match="mode"):
        _ingest(_bars(), tmp_path, mode="merge")


def test_a_row_without_a_date_is_quarantined_with_the_first_day(tmp_path) -> None:
    dateless = _bars(("AAA",)).iloc[[0]].assign(date=pd.NaT)
    report = _ingest(pd.concat([_bars(), dateless]), tmp_path)
    assert report.counts == {"missing_value": 1}
    rejected = pd.read_parquet(quarantine_file(tmp_path / "quarantine", DAYS[0]))
    assert rejected["reason"].tolist() == ["missing_value"]
