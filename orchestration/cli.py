"""`alphadag`: build the whole graph from a shell, or open the Dagster UI on it."""

from __future__ import annotations

import contextlib
import math
import os
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.table import Table

from orchestration.event_log import EVENT_BATCH_SIZE
from orchestration.quiet import ignore_known_warnings, quiet_dagster_dev_env, quiet_libraries
from orchestration.settings import Settings, SettingsError, home_from_env

if TYPE_CHECKING:
    import pandas as pd
    from dagster import DagsterInstance, ExecuteInProcessResult

    from orchestration.profiling import EventWriteTimer, Marks

app = typer.Typer(
    help="alphadag: a lineage-tracked research pipeline for systematic trading.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)

DAGSTER_YAML = """\
# Written by `alphadag`; edit freely (it is only written when missing, or when its
# storage below does not match ALPHADAG_DAGSTER_STORAGE).
telemetry:
  enabled: false
concurrency:
  pools:
    # DuckDB admits one writer at a time: assets tagged with the `warehouse` pool
    # (and every other pool) run one at a time.
    default_limit: 1
# The daemon of `alphadag ui` purges old schedule and sensor ticks (the inbox sensor
# ticks every 30 s); runs and their event logs are pruned by `alphadag gc`.
retention:
  schedule:
    purge_after_days: 90
  sensor:
    purge_after_days:
      skipped: 7
      failure: 30
      success: 90
{storage}"""
SQLITE_STORAGE = """\
# Dagster's SQLite event log, with open connections and a step's batch of asset events
# (a range run's per-day materializations) in one transaction: orchestration/event_log.py.
event_log_storage:
  module: orchestration.event_log
  class: BatchingSqliteEventLogStorage
  config:
    base_dir: {runs_dir}
"""
POSTGRES_STORAGE = """\
# Runs, event log and schedules in PostgreSQL. The URL is read from the environment
# whenever the instance opens, so its password is never written to a file.
storage:
  postgres:
    postgres_url:
      env: ALPHADAG_DAGSTER_STORAGE
"""

# Finished runs that `alphadag run` and `alphadag gc` keep. A run records an event per
# asset and partition, hundreds of MB for the default range; a full run re-materializes
# every partition, so the runs before it pin none and their history can go.
KEEP_RUNS = 1


@contextlib.contextmanager
def _settings_errors_in_one_line() -> Iterator[None]:
    """A SettingsError in the block ends the command with its one line and exit code 2."""
    try:
        yield
    except SettingsError as exc:
        err_console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None


def _load_settings() -> Settings:
    """Settings from the environment, with a one-line error instead of a traceback."""
    from orchestration.preflight import check_servers

    with _settings_errors_in_one_line():
        settings = Settings.from_env()
        settings.ensure_home()
        check_servers(settings)
    settings.export_env()
    os.environ.setdefault("DAGSTER_HOME", str(settings.dagster_home))
    os.environ.setdefault("NUMBA_CACHE_DIR", str(settings.numba_cache_dir))
    # A range run records one planned event per asset, not one per asset and day (see
    # the README's "Cost" section for the trade-off).
    os.environ.setdefault("DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS", "true")
    # Dagster hands a step's asset events to the storage in batches of this size.
    os.environ.setdefault("DAGSTER_EVENT_BATCH_SIZE", str(EVENT_BATCH_SIZE))
    dagster_home = Path(os.environ["DAGSTER_HOME"])
    dagster_home.mkdir(parents=True, exist_ok=True)
    instance_yaml = dagster_home / "dagster.yaml"
    written = instance_yaml.read_text() if instance_yaml.exists() else ""
    wanted = instance_config(settings, dagster_home)
    # an instance written by an earlier alphadag, or for the other storage, is rewritten
    if not written or (
        written.startswith("# Written by `alphadag`")
        and _storage_kind(written) != _storage_kind(wanted)
    ):
        # renamed into place: a run starting at the same moment never reads half of it
        staged = dagster_home / f".dagster.yaml.{os.getpid()}.tmp"
        staged.write_text(wanted)
        os.replace(staged, instance_yaml)
    return settings


def instance_config(settings: Settings, dagster_home: Path) -> str:
    """The `dagster.yaml` that `alphadag` writes: SQLite files under ``dagster_home``, or
    PostgreSQL when ALPHADAG_DAGSTER_STORAGE is set."""
    storage = (
        POSTGRES_STORAGE
        if settings.dagster_storage_url
        else SQLITE_STORAGE.format(runs_dir=dagster_home / "history" / "runs")
    )
    return DAGSTER_YAML.format(storage=storage)


def _storage_kind(config: str) -> str | None:
    """Which of the storages above an instance yaml selects (None: neither, an older one)."""
    if "env: ALPHADAG_DAGSTER_STORAGE" in config:
        return "postgres"
    return "sqlite" if "class: BatchingSqliteEventLogStorage" in config else None


def _recover() -> None:
    from orchestration.recovery import recover_at_startup

    if message := recover_at_startup():
        console.print(message)


def _check_before_run(settings: Settings) -> list[str]:
    """The pre-run checks (orchestration.preflight): one line and exit code 2 on failure."""
    from backtests.construction import PortfolioSpec
    from orchestration.preflight import check_before_run

    with _settings_errors_in_one_line():
        return check_before_run(settings, top_k=PortfolioSpec.top_k)


def _prepare(*, parse_in_background: bool = False) -> None:
    """The dbt manifest the definitions load, then the home's partial-parse state (in the
    background while a run's first steps go on, if asked: the dbt step waits for it)."""
    from orchestration.project import (
        prepare_dbt_manifest,
        prepare_dbt_partial_parse,
        prepare_dbt_partial_parse_in_background,
    )

    started = time.perf_counter()
    path = prepare_dbt_manifest()
    if parse_in_background:
        prepare_dbt_partial_parse_in_background()
    else:
        prepare_dbt_partial_parse()
    console.print(f"dbt manifest ready: {path} ({time.perf_counter() - started:.1f}s)")


@app.command()
def prepare() -> None:
    """Parse the dbt project into its manifest in ALPHADAG_HOME (`run` and `ui` do it too)."""
    # Only the home matters here (the parse is made for its profile, whose warehouse path
    # dbt's partial parsing depends on); the other settings are checked by `run`.
    home = home_from_env()
    with _settings_errors_in_one_line():
        Settings(home=home).ensure_home()
    os.environ["ALPHADAG_HOME"] = str(home)
    _prepare()


PROFILE_OPTION = typer.Option(
    False,
    "--profile",
    help="Print where the wall time went (start-up, planning, each step's compute, "
    "event writes, dbt) and write it to $ALPHADAG_HOME/profiles/<run id>.json.",
)
VERBOSE_OPTION = typer.Option(
    False, "--verbose", "-v", help="Dagster's full log and every library notice."
)
KEEP_RUNS_OPTION = typer.Option(
    KEEP_RUNS, help="Finished runs to keep afterwards (see `alphadag gc`)."
)


UNTIL_OPTION = typer.Option(
    None,
    "--until",
    metavar="ASSET",
    help="Build only ASSET and what it depends on (for example training_set: the data "
    "half), not the whole graph. Repeatable.",
)
FROM_OPTION = typer.Option(
    None,
    "--from",
    metavar="ASSET",
    help="Build only ASSET and what depends on it, on its other inputs as last built "
    "(for example model_zoo: retrain and backtest on the data already in the home). "
    "Repeatable.",
)


@app.command()
def run(
    until: list[str] | None = UNTIL_OPTION,
    start_from: list[str] | None = FROM_OPTION,
    profile: bool = PROFILE_OPTION,
    verbose: bool = VERBOSE_OPTION,
    keep_runs: int = KEEP_RUNS_OPTION,
) -> None:
    """Materialize the whole graph for the configured range and print the results."""
    from orchestration.jobs import BUILD_JOB_NAME

    until, start_from = until or [], start_from or []
    scope = " and ".join(
        part
        for part in (
            f"what {', '.join(until)} depend{'s' if len(until) == 1 else ''} on" if until else None,
            f"what depends on {', '.join(start_from)}" if start_from else None,
        )
        if part
    )
    settings, result = _execute(
        BUILD_JOB_NAME,
        "planning one run over every business day and " + (scope or "everything downstream"),
        until=until,
        start_from=start_from,
        profile=profile,
        verbose=verbose,
        keep_runs=keep_runs,
    )
    _print_summary(settings, result)


@app.command()
def refresh(
    days: int = typer.Option(1, min=1, help="How many of the newest business days to ingest."),
    profile: bool = PROFILE_OPTION,
    verbose: bool = VERBOSE_OPTION,
    keep_runs: int = KEEP_RUNS_OPTION,
) -> None:
    """Ingest the newest business day(s) of the range and update their features and the
    online feature store, without retraining (the `daily_refresh` job)."""
    from orchestration.jobs import REFRESH_JOB_NAME

    _execute(
        REFRESH_JOB_NAME,
        f"planning the refresh of the {days} newest business day(s): bars, features, online store",
        last_days=days,
        profile=profile,
        verbose=verbose,
        keep_runs=keep_runs,
    )


def _execute(
    job_name: str,
    announcement: str,
    *,
    last_days: int | None = None,
    until: Sequence[str] = (),
    start_from: Sequence[str] = (),
    profile: bool,
    verbose: bool,
    keep_runs: int,
) -> tuple[Settings, ExecuteInProcessResult]:
    """Run one job of the graph in this process with progress lines, report failures in
    one line per step, print the run's profile when asked, then prune old runs."""
    settings = _load_settings()
    notes = _check_before_run(settings)
    cli_ready = time.time()
    console.print(
        f"alphadag: source={settings.source} range={settings.start}..{settings.end} "
        f"universe={settings.describe_universe()} "
        f"home={settings.home}"
    )
    for note in notes:
        console.print(f"[yellow]note:[/yellow] {note}")
    if not verbose:
        quiet_libraries()
    _prepare(parse_in_background=True)
    _recover()
    dbt_parsed = time.time()

    import dagster as dg

    from orchestration.definitions import build_definitions
    from orchestration.errors import root_cause
    from orchestration.jobs import execute_over_days
    from orchestration.profiling import Marks, timed_event_writes
    from orchestration.progress import reporting

    definitions = build_definitions(settings)
    definitions_loaded = time.time()
    instance = dg.DagsterInstance.get()
    started = time.perf_counter()
    try:
        with (
            reporting(
                definitions,
                verbose=verbose,
                library_output=settings.library_output_path,
                announcement=announcement,
            ) as (defs, run_config),
            timed_event_writes(instance) as writes,
        ):
            result = execute_over_days(
                defs,
                instance,
                job_name,
                last_days=last_days,
                until=until,
                start_from=start_from,
                run_config=run_config,
            )
    except ValueError as exc:
        err_console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    elapsed = time.perf_counter() - started
    if profile:
        marks = Marks(_process_start(), cli_ready, dbt_parsed, definitions_loaded)
        _print_profile(settings, instance, result.run_id, marks, writes)
    if not result.success:
        for event in result.all_events:
            if event.is_step_failure and event.step_failure_data:
                cause = root_cause(event.step_failure_data.error)
                err_console.print(f"[red]failed:[/red] {event.step_key}: {cause}")
        console.print(
            f"run {result.run_id} failed after {elapsed:.0f}s; details: `alphadag ui`"
            + ("" if verbose else f", dbt's output: {settings.library_output_path}")
        )
        _collect_garbage(settings, keep_runs)
        raise typer.Exit(1)
    console.print(f"run {result.run_id} succeeded in {elapsed:.0f}s")
    _collect_garbage(settings, keep_runs)
    return settings, result


def _process_start() -> float:
    import psutil

    return psutil.Process().create_time()


def _print_profile(
    settings: Settings,
    instance: DagsterInstance,
    run_id: str,
    marks: Marks,
    writes: EventWriteTimer,
) -> None:
    from orchestration.profiling import dbt_execution_seconds, profile_run, profile_table

    profile = profile_run(
        instance,
        run_id,
        marks=marks,
        writes=writes,
        dbt_execution=dbt_execution_seconds(settings.dbt_target_dir, run_id),
    )
    console.print(profile_table(profile))
    path = profile.write(settings.home / "profiles" / f"{run_id}.json")
    console.print(f"profile: {path}")


# The run summary's compact view of the backtest (80 columns); `alphadag report` shows all.
SUMMARY_COLUMNS = ("sharpe", "cagr", "max_drawdown", "turnover", "excess_return_t")
STRESS_COLUMNS = (
    ("days", "{:.0f}"),
    ("sharpe", "{:.2f}"),
    ("cagr", "{:.2%}"),
    ("max_drawdown", "{:.2%}"),
    ("total_return", "{:.2%}"),
)
ZOO_COLUMNS = ("cv_rank_ic", "test_ic", "test_rank_ic", "icir", "hac_t", "oracle_share")


def _formatted(value: object, fmt: str) -> str:
    number = float(value) if value is not None else math.nan
    return fmt.format(number) if math.isfinite(number) else "n/a"


def summary_tables(warehouse_path: Path, backtest_id: str, zoo_version: str) -> list[Table]:
    """The run's summary from the warehouse: the backtest (every strategy, baseline and
    the oracle bound), its stress tests, and the model zoo of version ``zoo_version``
    (every candidate on the same test rows)."""
    from ml.training import LEARNED
    from ml.zoo import BASELINES
    from orchestration.warehouse import Warehouse

    warehouse = Warehouse(warehouse_path)
    backtest = backtest_table(backtest_rows(warehouse_path, backtest_id), SUMMARY_COLUMNS)
    stress = warehouse.query(
        "select * exclude (backtest_id) from stress_tests where backtest_id = ?", [backtest_id]
    )
    stress_table = Table(title="stress tests of the headline strategy", box=None, pad_edge=False)
    stress_table.add_column("scenario", no_wrap=True)
    for name, _ in STRESS_COLUMNS:
        stress_table.add_column(name, justify="right", no_wrap=True)
    for record in stress.to_dict("records"):
        stress_table.add_row(
            str(record["scenario"]), *(_formatted(record[n], f) for n, f in STRESS_COLUMNS)
        )

    zoo = warehouse.query(
        f"select candidate, {', '.join(ZOO_COLUMNS)} from model_zoo where model_version = ?",
        [zoo_version],
    )
    # compact, so that the full column names fit 80 columns (a log file, a CI job)
    candidates = Table(
        title=f"model zoo of v{zoo_version}: same test rows; oracle = the label's expectation",
        box=None,
        collapse_padding=True,
        pad_edge=False,
    )
    candidates.add_column("candidate", no_wrap=True)
    for name in ZOO_COLUMNS:
        candidates.add_column(name, justify="right", no_wrap=True, min_width=len(name))
    order = [*BASELINES, *LEARNED, "oracle"]
    records = sorted(
        zoo.to_dict("records"),
        key=lambda r: order.index(r["candidate"]) if r["candidate"] in order else len(order),
    )
    for record in records:
        candidates.add_row(
            record["candidate"],
            *(
                _formatted(record[c], "{:.2f}" if c in ("hac_t", "oracle_share") else "{:.3f}")
                for c in ZOO_COLUMNS
            ),
        )
    return [backtest, stress_table, candidates]


def _print_summary(settings: Settings, result: ExecuteInProcessResult) -> None:
    """The backtest and the zoo of this run, when it built both (`--from` may skip the zoo)."""
    built = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    if not {"backtest", "model_zoo"} <= built:
        return
    (backtest,) = result.asset_materializations_for_node("backtest")
    (zoo,) = result.asset_materializations_for_node("model_zoo")
    backtest_id = str(backtest.metadata["backtest_id"].value)
    for table in summary_tables(
        settings.warehouse_path, backtest_id, str(zoo.metadata["model_version"].value)
    ):
        console.print(table)
    console.print(f"report: {settings.reports_dir / ('backtest_' + backtest_id + '.html')}")


# The columns of `alphadag report`, when the table has them (older homes lack the newer).
REPORT_COLUMNS = (
    ("sharpe", "{:.2f}"),
    ("cagr", "{:.2%}"),
    ("max_drawdown", "{:.2%}"),
    ("turnover", "{:.2f}"),
    ("deflated_sharpe", "{:.2f}"),
    ("max_drawdown_duration", "{:.0f}"),
    ("exposure", "{:.2%}"),
    ("beta", "{:.2f}"),
    ("alpha", "{:.2%}"),
    ("information_ratio", "{:.2f}"),
    ("excess_return_t", "{:.2f}"),
)


class NoSuchBacktest(LookupError):
    """No backtest in the warehouse, or none with the id asked for; the message says which."""


def backtest_rows(warehouse_path: Path, backtest_id: str | None) -> pd.DataFrame:
    """The `backtest_metrics` rows of ``backtest_id``, or of the latest backtest (by
    ``created_at``) when it is None, one per strategy.

    Raises:
        NoSuchBacktest: when there is no backtest yet or ``backtest_id`` is unknown; the
            message of the latter lists the known ids, newest first.
    """
    from orchestration.warehouse import Warehouse

    warehouse = Warehouse(warehouse_path)
    exists = (
        warehouse_path.exists()
        and not warehouse.query(
            "select 1 from information_schema.tables where table_name = 'backtest_metrics'"
        ).empty
    )
    known = (
        warehouse.query(
            "select backtest_id from backtest_metrics group by backtest_id "
            "order by max(created_at) desc nulls last, backtest_id"
        )["backtest_id"].tolist()
        if exists
        else []
    )
    if not known:
        raise NoSuchBacktest(f"no backtest yet in {warehouse_path}: `alphadag run` builds one")
    if backtest_id is None:
        backtest_id = known[0]
    elif backtest_id not in known:
        shown = ", ".join(known[:10]) + (
            f" (and {len(known) - 10} more)" if len(known) > 10 else ""
        )
        raise NoSuchBacktest(f"no backtest {backtest_id!r}; known, newest first: {shown}")
    return warehouse.query("select * from backtest_metrics where backtest_id = ?", [backtest_id])


def backtest_table(rows: pd.DataFrame, only: tuple[str, ...] | None = None) -> Table:
    """One row per strategy of one backtest; the title names the backtest, its model
    version(s) and its period. ``only`` narrows the columns."""
    first = rows.iloc[0]
    models = sorted(
        {
            f"{record.get('model_name') or 'model'} v{record['model_version']}"
            for record in rows.to_dict("records")
            if record.get("model_version") is not None
        }
    )
    period = f"{first['start_date']:%Y-%m-%d}..{first['end_date']:%Y-%m-%d}"
    table = Table(
        title=f"backtest {first['backtest_id']}: {', '.join(models) or 'no model'}, {period}",
        box=None,
        pad_edge=False,
    )
    table.add_column("strategy", no_wrap=True)
    columns = [
        (name, fmt)
        for name, fmt in REPORT_COLUMNS
        if name in rows.columns and (only is None or name in only)
    ]
    for name, _ in columns:
        table.add_column(name, justify="right", no_wrap=True, min_width=len(name))
    for record in rows.to_dict("records"):
        table.add_row(str(record["strategy"]), *(_formatted(record[n], f) for n, f in columns))
    return table


@app.command()
def report(
    backtest_id: str | None = typer.Argument(
        None, help="The backtest to show (the `backtest_id` column); the latest one if omitted."
    ),
) -> None:
    """Print a backtest's metrics, one row per strategy, and the path of its HTML report."""
    # only the home matters: reading results needs no valid run settings
    settings = Settings(home=home_from_env())
    try:
        rows = backtest_rows(settings.warehouse_path, backtest_id)
    except NoSuchBacktest as exc:
        err_console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    table = backtest_table(rows)
    # piped or logged output keeps every column whole; a terminal gets its own width
    if console.is_terminal:
        console.print(table)
    else:
        natural = console.measure(table, options=console.options.update_width(10_000)).maximum
        Console(width=natural, soft_wrap=True).print(table)
    path = settings.reports_dir / f"backtest_{rows['backtest_id'].iloc[0]}.html"
    console.print(
        f"report: {path}"
        + ("" if path.exists() else " (missing: materialize `backtest` to write it)")
    )


@app.command()
def lineage(
    target: str = typer.Argument(
        ...,
        help="An asset key (fct_features), a model version (alphadag_ranker:3 or v3) or a "
        "backtest id (the backtest_id column of backtest_metrics).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the lineage as JSON for tools."),
) -> None:
    """Trace where a backtest, a model version or an asset came from, down to the raw
    partitions, with each step's materialization, data version and code version."""
    import json

    from orchestration.lineage import LineageError, open_home, render
    from orchestration.lineage import lineage as trace

    # Reads the home only: no run starts and nothing is written (not even dagster.yaml).
    with _settings_errors_in_one_line():
        settings = Settings.from_env()
    ignore_known_warnings()
    try:
        doc = trace(open_home(settings), target)
    except LineageError as exc:
        err_console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    if as_json:
        print(json.dumps(doc, indent=2, default=str))
    else:
        # wrapped within the tree's guides rather than cut at the terminal's edge
        Console().print(render(doc))


@app.command()
def gc(
    keep: int = typer.Option(KEEP_RUNS, help="Finished runs to keep, newest first."),
) -> None:
    """Delete old runs' event logs, compute logs and dbt artefacts; compact the databases.

    A run that holds the newest materialization of an asset partition is kept.
    """
    _collect_garbage(_load_settings(), keep)


def _collect_garbage(settings: Settings, keep: int) -> None:
    import dagster as dg

    from orchestration.retention import collect_garbage, compact_warehouse

    instance = dg.DagsterInstance.get()
    report = collect_garbage(instance, settings.dagster_home, settings.dbt_target_dir, keep)
    console.print(
        f"gc: deleted {report.deleted_runs} old run(s), kept {report.kept_runs} "
        f"({report.kept_for_partitions} for the newest materialization of a partition); "
        f"run history {report.bytes_before / 1e6:.0f} MB -> {report.bytes_after / 1e6:.0f} MB"
    )
    if compacted := compact_warehouse(instance, settings.warehouse_path):
        console.print(
            f"gc: warehouse compacted {compacted[0] / 1e6:.0f} MB -> {compacted[1] / 1e6:.0f} MB"
        )


@app.command()
def ui(
    port: int = typer.Option(3000, help="Port of the web server."),
    host: str = typer.Option(
        "127.0.0.1",
        help="Interface to listen on. The UI has no login and can launch runs: "
        "bind another interface (0.0.0.0) only on a network you trust.",
    ),
) -> None:
    """Start `dagster dev` with its instance under ALPHADAG_HOME (127.0.0.1 by default)."""
    _load_settings()
    from orchestration.project import ROOT

    _prepare()
    _recover()
    bin_dir = Path(sys.executable).parent
    # The code server and dbt are found on PATH, even when alphadag was started by its
    # full path without activating the environment.
    os.environ["PATH"] = f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"
    args = [
        str(bin_dir / "dagster"),
        "dev",
        "-w",
        str(ROOT / "workspace.yaml"),
        "-h",
        host,
        "-p",
        str(port),
    ]
    env = quiet_dagster_dev_env()
    # the run-failure alerts link to the run's page (unless the UI is reached elsewhere)
    env.setdefault("ALPHADAG_UI_URL", f"http://{host}:{port}")
    console.print(f"Dagster UI on http://{host}:{port} (DAGSTER_HOME={os.environ['DAGSTER_HOME']})")
    os.chdir(ROOT)
    os.execve(args[0], args, env)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
