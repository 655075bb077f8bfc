"""`alphadag run --until ASSET`: that asset and what it depends on, nothing downstream;
`--from ASSET`: that asset and what depends on it, on the inputs already built."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb

from tests.integration.cli_runs import ROOT, cli_env


def _run(home: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "orchestration.cli", "run", *args],
        cwd=ROOT,
        env=cli_env(home),
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_until_builds_the_asset_and_its_upstream_only(tmp_path: Path) -> None:
    done = _run(tmp_path, "--until", "stg_ohlcv", "--profile")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as con:
        listed = con.execute("select table_name from information_schema.tables").fetchall()
        tables = {row[0] for row in listed}
        assert con.execute("select count(*) from stg_ohlcv").fetchone()[0] > 0
    assert not tables & {"int_bars", "fct_features", "model_zoo", "backtest_metrics"}
    assert list((tmp_path / "lake" / "raw").rglob("*.parquet"))
    assert not list((tmp_path / "lake").glob("features/**/*.parquet"))
    # no backtest summary: the run stopped before it
    assert "run " in done.stdout and "succeeded" in done.stdout
    assert "report:" not in done.stdout


def test_from_builds_the_asset_and_its_downstream_on_the_built_inputs(tmp_path: Path) -> None:
    built = _run(tmp_path, "--until", "stg_ohlcv")
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    raw = {p: p.stat().st_mtime_ns for p in (tmp_path / "lake" / "raw").rglob("*.parquet")}
    done = _run(tmp_path, "--from", "int_bars", "--until", "int_bars")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "what int_bars depends on and what depends on int_bars" in done.stdout
    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as con:
        listed = con.execute("select table_name from information_schema.tables").fetchall()
        assert con.execute("select count(*) from int_bars").fetchone()[0] > 0
    assert "fct_features" not in {row[0] for row in listed}
    # the bars were read, not ingested again
    assert {p: p.stat().st_mtime_ns for p in raw} == raw
    nothing = _run(
        tmp_path, "--from", "backtest", "--until", "training_set", "--until", "stg_ohlcv"
    )
    assert nothing.returncode == 2
    assert "no asset lies between them" in nothing.stderr


def test_until_an_unknown_asset_names_the_choices(tmp_path: Path) -> None:
    done = _run(tmp_path, "--until", "no_such_asset")
    assert done.returncode == 2
    assert "--until no_such_asset: no such asset in build_everything" in done.stderr
    assert "training_set" in done.stderr
    unknown = _run(tmp_path, "--from", "no_such_asset")
    assert unknown.returncode == 2
    assert "--from no_such_asset: no such asset in build_everything" in unknown.stderr
