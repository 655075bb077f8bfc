"""The dbt project as assets: each model is its own node, dbt tests become asset checks.

The assets are built from dbt's manifest alone, without importing dagster-dbt (which
imports dbt-core: more than Dagster's own import time): loading the code location stays
cheap. The dbt step runs dbt through dagster-dbt (`assets.dbt_cli`), which maps dbt's
events to these keys and checks; a test compares these specs with dagster-dbt's own.
"""

import hashlib
import json
import os
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dagster as dg

from assets.market_data import RAW_OHLCV
from orchestration.partitions import partition_end, raw_days_since
from orchestration.project import (
    DBT_PROJECT,
    WINDOW_ENV,
    prepare_dbt_manifest,
    prepare_dbt_partial_parse,
    window_env,
)
from orchestration.settings import Settings
from orchestration.warehouse import WAREHOUSE_POOL

FEATURES_GROUP = "features"
DBT_OP_NAME = "dbt_models"  # each invocation's target is dbt_models-<run id>-<id>

# A home without the parsed project gets it here (a copy of the checkout's, or a parse);
# under `dagster dev` a reload also picks up edits of the SQL.
if os.environ.get("DAGSTER_IS_DEV_CLI") or not DBT_PROJECT.manifest_path.exists():
    prepare_dbt_manifest()


class DbtRunner(dg.ConfigurableResource):
    """dbt's command line on the project; dagster-dbt is loaded only when it runs."""

    project_dir: str
    profiles_dir: str
    dbt_executable: str

    def build(self, args: list[str], manifest: Mapping[str, Any], target_path: str) -> Any:
        """Start `dbt build <args>`; the invocation streams dagster-dbt's events."""
        from assets.dbt_cli import invoke

        return invoke(
            ["build", *args],
            manifest=manifest,
            project_dir=self.project_dir,
            profiles_dir=self.profiles_dir,
            dbt_executable=self.dbt_executable,
            target_path=Path(target_path),
        )


class ProjectMacros:
    """Code versions that cover the project's macros.

    A model's own SQL hashed alone (dagster-dbt's code version) misses most edits here:
    models do their work through the project's macros (the partition window, the TA-Lib
    averages, the cross-sectional ranks), so the version also hashes every project macro
    the model calls, directly or through another macro. Editing either marks it stale.
    """

    def __init__(self, manifest: Mapping[str, Any]) -> None:
        project = manifest["metadata"]["project_name"]
        self._macros = {
            unique_id: macro
            for unique_id, macro in manifest.get("macros", {}).items()
            if macro.get("package_name") == project
        }

    def code_version(self, node: Mapping[str, Any]) -> str | None:
        code = node.get("raw_sql") or node.get("raw_code")
        own = (
            hashlib.sha1(code.encode()).hexdigest()
            if code
            else node.get("checksum", {}).get("checksum")
        )
        macros = self._called(node.get("depends_on", {}).get("macros", []))
        if own is None or not macros:
            return own
        digest = hashlib.sha1(own.encode())
        for unique_id in sorted(macros):
            digest.update(unique_id.encode())
            digest.update(self._macros[unique_id]["macro_sql"].encode())
        return digest.hexdigest()

    def _called(self, direct: list[str]) -> set[str]:
        found: set[str] = set()
        pending = [m for m in direct if m in self._macros]
        while pending:
            unique_id = pending.pop()
            if unique_id not in found:
                found.add(unique_id)
                called = self._macros[unique_id].get("depends_on", {}).get("macros", [])
                pending.extend(m for m in called if m in self._macros)
        return found


def dbt_asset_key(props: Mapping[str, Any]) -> dg.AssetKey:
    """A dbt node's asset key, by dagster-dbt's rule: `meta.dagster.asset_key` when set,
    else a source's [source, table], else the model's [schema?, name]."""
    meta = props.get("config", {}).get("meta", {}) or props.get("meta", {})
    configured = meta.get("dagster", {}).get("asset_key")
    if configured:
        return dg.AssetKey(configured)
    if props["resource_type"] == "source":
        return dg.AssetKey([props["source_name"], props["name"]])
    if props.get("version"):
        return dg.AssetKey([props["alias"]])
    schema = props["config"].get("schema")
    return dg.AssetKey([schema, props["name"]] if schema else [props["name"]])


def _node(manifest: Mapping[str, Any], unique_id: str) -> Mapping[str, Any]:
    return manifest["nodes"].get(unique_id) or manifest["sources"][unique_id]


def _description(node: Mapping[str, Any]) -> str:
    sql = "\n".join(f"    {line}" if line else line for line in node["raw_code"].split("\n"))
    heading = node.get("description") or f"dbt {node['resource_type']} {node['name']}"
    return f"{heading}\n\n#### Raw SQL:\n```sql\n{sql}\n```"


def _table_metadata(node: Mapping[str, Any]) -> dict[str, Any]:
    columns = [
        dg.TableColumn(
            name=name,
            type=column.get("data_type") or "?",
            description=column.get("description"),
            tags=dict.fromkeys(column.get("tags", []), ""),
        )
        for name, column in node.get("columns", {}).items()
    ]
    table = ".".join(p for p in (node.get("database"), node.get("schema"), node.get("alias")) if p)
    return {
        "dagster_dbt/unique_id": node["unique_id"],
        "dagster-dbt/materialization_type": node["config"]["materialized"],
        "dagster_dbt/path": node["original_file_path"],
        **({"dagster/column_schema": dg.TableSchema(columns=columns)} if columns else {}),
        **({"dagster/table_name": table} if table else {}),
    }


def model_specs(manifest: Mapping[str, Any]) -> list[dg.AssetSpec]:
    """One asset per dbt model, downstream of the models and sources it reads."""
    macros = ProjectMacros(manifest)
    return [
        dg.AssetSpec(
            key=dbt_asset_key(node),
            deps=[dbt_asset_key(_node(manifest, parent)) for parent in node["depends_on"]["nodes"]],
            description=_description(node),
            group_name=FEATURES_GROUP,
            code_version=macros.code_version(node),
            kinds={"dbt", "duckdb"},
            metadata=_table_metadata(node),
            skippable=True,
        )
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model"
    ]


def dbt_test_check_specs(manifest: Mapping[str, Any]) -> list[dg.AssetCheckSpec]:
    """One asset check per dbt data test, on the model it tests; blocking unless the
    test's severity is `warn`."""
    specs = []
    for unique_id, test in manifest["nodes"].items():
        if test["resource_type"] != "test":
            continue
        parents = test["depends_on"]["nodes"]
        attached = test.get("attached_node") or (parents[0] if len(parents) == 1 else None)
        if attached is None:
            raise ValueError(
                f"dbt test {unique_id} reads {len(parents)} models and names none of them as "
                "the one it tests: write it as a generic test on that model"
            )
        asset = dbt_asset_key(_node(manifest, attached))
        others = {dbt_asset_key(_node(manifest, p)) for p in manifest["parent_map"][unique_id]}
        severity = (test.get("config", {}).get("severity") or "error").lower()
        specs.append(
            dg.AssetCheckSpec(
                name=test["name"],
                asset=asset,
                description=test.get("meta", {}).get("description"),
                additional_deps=others - {asset},
                metadata={"dagster_dbt/unique_id": unique_id},
                blocking=severity == "error",
            )
        )
    return specs


def _dbt_selection(context: dg.AssetExecutionContext, manifest: Mapping[str, Any]) -> list[str]:
    """`--select` arguments for the run's subset of the models and their tests."""
    models = {
        node["name"]: dbt_asset_key(node)
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model"
    }
    selected = set(context.selected_asset_keys)
    if selected == set(models.values()):
        return ["--select", "fqn:*"]
    names = sorted(name for name, key in models.items() if key in selected)
    # checks asked for without their model (the UI's "execute checks")
    tests = sorted(
        check.name for check in context.selected_asset_check_keys if check.asset_key not in selected
    )
    # one argument: dagster-dbt takes a single value after --select (dbt splits on spaces)
    return ["--select", " ".join([*names, *tests])]


def _as_asset_results(
    events: Iterator[Any], selected_checks: set[dg.AssetCheckKey]
) -> Iterator[Any]:
    """dagster-dbt's events of a dbt command, as the results of this multi-asset."""
    for event in events:
        if isinstance(event, dg.AssetMaterialization):
            yield dg.MaterializeResult(asset_key=event.asset_key, metadata=event.metadata)
        elif isinstance(event, dg.AssetCheckEvaluation):
            if dg.AssetCheckKey(event.asset_key, event.check_name) in selected_checks:
                yield dg.AssetCheckResult(
                    asset_key=event.asset_key,
                    check_name=event.check_name,
                    passed=event.passed,
                    severity=event.severity,
                    metadata=event.metadata,
                    description=event.description,
                )
        else:
            yield event


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

    @dg.multi_asset(
        name=DBT_OP_NAME,
        specs=model_specs(manifest),
        check_specs=dbt_test_check_specs(manifest),
        can_subset=True,
        pool=WAREHOUSE_POOL,
    )
    def dbt_models(
        context: dg.AssetExecutionContext,
        dbt: DbtRunner,
        settings: dg.ResourceParam[Settings],
    ) -> Iterator[Any]:
        # dbt reads the warehouse and lake paths from ALPHADAG_HOME (profiles.yml, macros).
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
        if prepare_dbt_partial_parse(settings.dbt_target_dir):
            context.log.info(
                f"parsed the dbt project for this home ({time.perf_counter() - started:.1f}s)"
            )
        target = (
            settings.dbt_target_dir / f"{DBT_OP_NAME}-{context.run_id[:7]}-{uuid.uuid4().hex[:7]}"
        )
        # dbt starts with a copy of this environment
        with environment(values):
            invocation = dbt.build(_dbt_selection(context, manifest), manifest, str(target))
        yield from _as_asset_results(invocation.stream(), set(context.selected_asset_check_keys))

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
