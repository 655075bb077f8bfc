"""The dbt project as assets: each model is its own node, dbt tests become asset checks."""

import hashlib
import json
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import cached_property
from importlib import metadata
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, dbt_assets
from packaging.version import Version

from assets.market_data import RAW_OHLCV
from orchestration.partitions import partition_end, raw_days_since
from orchestration.project import (
    DBT_PROJECT,
    WINDOW_ENV,
    prepare_dbt_partial_parse,
    window_env,
)
from orchestration.settings import Settings
from orchestration.warehouse import WAREHOUSE_POOL

# Re-parses only under `dagster dev`, so edits to the SQL show up on reload.
DBT_PROJECT.prepare_if_dev()
if not DBT_PROJECT.manifest_path.exists():
    raise FileNotFoundError(
        f"dbt manifest {DBT_PROJECT.manifest_path} is missing: run `make setup` "
        "(or `alphadag prepare`) once after cloning or editing the dbt project"
    )


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
    """The dbt models in the `features` group, with code versions that cover their macros.

    dagster-dbt's code version hashes a model's own SQL; most models here do their work
    through the project's macros (the partition window, the TA-Lib averages, the
    cross-sectional ranks), so the version also hashes every project macro the model
    calls, directly or through another macro. Editing either marks the model stale.
    """

    def __init__(self, manifest: Mapping[str, Any]) -> None:
        super().__init__()
        project = manifest["metadata"]["project_name"]
        self._macros = {
            unique_id: macro
            for unique_id, macro in manifest.get("macros", {}).items()
            if macro.get("package_name") == project
        }

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        return "features"

    def get_code_version(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        own = super().get_code_version(dbt_resource_props)
        macros = self._macros_called(dbt_resource_props.get("depends_on", {}).get("macros", []))
        if own is None or not macros:
            return own
        digest = hashlib.sha1(own.encode())
        for unique_id in sorted(macros):
            digest.update(unique_id.encode())
            digest.update(self._macros[unique_id]["macro_sql"].encode())
        return digest.hexdigest()

    def _macros_called(self, direct: list[str]) -> set[str]:
        found: set[str] = set()
        pending = [m for m in direct if m in self._macros]
        while pending:
            unique_id = pending.pop()
            if unique_id not in found:
                found.add(unique_id)
                called = self._macros[unique_id].get("depends_on", {}).get("macros", [])
                pending.extend(m for m in called if m in self._macros)
        return found


def build_dbt_models(raw_partitions: dg.TimeWindowPartitionsDefinition) -> dg.AssetsDefinition:
    """The dbt models as unpartitioned, incremental assets downstream of the daily bars.

    Each run is one `dbt build` whose window (`window_env`) is the span of the raw
    partitions materialized since the models last ran: the incremental feature models
    compute only those days plus the warm-up bars their windows need. A run over ten
    years of days therefore records one materialization per model, not one per model
    and day, and a nightly run does not recompute the history. Without new raw days (or
    on the first build) the models rebuild everything.
    """

    manifest = json.loads(DBT_PROJECT.manifest_path.read_text())

    @dbt_assets(
        manifest=manifest,
        project=DBT_PROJECT,
        dagster_dbt_translator=AlphadagDbtTranslator(manifest),
        pool=WAREHOUSE_POOL,
    )
    def dbt_models(
        context: dg.AssetExecutionContext,
        dbt: AlphadagDbtCli,
        settings: dg.ResourceParam[Settings],
    ) -> Iterator[Any]:
        # dbt reads the warehouse and lake paths from ALPHADAG_HOME (profiles.yml, sources).
        settings.export_env()
        window = raw_days_since(context.instance, RAW_OHLCV, context.selected_asset_keys)
        if window is None:
            context.log.info("no raw day is newer than the models: building every day")
            values = dict.fromkeys(WINDOW_ENV, "")
        else:
            first, last = window
            context.log.info(f"raw days to build: {first} .. {last}")
            values = window_env(first, partition_end(raw_partitions, last))
        # a new home's parse may still run beside the first steps (`alphadag run`)
        started = time.perf_counter()
        if prepare_dbt_partial_parse():
            context.log.info(
                f"parsed the dbt project for this home ({time.perf_counter() - started:.1f}s)"
            )
        # dbt.cli starts the dbt process with a copy of this environment
        with environment(values):
            invocation = dbt.cli(["build"], context=context)
        yield from invocation.stream()

    return dbt_models


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
