"""The dbt project as assets: each model is its own node, dbt tests become asset checks."""

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, dbt_assets

from orchestration.project import DBT_PROJECT, window_env
from orchestration.settings import Settings
from orchestration.warehouse import WAREHOUSE_POOL

# Re-parses only under `dagster dev`, so edits to the SQL show up on reload.
DBT_PROJECT.prepare_if_dev()
if not DBT_PROJECT.manifest_path.exists():
    raise FileNotFoundError(
        f"dbt manifest {DBT_PROJECT.manifest_path} is missing: run `make setup` "
        "(or `alphadag prepare`) once after cloning or editing the dbt project"
    )


class AlphadagDbtTranslator(DagsterDbtTranslator):
    def get_group_name(self, dbt_resource_props: dict[str, Any]) -> str | None:
        return "features"


def build_dbt_models(partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    """The dbt models as assets partitioned like the raw bars.

    A run over a range of partitions is one `dbt build` (single-run backfill policy) that
    receives the range in its environment (`window_env`): the incremental feature models
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
        # dbt.cli starts the dbt process with a copy of this environment
        with environment(partition_env(context.partition_time_window)):
            invocation = dbt.cli(["build"], context=context)
        yield from invocation.stream()

    return dbt_models


def partition_env(window: dg.TimeWindow) -> dict[str, str]:
    """The dbt window of a partition window: its first and last calendar day (the
    partition window's end is exclusive)."""
    return window_env(window.start.date(), (window.end - timedelta(days=1)).date())


@contextmanager
def environment(values: Mapping[str, str]) -> Iterator[None]:
    """Set environment variables for the duration of the block, then restore them."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
