"""The dbt assets' materializations carry their typed column schema and column lineage
(macros/column_lineage.sql, read by dagster-dbt from dbt's logs)."""

from __future__ import annotations

import dagster as dg
import pytest

from assets.transform import DbtRunner, build_dbt_models
from ingest.lake import write_partitions
from orchestration.partitions import business_day_partitions
from orchestration.project import DBT_PROJECT, dbt_executable
from orchestration.settings import Settings
from tests.features.conftest import random_bars

# The trend family and the market regime built on it: lineage across two dbt layers,
# and a model whose lineage is skipped (int_trend).
SELECTION = ["stg_ohlcv", "int_bars", "int_returns", "int_trend", "int_market_regime"]


@pytest.fixture(scope="module")
def materializations(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """The metadata of one materialization per dbt asset, after a build of SELECTION on
    two symbols x 40 business days (dbt's adapter is never loaded in this process)."""
    home = tmp_path_factory.mktemp("lineage")
    bars = random_bars(["AAA", "BBB"], 40, seed=3, start="2024-01-01")
    write_partitions(home / "lake", bars)
    start, end = bars["date"].min().date(), bars["date"].max().date()
    settings = Settings.from_env(
        {
            "ALPHADAG_HOME": str(home),
            "ALPHADAG_START": start.isoformat(),
            "ALPHADAG_END": end.isoformat(),
        }
    )
    settings.ensure_home()
    partitions = business_day_partitions(start, end)
    result = dg.materialize(
        [build_dbt_models(partitions)],
        selection=SELECTION,
        resources={
            "settings": settings,
            "dbt": DbtRunner(
                project_dir=str(DBT_PROJECT.project_dir),
                profiles_dir=str(DBT_PROJECT.profiles_dir),
                dbt_executable=dbt_executable(),
            ),
        },
        instance=dg.DagsterInstance.ephemeral(),
    )
    assert result.success
    return {
        event.asset_key.to_user_string(): event.materialization.metadata
        for event in result.get_asset_materialization_events()
    }


def _schema(metadata: dict) -> dict[str, dg.TableColumn]:
    return {column.name: column for column in metadata["dagster/column_schema"].schema.columns}


def _deps(metadata: dict, column: str) -> set[tuple[str, str]]:
    lineage = metadata["dagster/column_lineage"].column_lineage
    return {
        (dep.asset_key.to_user_string(), dep.column_name) for dep in lineage.deps_by_column[column]
    }


def test_every_model_shows_its_real_column_types_and_descriptions(materializations) -> None:
    assert set(materializations) == set(SELECTION)
    trend = _schema(materializations["int_trend"])
    assert trend["sma_20"].type == "DOUBLE"
    assert trend["date"].type == "DATE"
    assert trend["sma_20"].description  # from int_trend.yml
    staged = _schema(materializations["stg_ohlcv"])
    assert {"symbol", "date", "open", "high", "low", "close", "volume"} <= set(staged)


def test_column_lineage_follows_columns_across_models(materializations) -> None:
    bars = materializations["int_bars"]
    assert ("stg_ohlcv", "close") in _deps(bars, "prev_close")
    regime = materializations["int_market_regime"]
    assert ("int_trend", "close_to_sma_50") in _deps(regime, "market_breadth_50")
    assert ("int_returns", "ret_1d") in _deps(regime, "market_ret_1d")


def test_skipped_models_and_the_source_reader_have_a_schema_but_no_lineage(
    materializations,
) -> None:
    for name in ("int_trend", "stg_ohlcv"):
        assert "dagster/column_schema" in materializations[name]
        assert "dagster/column_lineage" not in materializations[name]
