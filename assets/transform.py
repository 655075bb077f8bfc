"""The dbt project as assets: each model is its own node, dbt tests become asset checks."""

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, dbt_assets

from orchestration.project import DBT_PROJECT
from orchestration.settings import Settings
from orchestration.warehouse import WAREHOUSE_POOL

# Re-parses only under `dagster dev`, so edits to the SQL show up on reload.
DBT_PROJECT.prepare_if_dev()
if not DBT_PROJECT.manifest_path.exists():
    raise FileNotFoundError(
        f"dbt manifest {DBT_PROJECT.manifest_path} is missing: run `make setup` "
        "(or `alphadag prepare`) once after cloning or editing the dbt project"
    )


# Models whose column lineage is not derived at run time: sqlglot needs 20 to 60 s in the
# Dagster process for each of these wide models (hundreds of columns over long compiled
# SQL), against under 10 s for all the others together. They still show their typed
# column schema. See macros/column_lineage.sql.
COLUMN_LINEAGE_SKIP = ("int_alpha158", "int_trend", "fct_features")


class AlphadagDbtTranslator(DagsterDbtTranslator):
    def get_group_name(self, dbt_resource_props: dict[str, Any]) -> str | None:
        return "features"


def build_dbt_models(partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    """The dbt models as assets partitioned like the raw bars.

    A run over a range of partitions is one `dbt build` (single-run backfill policy) that
    receives the range as `--vars {min_date, max_date}`: the incremental feature models
    then compute only those days plus the warm-up bars their windows need, so a nightly
    partition does not recompute the history.
    """

    @dbt_assets(
        manifest=DBT_PROJECT.manifest_path,
        project=DBT_PROJECT,
        dagster_dbt_translator=AlphadagDbtTranslator(),
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
        pool=WAREHOUSE_POOL,
    )
    def dbt_models(
        context: dg.AssetExecutionContext,
        dbt: DbtCliResource,
        settings: dg.ResourceParam[Settings],
    ) -> Iterator[Any]:
        # dbt reads the warehouse and lake paths from ALPHADAG_HOME (profiles.yml, sources).
        settings.export_env()
        dbt_vars = json.dumps(
            {
                **partition_vars(context.partition_time_window),
                "column_lineage_skip": list(COLUMN_LINEAGE_SKIP),
            }
        )
        yield from dbt.cli(["build", "--vars", dbt_vars], context=context).stream()

    return dbt_models


def partition_vars(window: dg.TimeWindow) -> dict[str, str]:
    """The dbt vars of a partition window: its first and last calendar day (the window's
    end is exclusive)."""
    return {
        "min_date": window.start.date().isoformat(),
        "max_date": (window.end - timedelta(days=1)).date().isoformat(),
    }
