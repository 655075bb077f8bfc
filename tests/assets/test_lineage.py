"""`alphadag lineage` on a home with real raw partitions in its Dagster instance.

The whole chain of a backtest (MLflow, Feast, dbt) needs a built home: see
tests/integration/test_lineage_cli.py.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import dagster as dg
import pytest
from rich.console import Console

from assets.market_data import build_raw_ohlcv
from orchestration.cli import instance_config
from orchestration.jobs import partition_range_tags
from orchestration.lineage import LineageError, LineageHome, lineage, open_home, render
from orchestration.partitions import business_day_partitions
from orchestration.settings import Settings

START, END = date(2024, 1, 1), date(2024, 1, 12)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> LineageHome:
    root = tmp_path_factory.mktemp("home")
    settings = Settings.from_env(
        {
            "ALPHADAG_HOME": str(root),
            "ALPHADAG_START": START.isoformat(),
            "ALPHADAG_END": END.isoformat(),
            "ALPHADAG_UNIVERSE": "3",
        }
    )
    settings.dagster_home.mkdir(parents=True)
    (settings.dagster_home / "dagster.yaml").write_text(
        instance_config(settings, settings.dagster_home)
    )
    partitions = business_day_partitions(START, END)
    keys = partitions.get_partition_keys()
    with dg.DagsterInstance.from_config(str(settings.dagster_home)) as instance:
        result = dg.materialize(
            [build_raw_ohlcv(partitions)],
            resources={"settings": settings},
            tags=partition_range_tags(keys),
            instance=instance,
        )
        assert result.success
    return open_home(settings)


def test_an_asset_shows_its_materializations_and_everything_downstream(home) -> None:
    doc = lineage(home, "raw_ohlcv")
    raw = doc["nodes"]["raw_ohlcv"]
    assert raw["partitions"] == {"partitions": 10, "first": "2024-01-01", "last": "2024-01-12"}
    assert raw["materialization"]["partition"] == "2024-01-12"
    # the code version recorded is the definitions' own: nothing is stale
    assert raw["materialization"]["code_version"] == raw["code_version"]
    assert raw["stale"] == []
    assert doc["children"]["raw_ohlcv"] == ["stg_ohlcv"]
    assert {"fct_features", "training_set", "model_zoo", "backtest"} <= set(doc["nodes"])
    assert doc["nodes"]["backtest"]["materialization"] is None
    text = _text(render(doc))
    assert "raw_ohlcv 10 partitions 2024-01-01..2024-01-12" in text
    assert "downstream" in text and "backtest" in text


def test_a_changed_asset_code_version_marks_it_stale(home, monkeypatch) -> None:
    node = home.graph.get(dg.AssetKey("raw_ohlcv"))
    monkeypatch.setattr(type(node), "code_version", property(lambda self: "edited"))
    assert lineage(home, "raw_ohlcv")["nodes"]["raw_ohlcv"]["stale"] == ["code changed"]


def test_an_unknown_target_lists_what_is_known(home) -> None:
    with pytest.raises(LineageError) as caught:
        lineage(home, "fct_feature")
    message = str(caught.value)
    assert "did you mean: fct_features" in message
    assert "backtests, newest first: none yet" in message
    assert "model versions: none yet" in message


def test_a_model_version_needs_the_mlflow_store(home) -> None:
    with pytest.raises(LineageError, match=r"no MLflow store at .*mlflow\.db"):
        lineage(home, "v3")


def test_lineage_reads_the_home_without_writing(home) -> None:
    files = {p: p.stat().st_mtime_ns for p in Path(home.settings.home).rglob("*") if p.is_file()}
    lineage(home, "fct_features")
    with pytest.raises(LineageError):
        lineage(home, "alphadag_ranker:1")
    after = {p: p.stat().st_mtime_ns for p in Path(home.settings.home).rglob("*") if p.is_file()}
    assert after == files


def _text(tree) -> str:
    console = Console(width=200, record=True)
    console.print(tree)
    return console.export_text()


def test_a_home_that_was_never_built_is_one_line_and_left_alone(tmp_path) -> None:
    home = tmp_path / "never_built"
    with pytest.raises(LineageError, match=r"no Dagster instance in .*`alphadag run` builds one"):
        open_home(Settings.from_env({"ALPHADAG_HOME": str(home)}))
    assert not home.exists()
