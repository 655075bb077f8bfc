"""Real `alphadag run` processes on a tiny universe, and the results they leave.

Shared by the slow reliability tests (kills, overlapping runs), which drive the CLI as a
user would and compare what ends in the warehouse.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
TINY = {"ALPHADAG_UNIVERSE": "4", "ALPHADAG_START": "2021-07-01", "ALPHADAG_END": "2023-06-30"}
# Results tables and their keys. model_version is compared too: the same data must give
# the same version however the runs went. backtest_id is not compared across homes: it
# hashes the MLflow run id of the model, which is random per home.
RESULTS = {
    "fct_features": ["symbol", "date"],
    "predictions": ["symbol", "date", "model_name", "model_version"],
    "walk_forward_predictions": ["symbol", "date", "model_name", "model_version", "candidate"],
    "model_metrics": ["model_name", "model_version"],
    "backtest_metrics": ["backtest_id", "strategy"],
}

# Planted in the clean run's environment: no log, event or file of the run may show it.
PLANTED_SECRET = "sk-planted-4f9c2e7a-do-not-log"


def cli_env(home: Path, **extra: str) -> dict[str, str]:
    """This environment without any ALPHADAG_/DAGSTER_ setting, on the tiny universe."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ALPHADAG_", "DAGSTER_"))}
    return {**env, **TINY, "ALPHADAG_HOME": str(home), **extra}


def start_run(home: Path, log: Path, **extra: str) -> subprocess.Popen:
    """`alphadag run` in its own process group (so dbt can be killed with it)."""
    with log.open("w") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "orchestration.cli", "run"],
            cwd=ROOT,
            env=cli_env(home, **extra),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def tail(log: Path, lines: int = 15) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def results(home: Path) -> dict[str, pd.DataFrame]:
    """The results tables without created_at, sorted by their keys."""
    frames = {}
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        for name, key in RESULTS.items():
            frame = con.execute(f"select * from {name}").df()
            frame = frame.drop(columns=["created_at"], errors="ignore")
            frames[name] = frame.sort_values(key, ignore_index=True)
    return frames


def assert_same_results(got: dict[str, pd.DataFrame], want: dict[str, pd.DataFrame]) -> None:
    """Equal tables (another home's backtest_id aside) and no duplicate key in ``got``."""
    for name, key in RESULTS.items():
        assert not got[name].duplicated(key).any(), f"duplicate rows in {name}"
        pd.testing.assert_frame_equal(
            got[name].drop(columns=["backtest_id"], errors="ignore"),
            want[name].drop(columns=["backtest_id"], errors="ignore"),
            check_exact=False,
            rtol=1e-9,
            obj=name,
        )
