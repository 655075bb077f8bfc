"""Results tables: idempotent replaces, and names and paths that are never SQL."""

from __future__ import annotations

import pandas as pd

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
