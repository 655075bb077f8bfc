"""`alphadag ui` serves the whole asset graph on 127.0.0.1."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

QUERY = "{ assetNodes { assetKey { path } dependencyKeys { path } } }"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _asset_graph(port: int) -> dict[str, set[str]] | None:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": QUERY}).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            nodes = json.load(response)["data"]["assetNodes"]
    except (OSError, KeyError, ValueError):
        return None
    return {
        "/".join(n["assetKey"]["path"]): {"/".join(d["path"]) for d in n["dependencyKeys"]}
        for n in nodes
    } or None


@pytest.mark.slow
def test_ui_serves_the_lineage(tmp_path: Path) -> None:
    port = _free_port()
    alphadag = Path(sys.executable).parent / "alphadag"
    # dagster dev ignores SIGTERM when its parent set it to be ignored: start it in its
    # own session with default handlers and stop the whole group.
    process = subprocess.Popen(
        [str(alphadag), "ui", "--port", str(port)],
        env={**os.environ, "ALPHADAG_HOME": str(tmp_path)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        deadline = time.monotonic() + 180
        graph = None
        while graph is None and time.monotonic() < deadline:
            time.sleep(3)
            assert process.poll() is None, "alphadag ui exited early"
            graph = _asset_graph(port)
        assert graph is not None, "no asset graph served within 180 s"
        assert graph["stg_ohlcv"] == {"raw_ohlcv"}
        assert "predictions" in graph["backtest"]
        assert (tmp_path / "dagster_home" / "dagster.yaml").exists()
    finally:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
