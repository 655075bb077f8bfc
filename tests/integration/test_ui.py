"""`alphadag ui` serves the whole asset graph on 127.0.0.1."""

import os
from pathlib import Path

import pytest
from cli_runs import asset_graph, serving_ui


@pytest.mark.slow
def test_ui_serves_the_lineage(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {**os.environ, "ALPHADAG_HOME": str(home)}
    with serving_ui(env, tmp_path / "ui.log", timeout=180) as base_url:
        graph = asset_graph(base_url)
    assert graph is not None
    assert graph["stg_ohlcv"] == {"raw_ohlcv"}
    assert "predictions" in graph["backtest"]
    assert (home / "dagster_home" / "dagster.yaml").exists()
