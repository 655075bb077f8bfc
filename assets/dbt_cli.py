"""dbt's command line through dagster-dbt, imported only when the dbt step runs.

dagster-dbt turns dbt's structured logs into materializations (with the column schema
and lineage the post-hooks log) and test results into check evaluations. Importing it
costs more than Dagster itself (it imports dbt-core), so the definitions build the dbt
assets from the manifest alone (`assets.transform`) and this module is loaded by the
dbt step.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cached_property
from importlib import metadata
from pathlib import Path
from typing import Any

from dagster_dbt import DagsterDbtTranslator, DbtCliInvocation, DbtCliResource
from packaging.version import Version

from assets.transform import FEATURES_GROUP, ProjectMacros


class AlphadagDbtCli(DbtCliResource):
    """dbt's command line, without two start-up costs dagster-dbt pays on every run.

    - It starts a whole `dbt --version` process (seconds) to learn the version; the dbt
      it runs is this environment's (`dbt_executable`), whose version the installed
      package metadata gives at once.
    - It loads dbt's adapter in the Dagster process (dbt's imports, project and profile)
      only to query the warehouse for column metadata or row counts. The column schema
      and lineage come from the post-hook's logs instead (macros/column_lineage.sql), and
      the Dagster process must not open the DuckDB file while dbt writes it anyway.
    """

    @cached_property
    def _cli_version(self) -> Version:
        return Version(metadata.version("dbt-core"))

    def _initialize_dbt_core_adapter(self, args: Sequence[str]) -> None:
        return None


class AlphadagDbtTranslator(DagsterDbtTranslator):
    """Maps dbt's events to the asset keys and code versions `assets.transform` gives the
    models (the `features` group; code versions that cover the macros a model calls)."""

    def __init__(self, manifest: Mapping[str, Any]) -> None:
        super().__init__()
        self._macros = ProjectMacros(manifest)

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        return FEATURES_GROUP

    def get_code_version(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        return self._macros.code_version(dbt_resource_props)


def invoke(
    args: Sequence[str],
    *,
    manifest: Mapping[str, Any],
    project_dir: str,
    profiles_dir: str,
    dbt_executable: str,
    target_path: Path,
) -> DbtCliInvocation:
    """Start `dbt <args>` on the project, its events mapped through the manifest."""
    cli = AlphadagDbtCli(
        project_dir=project_dir, profiles_dir=profiles_dir, dbt_executable=dbt_executable
    )
    return cli.cli(
        list(args),
        manifest=manifest,
        dagster_dbt_translator=AlphadagDbtTranslator(manifest),
        target_path=target_path,
    )
