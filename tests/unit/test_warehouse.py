"""Results tables: idempotent replaces, and names and paths that are never SQL."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from orchestration.warehouse import Warehouse

EVIL = "x'; drop table model_metrics; --"


def test_replace_rows_three_times_leaves_one_copy(tmp_path) -> None:
    warehouse = Warehouse(tmp_path / "warehouse.duckdb")
    frame = pd.DataFrame({"model_version": ["1", "1"], "ic": [0.1, 0.2]})
    for _ in range(3):
        warehouse.replace_rows("model_metrics", frame, {"model_version": "1"})
    stored = warehouse.query("select * from model_metrics order by ic")
    pd.testing.assert_frame_equal(stored, frame)


def test_replace_rows_adds_the_columns_a_newer_frame_brings(tmp_path) -> None:
    warehouse = Warehouse(tmp_path / "warehouse.duckdb")
    warehouse.replace_rows(
        "backtest_metrics", pd.DataFrame({"id": ["a"], "sharpe": [1.0]}), {"id": "a"}
    )
    newer = pd.DataFrame({"id": ["b"], "sharpe": [2.0], "beta": [0.5], "note": ["x"]})
    warehouse.replace_rows("backtest_metrics", newer, {"id": "b"})
    stored = warehouse.query("select * from backtest_metrics order by id")
    assert list(stored.columns) == ["id", "sharpe", "beta", "note"]
    assert stored["sharpe"].tolist() == [1.0, 2.0]
    assert stored["beta"].isna().tolist() == [True, False]
    assert stored["note"].tolist()[1] == "x"


def test_hostile_names_and_paths_stay_names_and_paths(tmp_path) -> None:
    home = tmp_path / "o'brien; drop"
    home.mkdir()
    warehouse = Warehouse(home / "warehouse.duckdb")
    warehouse.replace_rows("model_metrics", pd.DataFrame({"v": ["keep"]}), {"v": "keep"})
    # a table and a key column named like an injection are created as such
    warehouse.replace_rows(EVIL, pd.DataFrame({EVIL: [EVIL]}), {EVIL: EVIL})
    assert warehouse.query(f'select * from "{EVIL.replace(chr(34), chr(34) * 2)}"')[
        EVIL
    ].tolist() == [EVIL]
    assert warehouse.query("select * from model_metrics")["v"].tolist() == ["keep"]

    target = home / "it's.parquet"
    assert warehouse.export_parquet("select * from model_metrics", target) == 1
    assert pd.read_parquet(target)["v"].tolist() == ["keep"]


def test_a_partitioned_export_replaces_one_file_per_value(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute(
            "create table t as select (date '2023-01-30' + i::int)::date as date, i as x "
            "from range(5) r(i)"
        )
    warehouse = Warehouse(path)
    parts = tmp_path / "parts"
    parts.mkdir()
    (parts / "2022-12.parquet").write_bytes(b"a month the query does not touch")
    query = "select *, strftime(date, '%Y-%m') as month from t"
    assert warehouse.export_parquet_parts(query, "month", parts) == {"2023-01": 2, "2023-02": 3}
    assert warehouse.export_parquet_parts(query, "month", parts) == {"2023-01": 2, "2023-02": 3}
    assert sorted(p.name for p in parts.iterdir()) == [
        "2022-12.parquet",
        "2023-01.parquet",
        "2023-02.parquet",
    ]
    february = pd.read_parquet(parts / "2023-02.parquet")
    assert list(february.columns) == ["date", "x"] and list(february["x"]) == [2, 3, 4]


def test_an_export_over_more_values_than_open_files_keeps_one_file_per_value(
    tmp_path: Path,
) -> None:
    # 150 values interleaved: DuckDB keeps at most 100 files open, so it closes some
    # values' files and writes their later rows to new ones (ten years of months at
    # 3,000 symbols did this)
    path = tmp_path / "w.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("create table t as select i % 150 as part, i from range(600000) r(i)")
    parts = tmp_path / "parts"
    counts = Warehouse(path).export_parquet_parts("select * from t", "part", parts)
    assert len(counts) == 150 and set(counts.values()) == {4000}
    assert len(list(parts.iterdir())) == 150
    seven = pd.read_parquet(parts / "7.parquet")
    assert sorted(seven["i"]) == list(range(7, 600000, 150))


def test_grids_lay_a_long_query_out_by_date_and_symbol(tmp_path) -> None:
    warehouse = Warehouse(tmp_path / "warehouse.duckdb")
    bars = pd.DataFrame(
        {
            "symbol": ["B", "A", "A", "C"],
            "date": pd.to_datetime(["2024-01-02", "2024-01-03", "2024-01-02", "2024-01-03"]),
            "close": [2.0, 11.0, 10.0, 30.0],
            "volume": [200, 1100, 1000, None],
        }
    )
    warehouse.replace_rows("bars", bars, {"symbol": "none"})
    dates, symbols, grids = warehouse.grids(
        "select symbol, date, close, volume from bars where close < $cap",
        ["close", "volume"],
        {"cap": 100.0},
    )
    assert list(dates) == list(pd.to_datetime(["2024-01-02", "2024-01-03"]))
    assert list(symbols) == ["A", "B", "C"]
    np.testing.assert_array_equal(grids["close"], [[10.0, 2.0, np.nan], [11.0, np.nan, 30.0]])
    np.testing.assert_array_equal(grids["volume"], [[1000, 200, np.nan], [1100, np.nan, np.nan]])
    pivot = bars.pivot(index="date", columns="symbol", values="close")
    np.testing.assert_array_equal(grids["close"], pivot.to_numpy())


def test_grids_refuse_two_rows_for_one_cell(tmp_path) -> None:
    warehouse = Warehouse(tmp_path / "warehouse.duckdb")
    bars = pd.DataFrame({"symbol": ["A", "A"], "date": ["2024-01-02"] * 2, "close": [1.0, 2.0]})
    warehouse.replace_rows("bars", bars.assign(date=pd.to_datetime(bars["date"])), {"symbol": "x"})
    with pytest.raises(ValueError, match="more than one row per"):
        warehouse.grids("select * from bars", ["close"])
