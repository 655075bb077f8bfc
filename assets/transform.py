"""The dbt project as assets: each model is its own node, dbt tests become asset checks."""

from collections.abc import Iterator
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


class AlphadagDbtTranslator(DagsterDbtTranslator):
    def get_group_name(self, dbt_resource_props: dict[str, Any]) -> str | None:
        return "features"


@dbt_assets(
    manifest=DBT_PROJECT.manifest_path,
    project=DBT_PROJECT,
    dagster_dbt_translator=AlphadagDbtTranslator(),
    pool=WAREHOUSE_POOL,
)
def dbt_models(
    context: dg.AssetExecutionContext,
    dbt: DbtCliResource,
    settings: dg.ResourceParam[Settings],
) -> Iterator[Any]:
    # dbt reads the warehouse and lake paths from ALPHADAG_HOME (profiles.yml, sources).
    settings.export_env()
    yield from dbt.cli(["build"], context=context).stream()
