"""Real `alphadag run` and `alphadag ui` processes on a tiny universe, and the results
they leave.

Shared by the slow reliability tests (kills, overlapping runs), which drive the CLI as a
user would and compare what ends in the warehouse, and by the UI tests.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
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


ASSET_GRAPH_QUERY = "{ assetNodes { assetKey { path } dependencyKeys { path } } }"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def asset_graph(base_url: str) -> dict[str, set[str]] | None:
    """Each asset key the UI's GraphQL serves with its upstream keys; None while the
    server or its code location is not up yet."""
    request = urllib.request.Request(
        f"{base_url}/graphql",
        data=json.dumps({"query": ASSET_GRAPH_QUERY}).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            nodes = json.load(response)["data"]["assetNodes"]
    except (OSError, KeyError, TypeError, ValueError):
        return None
    return {
        "/".join(n["assetKey"]["path"]): {"/".join(d["path"]) for d in n["dependencyKeys"]}
        for n in nodes
    } or None


@contextlib.contextmanager
def serving_ui(env: dict[str, str], log: Path, timeout: float = 240) -> Iterator[str]:
    """`alphadag ui` on a free port of 127.0.0.1; yields its base URL once it serves the
    asset graph, and stops the server and its children when the block ends, even on
    failure."""
    port = free_port()
    alphadag = Path(sys.executable).parent / "alphadag"
    # dagster dev ignores SIGTERM when its parent set it to be ignored: start it in its
    # own session with default handlers and stop the whole group.
    with log.open("w") as out:
        process = subprocess.Popen(
            [str(alphadag), "ui", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while asset_graph(base_url) is None:
            assert process.poll() is None, f"alphadag ui exited early:\n{tail(log)}"
            assert time.monotonic() < deadline, (
                f"no asset graph within {timeout:.0f} s:\n{tail(log)}"
            )
            time.sleep(2)
        yield base_url
    finally:
        os.killpg(process.pid, signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=30)
        # whatever of the group outlived the shutdown (or the whole group, if it hung)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


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
