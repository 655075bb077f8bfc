"""`alphadag lineage`: where an asset, a model version or a backtest came from.

Every materialization in the Dagster instance records its data version, its code
version and a pointer to the exact upstream materialization each input was read from
(`dagster/input_event_pointer/<asset>`). A backtest or a model version is traced by
following those pointers from the materialization that produced it, through its MLflow
run and the training set's data version, to the dbt models and the raw partitions they
read; an asset is shown with its whole upstream and downstream chain as of the newest
materializations. Everything is read, nothing written: no run starts, no store is
created.

The result is one plain document (`lineage`), printed as a rich tree (`render`) or as
JSON for tools.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from rich.markup import escape
from rich.tree import Tree

from orchestration.settings import Settings

if TYPE_CHECKING:
    import dagster as dg
    from dagster._core.definitions.assets.graph.base_asset_graph import BaseAssetGraph

# Tags Dagster writes on every materialization (see dagster's data_version module).
DATA_VERSION_TAG = "dagster/data_version"
CODE_VERSION_TAG = "dagster/code_version"
INPUT_POINTER_PREFIX = "dagster/input_event_pointer/"
INPUT_DATA_VERSION_PREFIX = "dagster/input_data_version/"

RAW_ASSET = "raw_ohlcv"
# The materializations searched for the one that produced a backtest or a model version
# (`alphadag gc` keeps a few runs, so the history is short).
SEARCH_LIMIT = 500
# MLflow tags shown on a model version (the others stay in --json).
VERSION_TAGS = ("candidate", "target", "test_start", "test_end", "code_version", "fingerprint")
# Metadata kept from a materialization: the scalars (tables, plots and Markdown are not
# lineage).
SCALAR_TYPES = (str, int, float, bool)

HEX = re.compile(r"[0-9a-f]+")
MODEL_VERSION = re.compile(r"^(?:(?P<name>[A-Za-z_][\w.-]*):)?v?(?P<version>\d+)$")


class LineageError(LookupError):
    """The target is unknown or the home has nothing to trace; the message says which."""


@dataclass
class LineageHome:
    """What lineage reads: the instance, the asset graph and the home's stores."""

    settings: Settings
    instance: dg.DagsterInstance
    graph: BaseAssetGraph
    model_name: str


def open_home(settings: Settings) -> LineageHome:
    """The Dagster instance of ``settings.home`` and the asset graph of the definitions.

    Raises:
        LineageError: when the home has no Dagster instance or no dbt manifest yet.
    """
    config = settings.dagster_home / "dagster.yaml"
    if not config.exists() and not settings.dagster_storage_url:
        raise LineageError(
            f"no Dagster instance in {settings.dagster_home}: `alphadag run` builds one"
        )
    import dagster as dg

    from assets.models import MODEL_NAME

    try:
        from orchestration.definitions import build_definitions
    except FileNotFoundError as exc:  # the dbt manifest (assets.transform says which)
        raise LineageError(str(exc)) from None
    instance = dg.DagsterInstance.from_config(str(settings.dagster_home))
    graph = build_definitions(settings).resolve_asset_graph()
    return LineageHome(settings, instance, graph, MODEL_NAME)


def lineage(home: LineageHome, target: str) -> dict[str, Any]:
    """The lineage document of ``target``: an asset key (``fct_features``), a model
    version (``alphadag_ranker:3``, ``v3``) or a backtest id (``backtest_metrics``).

    Raises:
        LineageError: when ``target`` is none of them, with the closest known names.
    """
    target = target.strip()
    key = _key(target)
    if home.graph.has(key):
        return asset_lineage(home, key)
    if target in _backtest_ids(home):
        return backtest_lineage(home, target)
    match = MODEL_VERSION.match(target)
    if match:
        name = match.group("name") or home.model_name
        return model_lineage(home, name, match.group("version"))
    raise LineageError(_unknown(home, target))


# --- assets -----------------------------------------------------------------------------


def asset_lineage(home: LineageHome, key: dg.AssetKey) -> dict[str, Any]:
    """The asset with every asset upstream and downstream of it, each with its newest
    materialization, and the edges between them."""
    upstream = _closure(key, lambda k: home.graph.get(k).parent_keys)
    downstream = _closure(key, lambda k: home.graph.get(k).child_keys)
    nodes = {
        _name(k): _asset_node(home, k, _latest(home, k)) for k in [key, *upstream, *downstream]
    }
    return {
        "kind": "asset",
        "target": key.to_user_string(),
        "nodes": nodes,
        "parents": {
            _name(k): sorted(map(_name, home.graph.get(k).parent_keys)) for k in [key, *upstream]
        },
        "children": {
            _name(k): sorted(map(_name, home.graph.get(k).child_keys)) for k in [key, *downstream]
        },
    }


def _closure(
    start: dg.AssetKey, step: Callable[[dg.AssetKey], Iterable[dg.AssetKey]]
) -> list[dg.AssetKey]:
    """Every key reachable from ``start`` through ``step``, nearest first."""
    seen: dict[dg.AssetKey, None] = {}
    frontier = [start]
    while frontier:
        following = []
        for key in frontier:
            for nxt in sorted(step(key), key=_name):
                if nxt not in seen and nxt != start:
                    seen[nxt] = None
                    following.append(nxt)
        frontier = following
    return list(seen)


def _asset_node(
    home: LineageHome, key: dg.AssetKey, record: Any, newest: Any | None = None
) -> dict[str, Any]:
    """One asset: its code version now, the materialization shown and why it is stale.

    ``newest`` is the asset's newest materialization when ``record`` is an older one
    that a traced result read."""
    node = home.graph.get(key)
    materialization = _materialization(record) if record is not None else None
    stale = []
    if materialization is None:
        stale.append("never materialized (or its run was deleted)")
    else:
        recorded = materialization["code_version"]
        if recorded is not None and recorded != node.code_version:
            stale.append("code changed")
        for parent in sorted(node.parent_keys, key=_name):
            read = record.event_log_entry.asset_materialization.tags.get(
                INPUT_DATA_VERSION_PREFIX + _name(parent)
            )
            latest = _latest(home, parent)
            now = _tags(latest).get(DATA_VERSION_TAG) if latest is not None else None
            if read is not None and now is not None and read != now and newest is None:
                stale.append(f"{_name(parent)} changed")
    if newest is not None and record is not None and newest.storage_id != record.storage_id:
        stale.append(f"rebuilt since, {_display_time(_time(newest.event_log_entry.timestamp))}")
    out: dict[str, Any] = {
        "asset": _name(key),
        "group": node.group_name,
        "code_version": node.code_version,
        "materialization": materialization,
        "stale": stale,
    }
    if node.is_partitioned:
        out["partitions"] = _partition_span(home.instance.get_materialized_partitions(key))
    dbt_id = node.metadata.get("dagster_dbt/unique_id")
    if dbt_id is not None:
        out["dbt"] = {
            "unique_id": dbt_id,
            "materialized": node.metadata["dagster-dbt/materialization_type"],
            "path": node.metadata["dagster_dbt/path"],
        }
    return out


# --- backtests and model versions -------------------------------------------------------


def backtest_lineage(home: LineageHome, backtest_id: str) -> dict[str, Any]:
    """backtest -> model version -> MLflow run -> training set -> feature service -> dbt
    models -> raw partitions and the lake's files."""

    from orchestration.warehouse import Warehouse

    rows = Warehouse(home.settings.warehouse_path).query(
        "select * from backtest_metrics where backtest_id = ? order by strategy", [backtest_id]
    )
    first = rows.iloc[0]
    record = _find(home, _key("backtest"), lambda m, _: m.get("backtest_id") == backtest_id)
    metadata = _metadata(record) if record is not None else {}
    headline = metadata.get("strategy")
    report = home.settings.reports_dir / f"backtest_{backtest_id}.html"
    backtest = {
        "backtest_id": backtest_id,
        "model_name": first.get("model_name"),
        "model_version": str(first["model_version"]),
        "period": f"{first['start_date']:%Y-%m-%d}..{first['end_date']:%Y-%m-%d}",
        "data_version": first.get("data_version"),
        "created_at": _iso(first.get("created_at")),
        "headline": headline,
        "strategies": [
            {"strategy": r["strategy"], "sharpe": _float(r["sharpe"]), "cagr": _float(r["cagr"])}
            for r in rows.to_dict("records")
        ],
        "report": str(report) if report.exists() else None,
        "materialization": _materialization(record) if record is not None else None,
    }
    chain = model_lineage(
        home,
        str(first.get("model_name") or home.model_name),
        str(first["model_version"]),
        read_by=record,
    )
    return {**chain, "kind": "backtest", "target": backtest_id, "backtest": backtest}


def model_lineage(
    home: LineageHome, model_name: str, version: str, read_by: Any | None = None
) -> dict[str, Any]:
    """model version -> MLflow run -> training set -> feature service -> dbt models ->
    raw partitions. ``read_by`` is the materialization (a backtest's) that read the
    model: its upstream pointers are followed first."""

    from ml.tracking import describe_version, list_versions, open_store_read_only

    try:
        open_store_read_only(home.settings.mlflow_tracking_uri)
        described = describe_version(model_name, version)
    except (FileNotFoundError, LookupError) as exc:
        known = list_versions(model_name) if not isinstance(exc, FileNotFoundError) else []
        raise LineageError(
            f"{exc}; registered versions of {model_name}: "
            + (", ".join(f"v{v}" for v in known) or "none")
        ) from None
    run = described.pop("run") or {}
    tags = described["tags"]
    run_tags = run.get("tags", {})
    data_version = run_tags.get("data_version") or tags.get("data_version")
    service = run_tags.get("feature_service") or tags.get("feature_service")

    def built_version(metadata: dict[str, Any], tags: dict[str, str]) -> bool:
        return str(metadata.get("model_version")) == version

    def of_data_version(metadata: dict[str, Any], tags: dict[str, str]) -> bool:
        # MLflow records the whole SHA-256 of the file, Dagster its first 16 digits
        return bool(data_version) and data_version.startswith(tags.get(DATA_VERSION_TAG, "-"))

    # The materializations the reader (a backtest) read, else the newest ones that
    # produced this version and its training data.
    trail = _provenance(home, read_by) if read_by is not None else {}
    zoo = _on_trail_or_found(home, trail, "model_zoo", built_version)
    training = _on_trail_or_found(home, trail, "training_set", of_data_version)
    training_metadata = _metadata(training) if training is not None else {}
    feast = trail.get("feast_apply")

    dbt_models = sorted(
        (
            _asset_node(home, key, trail.get(_name(key)), _latest(home, key))
            for key in _closure(_key("training_set"), lambda k: home.graph.get(k).parent_keys)
            if "dbt" in home.graph.get(key).kinds
        ),
        # a dbt build materializes a model after its parents: the marts first, the
        # staging view last, above the raw partitions it reads
        key=lambda node: -(node["materialization"] or {}).get("storage_id", 0),
    )
    return {
        "kind": "model_version",
        "target": f"{model_name}:{version}",
        "model_version": {
            "name": model_name,
            "version": described["version"],
            "aliases": described["aliases"],
            "created_at": described["created_at"],
            "tags": {k: v for k, v in tags.items() if k != "features"},
            "materialization": _materialization(zoo) if zoo is not None else None,
            "backtests": _backtests_of(home, model_name, version),
        },
        "mlflow_run": {
            "run_id": run.get("run_id"),
            "status": run.get("status"),
            "started_at": run.get("started_at"),
            "data_version": run_tags.get("data_version"),
            "feature_service": run_tags.get("feature_service"),
            "dagster_run_id": run_tags.get("dagster_run_id"),
            "metrics": run.get("metrics", {}),
        },
        "training_set": {
            "data_version": data_version,
            "rows": training_metadata.get("rows"),
            "first_date": training_metadata.get("first_date"),
            "last_date": training_metadata.get("last_date"),
            "path": str(home.settings.training_set_path),
            "materialization": _materialization(training) if training is not None else None,
            "newest_materialization_matches": _newest_matches(home, "training_set", training),
        },
        "feature_service": {
            "name": service,
            "features": _int(tags.get("n_features")),
            "feature_views": _metadata(feast).get("feature_views") if feast is not None else None,
            "definitions_version": _tags(feast).get(DATA_VERSION_TAG)
            if feast is not None
            else None,
            "materialization": _materialization(feast) if feast is not None else None,
        },
        "dbt_models": dbt_models,
        "raw_partitions": _raw_partitions(home, trail.get("stg_ohlcv")),
    }


def _backtests_of(home: LineageHome, model_name: str, version: str) -> list[str]:
    from orchestration.warehouse import Warehouse

    if not _has_table(home, "backtest_metrics"):
        return []
    frame = Warehouse(home.settings.warehouse_path).query(
        "select backtest_id from backtest_metrics where model_name = ? and model_version = ? "
        "group by backtest_id order by max(created_at) desc",
        [model_name, version],
    )
    return frame["backtest_id"].tolist()


def _raw_partitions(home: LineageHome, read_by: Any | None) -> dict[str, Any]:
    """The raw partitions materialized when ``read_by`` (the dbt model that reads the lake)
    ran, the ones materialized again since, and the lake's files."""

    from ingest.lake import raw_ohlcv_dir

    key = _key(RAW_ASSET)
    instance = home.instance
    cursor = read_by.storage_id if read_by is not None else None
    read = instance.get_materialized_partitions(key, before_cursor=cursor)
    since = instance.get_materialized_partitions(key, after_cursor=cursor) if cursor else set()
    latest = _latest(home, key)
    lake = raw_ohlcv_dir(home.settings.lake_dir)
    files = sorted(lake.glob("date=*/*.parquet"))
    return {
        "asset": RAW_ASSET,
        **_partition_span(read),
        "materialized_again_since": len(since),
        "source": _metadata(latest).get("source") if latest is not None else None,
        "last_materialization": _materialization(latest) if latest is not None else None,
        "lake": {
            "pattern": str(lake / "date=*" / "*.parquet"),
            "files": len(files),
            "first": str(files[0].relative_to(home.settings.home)) if files else None,
            "last": str(files[-1].relative_to(home.settings.home)) if files else None,
        },
    }


def _partition_span(keys: Iterable[str]) -> dict[str, Any]:
    ordered = sorted(keys)
    return {
        "partitions": len(ordered),
        "first": ordered[0] if ordered else None,
        "last": ordered[-1] if ordered else None,
    }


# --- the event log ----------------------------------------------------------------------


def _latest(home: LineageHome, key: dg.AssetKey) -> Any | None:
    records = home.instance.fetch_materializations(key, limit=1).records
    return records[0] if records else None


def _find(
    home: LineageHome, key: dg.AssetKey, wanted: Callable[[dict[str, Any], dict[str, str]], bool]
) -> Any | None:
    """The newest materialization of ``key`` whose metadata and tags ``wanted`` accepts."""
    for record in home.instance.fetch_materializations(key, limit=SEARCH_LIMIT).records:
        if wanted(_metadata(record), _tags(record)):
            return record
    return None


def _on_trail_or_found(
    home: LineageHome,
    trail: dict[str, Any],
    name: str,
    wanted: Callable[[dict[str, Any], dict[str, str]], bool],
) -> Any | None:
    """The materialization of ``name`` on ``trail`` if ``wanted`` accepts it, else the
    newest one it accepts; what that one read joins ``trail`` where it has no entry."""
    record = trail.get(name)
    if record is None or not wanted(_metadata(record), _tags(record)):
        record = _find(home, _key(name), wanted)
    if record is not None:
        trail.setdefault(name, record)
        for upstream, event in _provenance(home, record).items():
            trail.setdefault(upstream, event)
    return record


def _provenance(home: LineageHome, record: Any) -> dict[str, Any]:
    """Every upstream materialization ``record`` read, directly or not, by asset name,
    following the input pointers Dagster stored with each materialization."""
    import dagster as dg

    found: dict[str, Any] = {}
    pending = [record]
    while pending:
        current = pending.pop()
        for tag, value in _tags(current).items():
            if not tag.startswith(INPUT_POINTER_PREFIX):
                continue
            name = tag.removeprefix(INPUT_POINTER_PREFIX)
            if name in found:
                continue
            records = home.instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=_key(name), storage_ids=[int(value)]),
                limit=1,
            ).records
            if records:
                found[name] = records[0]
                pending.append(records[0])
    return found


def _newest_matches(home: LineageHome, name: str, record: Any | None) -> bool | None:

    latest = _latest(home, _key(name))
    if record is None or latest is None:
        return None
    return _tags(latest).get(DATA_VERSION_TAG) == _tags(record).get(DATA_VERSION_TAG)


def _tags(record: Any) -> dict[str, str]:
    return dict(record.event_log_entry.asset_materialization.tags or {})


def _metadata(record: Any) -> dict[str, Any]:
    """The scalar metadata of a materialization (text, numbers, paths)."""
    out = {}
    for name, entry in record.event_log_entry.asset_materialization.metadata.items():
        value = getattr(entry, "value", entry)
        if isinstance(value, SCALAR_TYPES):
            out[name] = value
    return out


def _materialization(record: Any) -> dict[str, Any]:
    entry = record.event_log_entry
    tags = _tags(record)
    code_version = tags.get(CODE_VERSION_TAG)
    metadata = _metadata(record)
    return {
        "time": _time(entry.timestamp),
        "run_id": entry.run_id,
        "partition": entry.asset_materialization.partition,
        "data_version": tags.get(DATA_VERSION_TAG),
        # without a code version on the asset, Dagster records the run id instead
        "code_version": None if code_version == entry.run_id else code_version,
        "storage_id": record.storage_id,
        **({"mlflow_run_id": metadata["mlflow_run_id"]} if "mlflow_run_id" in metadata else {}),
    }


# --- targets ----------------------------------------------------------------------------


def _has_table(home: LineageHome, table: str) -> bool:
    from orchestration.warehouse import Warehouse

    if not home.settings.warehouse_path.exists():
        return False
    return (
        not Warehouse(home.settings.warehouse_path)
        .query("select 1 from information_schema.tables where table_name = ?", [table])
        .empty
    )


def _backtest_ids(home: LineageHome) -> list[str]:
    from orchestration.warehouse import Warehouse

    if not _has_table(home, "backtest_metrics"):
        return []
    return (
        Warehouse(home.settings.warehouse_path)
        .query(
            "select backtest_id from backtest_metrics group by backtest_id "
            "order by max(created_at) desc nulls last"
        )["backtest_id"]
        .tolist()
    )


def _unknown(home: LineageHome, target: str) -> str:
    from ml.tracking import list_versions, open_store_read_only

    assets = sorted(_name(k) for k in home.graph.get_all_asset_keys())
    backtests = _backtest_ids(home)
    try:
        open_store_read_only(home.settings.mlflow_tracking_uri)
        versions = [f"{home.model_name}:{v}" for v in list_versions(home.model_name)]
    except FileNotFoundError:
        versions = []
    close = difflib.get_close_matches(target, [*assets, *backtests, *versions], n=3, cutoff=0.5)
    lines = [f"unknown target {target!r}: not an asset, a model version or a backtest id"]
    if close:
        lines.append(f"did you mean: {', '.join(close)}?")
    lines.append(f"assets: {', '.join(assets)}")
    lines.append(f"model versions: {', '.join(versions) or 'none yet'} (also written vN)")
    shown = ", ".join(backtests[:5]) + (
        f" (and {len(backtests) - 5} more)" if len(backtests) > 5 else ""
    )
    lines.append(f"backtests, newest first: {shown or 'none yet'}")
    return "\n".join(lines)


# --- rendering --------------------------------------------------------------------------


def render(doc: dict[str, Any]) -> Tree:
    """The lineage document as a tree: the target at the root, its sources below."""
    if doc["kind"] == "asset":
        return _asset_tree(doc)
    root: Tree
    if doc["kind"] == "backtest":
        backtest = doc["backtest"]
        root = Tree(_backtest_label(backtest))
        model_parent = root
    else:
        root = model_parent = Tree(f"[bold]model version {escape(doc['target'])}[/bold]")
    version = doc["model_version"]
    model = model_parent.add(_model_label(version))
    run = model.add(_run_label(doc["mlflow_run"]))
    training = run.add(_training_label(doc["training_set"]))
    service = training.add(_service_label(doc["feature_service"]))
    dbt = service.add(
        f"[bold]dbt models[/bold] ({len(doc['dbt_models'])}, upstream of training_set)"
    )
    for node in doc["dbt_models"]:
        dbt.add(_node_label(node))
    raw = doc["raw_partitions"]
    partitions = dbt.add(_raw_label(raw))
    lake = raw["lake"]
    partitions.add(
        f"lake files: {lake['files']}, {escape(str(lake['first']))} .. {escape(str(lake['last']))}"
        + (f"; source {escape(str(raw['source']))}" if raw.get("source") else "")
    )
    return root


def _asset_tree(doc: dict[str, Any]) -> Tree:
    nodes = doc["nodes"]
    target = doc["target"]
    root = Tree(_node_label(nodes[target], bold=True))

    def grow(branch: Tree, name: str, edges: dict[str, list[str]], shown: set[str]) -> None:
        for nxt in edges.get(name, []):
            if nxt in shown:
                branch.add(f"[dim]{escape(nxt)} (shown above)[/dim]")
                continue
            shown.add(nxt)
            grow(branch.add(_node_label(nodes[nxt])), nxt, edges, shown)

    if doc["parents"].get(target):
        grow(root.add("[bold]upstream[/bold]"), target, doc["parents"], set())
    if doc["children"].get(target):
        grow(root.add("[bold]downstream[/bold]"), target, doc["children"], set())
    return root


def _node_label(node: dict[str, Any], bold: bool = False) -> str:
    name = escape(node["asset"])
    text = f"[bold]{name}[/bold]" if bold else f"[cyan]{name}[/cyan]"
    if "dbt" in node:
        text += f" [dim]({node['dbt']['materialized']})[/dim]"
    if "partitions" in node:
        span = node["partitions"]
        text += f" {span['partitions']} partitions {span['first']}..{span['last']}"
    text += f" {_event_text(node['materialization'])}, code {_short(node['code_version'])}"
    if node["materialization"] is not None and node["materialization"]["code_version"] is None:
        text += " [dim](none recorded)[/dim]"
    if node["stale"]:
        text += f" [yellow]\\[stale: {escape('; '.join(node['stale']))}][/yellow]"
    return text


def _event_text(materialization: dict[str, Any] | None, data: bool = True) -> str:
    if materialization is None:
        return "[yellow]no materialization[/yellow]"
    text = f"{_display_time(materialization['time'])} run {materialization['run_id'][:8]}"
    return text + (f", data {_short(materialization['data_version'])}" if data else "")


def _backtest_label(backtest: dict[str, Any]) -> str:
    headline = next(
        (s for s in backtest["strategies"] if s["strategy"] == backtest["headline"]), None
    )
    text = f"[bold]backtest {escape(backtest['backtest_id'])}[/bold] {backtest['period']}"
    if headline is not None:
        text += f", {escape(headline['strategy'])} Sharpe {_fmt(headline['sharpe'], '.2f')}"
    text += (
        f", {len(backtest['strategies'])} strategies, read data {_short(backtest['data_version'])}"
    )
    if backtest["materialization"] is not None:
        # its Dagster data version is the backtest id itself
        text += f", {_event_text(backtest['materialization'], data=False)}"
    if backtest["report"]:
        text += f"\nreport {escape(backtest['report'])}"
    return text


def _model_label(version: dict[str, Any]) -> str:
    tags = version["tags"]
    aliases = ", ".join(version["aliases"]) or "no alias"
    shown = ", ".join(f"{k} {_short(tags[k], 16)}" for k in VERSION_TAGS if k in tags)
    return (
        f"[bold]model version[/bold] {escape(version['name'])} v{version['version']}"
        f" ({aliases}), registered {_display_time(version['created_at'])}: {shown}"
    )


def _run_label(run: dict[str, Any]) -> str:
    metrics = ", ".join(f"{k} {v:.4g}" for k, v in sorted(run["metrics"].items()))
    return (
        f"[bold]MLflow run[/bold] {run['run_id']} {run['status']}"
        f" {_display_time(run['started_at'])}, Dagster run {str(run['dagster_run_id'])[:8]}"
        f"\nmetrics: {metrics or 'none'}"
    )


def _training_label(training: dict[str, Any]) -> str:
    text = f"[bold]training set[/bold] data version {_short(training['data_version'], 16)}"
    if training["rows"] is not None:
        text += f", {training['rows']} rows {training['first_date']}..{training['last_date']}"
    if training["materialization"] is None:
        text += " [yellow](no materialization of that version left in the run history)[/yellow]"
    else:
        text += f", {_event_text(training['materialization'], data=False)}"
        if training["newest_materialization_matches"] is False:
            text += " [yellow]stale: the training set has changed since[/yellow]"
    return text


def _service_label(service: dict[str, Any]) -> str:
    views = service["feature_views"]
    text = f"[bold]feature service[/bold] {escape(str(service['name']))}"
    if service["features"] is not None:
        text += f": {service['features']} features"
    if views:
        text += f" from {len(views.split(', '))} views"
    if service["definitions_version"]:
        text += f", definitions {_short(service['definitions_version'], 16)}"
    return text


def _raw_label(raw: dict[str, Any]) -> str:
    text = (
        f"[bold]raw partitions[/bold] {raw['asset']}: {raw['partitions']} business days "
        f"{raw['first']}..{raw['last']}"
    )
    if raw["materialized_again_since"]:
        text += f" [yellow]({raw['materialized_again_since']} materialized again since)[/yellow]"
    if raw["last_materialization"] is not None:
        text += f", newest {_event_text(raw['last_materialization'])}"
    return text


# --- small formatting helpers -----------------------------------------------------------


def _key(name: str) -> dg.AssetKey:
    import dagster as dg

    return dg.AssetKey.from_user_string(name)


def _name(key: dg.AssetKey) -> str:
    return key.to_user_string()


def _time(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds")


def _display_time(iso: str | None) -> str:
    return "?" if iso is None else iso.replace("T", " ").replace("+00:00", " UTC")


def _iso(value: Any) -> str | None:
    return None if value is None else str(value)


def _short(text: str | None, length: int = 12) -> str:
    """A hash cut to ``length`` hex digits; any other text whole."""
    if not text:
        return "none"
    return escape(text[:length] if HEX.fullmatch(text) else text)


def _float(value: Any) -> float | None:
    import math

    return float(value) if value is not None and math.isfinite(float(value)) else None


def _int(text: str | None) -> int | None:
    return int(text) if text and text.isdigit() else None


def _fmt(value: float | None, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)
