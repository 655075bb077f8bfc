"""A partition run's data tests check the rows it wrote; a full build's check every row."""

from __future__ import annotations

import subprocess
from datetime import date
from pathlib import Path

import duckdb

from ingest.lake import write_partitions
from orchestration.project import dbt_cli
from tests.features.conftest import dbt_build, random_bars

UNIQUE_TEST = "unique_combination_of_columns_int_returns_symbol__date"


def _dbt_test(home: Path, window: tuple[date, date] | None) -> subprocess.CompletedProcess:
    argv, env = dbt_cli(
        "test",
        "--select",
        "int_returns",
        "--target-path",
        str(home / "dbt_target"),
        home=home,
        window=window,
    )
    return subprocess.run(argv, env=env, capture_output=True, text=True, check=False)


def _duplicate_a_row(home: Path, day: str) -> None:
    with duckdb.connect(str(home / "warehouse.duckdb")) as con:
        con.execute(f"insert into int_returns select * from int_returns where date = '{day}'")


def test_data_tests_of_a_partition_run_read_its_window(tmp_path: Path) -> None:
    write_partitions(tmp_path / "lake", random_bars(["AAA", "BBB"], 60, seed=5, start="2024-01-01"))
    dbt_build(tmp_path, "--select", "+int_returns", command="run")
    window = (date(2024, 3, 20), date(2024, 3, 22))
    _duplicate_a_row(tmp_path, "2024-02-01")

    nightly = _dbt_test(tmp_path, window)
    assert nightly.returncode == 0, nightly.stdout[-3000:]
    compiled = next((tmp_path / "dbt_target" / "run").rglob(f"{UNIQUE_TEST}.sql")).read_text()
    assert "date between '2024-03-20' and '2024-03-22'" in compiled

    full = _dbt_test(tmp_path, None)
    assert full.returncode == 1
    assert f"Failure in test {UNIQUE_TEST}" in full.stdout

    # a bad row inside the window fails the partition run's test
    _duplicate_a_row(tmp_path, "2024-03-21")
    nightly = _dbt_test(tmp_path, window)
    assert nightly.returncode == 1
    assert f"Failure in test {UNIQUE_TEST}" in nightly.stdout
