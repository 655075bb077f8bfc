"""The raw Parquet lake: layout, schema, round trip, idempotence and atomic writes."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ingest.lake import (
    BARS_FILE,
    partition_dir,
    read_bars,
    read_oracle,
    write_oracle,
    write_partition,
    write_partitions,
)
from ingest.schema import BAR_COLUMNS
from ingest.simulator import ORACLE_COLUMNS, SimulatorConfig, simulate_market

DAY = date(2024, 1, 3)


@pytest.fixture(scope="module")
def bars() -> pd.DataFrame:
    config = SimulatorConfig(n_symbols=5, start=date(2024, 1, 1), end=date(2024, 2, 29), seed=11)
    return simulate_market(config).bars


def _day(bars: pd.DataFrame, day: date) -> pd.DataFrame:
    return bars[bars["date"] == pd.Timestamp(day)].reset_index(drop=True)


def _stray_temp_files(lake: Path) -> list[Path]:
    return list(lake.rglob("*.tmp"))


def test_partition_dir_layout(tmp_path):
    assert partition_dir(tmp_path, DAY) == tmp_path / "raw" / "ohlcv" / "date=2024-01-03"


def test_round_trip_is_exact(tmp_path, bars):
    paths = write_partitions(tmp_path, bars)
    assert len(paths) == bars["date"].nunique()
    assert paths == sorted(paths)
    pd.testing.assert_frame_equal(read_bars(tmp_path), bars)
    assert _stray_temp_files(tmp_path) == []


def test_file_schema_is_explicit(tmp_path, bars):
    path = write_partition(tmp_path, DAY, bars)
    assert path == partition_dir(tmp_path, DAY) / BARS_FILE
    schema = pq.read_schema(path)
    assert schema.names == BAR_COLUMNS
    assert schema.field("symbol").type == pa.string()
    assert schema.field("date").type == pa.date32()
    assert {schema.field(c).type for c in BAR_COLUMNS[2:]} == {pa.float64()}
    table = pq.read_table(path)
    assert table["symbol"].to_pylist() == sorted(table["symbol"].to_pylist())


def test_hive_key_does_not_duplicate_date(tmp_path, bars):
    write_partitions(tmp_path, bars)
    assert list(read_bars(tmp_path).columns) == BAR_COLUMNS
    # Plain DuckDB over the lake (as dbt reads it) also sees one date column.
    glob = str(tmp_path / "raw" / "ohlcv" / "*" / "*.parquet")
    columns = [c[0] for c in duckdb.sql(f"select * from read_parquet('{glob}')").description]
    assert columns == BAR_COLUMNS


def test_read_range_filters_by_date(tmp_path, bars):
    write_partitions(tmp_path, bars)
    out = read_bars(tmp_path, start=date(2024, 1, 10), end=date(2024, 1, 12))
    expected = bars[bars["date"].between("2024-01-10", "2024-01-12")].reset_index(drop=True)
    pd.testing.assert_frame_equal(out, expected)
    assert read_bars(tmp_path, start=date(2030, 1, 1)).empty


def test_write_partition_takes_only_that_day(tmp_path, bars):
    write_partition(tmp_path, DAY, bars)
    assert list(tmp_path.rglob(BARS_FILE)) == [partition_dir(tmp_path, DAY) / BARS_FILE]
    pd.testing.assert_frame_equal(read_bars(tmp_path), _day(bars, DAY))


def test_rewriting_is_idempotent(tmp_path, bars):
    write_partitions(tmp_path, bars)
    write_partitions(tmp_path, bars)
    write_partition(tmp_path, DAY, bars)
    pd.testing.assert_frame_equal(read_bars(tmp_path), bars)

    corrected = _day(bars, DAY).iloc[:2].assign(close=1.0)
    write_partition(tmp_path, DAY, corrected)
    pd.testing.assert_frame_equal(read_bars(tmp_path, DAY, DAY), corrected)
    assert _stray_temp_files(tmp_path) == []


def test_empty_day_keeps_stored_rows_or_marks_the_day(tmp_path, bars):
    write_partition(tmp_path, DAY, bars)
    write_partition(tmp_path, DAY, bars.iloc[:0])
    pd.testing.assert_frame_equal(read_bars(tmp_path), _day(bars, DAY))

    holiday = date(2024, 1, 15)
    marker = write_partition(tmp_path, holiday, bars.iloc[:0])
    assert marker.exists() and pq.read_metadata(marker).num_rows == 0
    assert read_bars(tmp_path, holiday, holiday).empty


def test_adj_close_is_stored_only_when_present(tmp_path, bars):
    with_adj = _day(bars, DAY).assign(adj_close=lambda f: f["close"] * 0.5)
    write_partition(tmp_path, DAY, with_adj)
    write_partition(tmp_path, date(2024, 1, 4), bars)
    assert "adj_close" in pq.read_schema(partition_dir(tmp_path, DAY) / BARS_FILE).names
    out = read_bars(tmp_path)
    assert list(out.columns) == [*BAR_COLUMNS, "adj_close"]
    assert out.loc[out["date"] == pd.Timestamp(DAY), "adj_close"].notna().all()
    assert out.loc[out["date"] != pd.Timestamp(DAY), "adj_close"].isna().all()


def test_missing_values_are_stored_as_nulls(tmp_path, bars):
    day = _day(bars, DAY)
    day.loc[0, "close"] = np.nan
    path = write_partition(tmp_path, DAY, day)
    assert pq.read_table(path)["close"].null_count == 1


def test_bad_frames_are_rejected_before_touching_the_lake(tmp_path, bars):
    write_partition(tmp_path, DAY, bars)
    before = read_bars(tmp_path)
    with pytest.raises(ValueError, match="missing column"):
        write_partition(tmp_path, DAY, _day(bars, DAY).drop(columns="volume"))
    with pytest.raises(ValueError, match="'close' is not numeric"):
        write_partition(tmp_path, DAY, _day(bars, DAY).assign(close="x"))
    pd.testing.assert_frame_equal(read_bars(tmp_path), before)


def test_crash_mid_write_leaves_previous_file_whole(tmp_path, bars, monkeypatch):
    write_partition(tmp_path, DAY, bars)
    before = read_bars(tmp_path)

    def crash(table, where, **kwargs):
        Path(where).write_bytes(b"PAR1 half a file")
        raise OSError("disk full")

    monkeypatch.setattr(pq, "write_table", crash)
    with pytest.raises(OSError, match="disk full"):
        write_partition(tmp_path, DAY, _day(bars, DAY).assign(close=1.0))
    monkeypatch.undo()

    pd.testing.assert_frame_equal(read_bars(tmp_path), before)
    assert _stray_temp_files(tmp_path) == []


def test_readers_ignore_stray_temp_files(tmp_path, bars):
    path = write_partition(tmp_path, DAY, bars)
    (path.parent / f"{BARS_FILE}.0123abcd.tmp").write_bytes(b"left by a killed process")
    pd.testing.assert_frame_equal(read_bars(tmp_path), _day(bars, DAY))


def test_empty_lake_reads_as_empty_canonical_frame(tmp_path):
    out = read_bars(tmp_path)
    assert out.empty and list(out.columns) == BAR_COLUMNS
    assert out["date"].dtype == "datetime64[ns]"


def test_oracle_round_trip_and_rewrite(tmp_path):
    config = SimulatorConfig(n_symbols=3, start=date(2024, 1, 1), end=date(2024, 1, 12), seed=11)
    oracle = simulate_market(config).oracle
    assert read_oracle(tmp_path).columns.tolist() == ["symbol", "date", *ORACLE_COLUMNS]
    write_oracle(tmp_path, oracle.sample(frac=1.0, random_state=0))  # any row order
    write_oracle(tmp_path, oracle)  # a rewrite replaces each day, no duplicates
    pd.testing.assert_frame_equal(read_oracle(tmp_path), oracle)
