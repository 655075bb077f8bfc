"""Three runs in one home leave identical content: every asset's output hashes the same
after the first, second and third run, and no table holds a duplicate row."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from cli_runs import RESULTS, start_run, tail


def _frame_hash(frame: pd.DataFrame) -> str:
    frame = frame.drop(columns=[c for c in frame.columns if c in ("created_at", "created_ts")])
    text = frame.map(lambda v: v.hex() if isinstance(v, bytes) else repr(v))
    ordered = text.sort_values(list(text.columns), ignore_index=True)
    values = pd.util.hash_pandas_object(ordered, index=False).to_numpy()
    return hashlib.sha256(values.tobytes() + ",".join(frame.columns).encode()).hexdigest()


def content_hashes(home: Path) -> dict[str, str]:
    """A hash of the content of everything the assets write (times of writing excluded)."""
    hashes = {
        str(path.relative_to(home)): _frame_hash(pd.read_parquet(path))
        for folder in ("lake", "quarantine", "rejected")
        for path in sorted((home / folder).rglob("*.parquet"))
    }
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        tables = [
            row[0] for row in con.execute("select table_name from duckdb_tables()").fetchall()
        ]
        for table in tables:
            hashes[f"warehouse:{table}"] = _frame_hash(con.execute(f'select * from "{table}"').df())
    with sqlite3.connect(home / "feast" / "online.db") as con:
        for (table,) in con.execute("select name from sqlite_master where type = 'table'"):
            frame = pd.read_sql(f'select * from "{table}"', con)
            hashes[f"online:{table}"] = _frame_hash(frame)
    hashes["reports"] = ",".join(sorted(p.name for p in (home / "reports").iterdir()))
    return hashes


def _assert_no_duplicates(home: Path) -> None:
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        for table, key in {**RESULTS, "fct_labels": ["symbol", "date"]}.items():
            columns = ", ".join(key)
            duplicated = con.execute(
                f"select count(*) from (select {columns} from {table} "
                f"group by {columns} having count(*) > 1)"
            ).fetchone()[0]
            assert duplicated == 0, f"duplicate rows in {table}"


@pytest.mark.slow
def test_three_runs_leave_identical_content(clean_run, tmp_path) -> None:
    # The clean run is the first; two more runs in its home (the fixture's results were
    # read before, and only this test and the secret grep look at the home afterwards).
    home = clean_run.home
    first = content_hashes(home)
    assert len(first) > 100  # the lake's days, the warehouse's tables, the online store
    for n in (2, 3):
        log = tmp_path / f"run_{n}.log"
        assert start_run(home, log).wait(timeout=3 * clean_run.seconds + 120) == 0, tail(log)
        again = content_hashes(home)
        changed = sorted(
            name for name in first.keys() | again.keys() if first.get(name) != again.get(name)
        )
        assert not changed, f"run {n} changed: {changed[:10]}"
        _assert_no_duplicates(home)
