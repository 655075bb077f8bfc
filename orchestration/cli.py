"""`alphadag`: build the whole graph from a shell, or open the Dagster UI on it."""

from __future__ import annotations

import math
import os
import sys
import time
import warnings
from pathlib import Path

import typer
from dagster import DagsterInstance, ExecuteInProcessResult
from rich.console import Console
from rich.table import Table

from orchestration.event_log import EVENT_BATCH_SIZE
from orchestration.profiling import EventWriteTimer, Marks
from orchestration.settings import Settings, SettingsError

# Library notices (beta flags, a deprecated optional sqlglot extension) are not the
# user's business on the command line.
warnings.filterwarnings("ignore", message=".*is currently in beta.*")
warnings.filterwarnings("ignore", message=r".*sqlglot\[rs\].*")

app = typer.Typer(
    help="alphadag: a lineage-tracked research pipeline for systematic trading.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)

DAGSTER_YAML = """\
# Written by `alphadag`; edit freely (it is only written when missing).
telemetry:
  enabled: false
concurrency:
  pools:
    # DuckDB admits one writer at a time: assets tagged with the `warehouse` pool
    # (and every other pool) run one at a time.
    default_limit: 1
# Dagster's SQLite event log, writing each batch of asset events (a range run's
# per-day materializations) in one transaction: orchestration/event_log.py.
event_log_storage:
  module: orchestration.event_log
  class: BatchingSqliteEventLogStorage
  config:
    base_dir: {runs_dir}
"""


def _load_settings() -> Settings:
    """Settings from the environment, with a one-line error instead of a traceback."""
    try:
        settings = Settings.from_env()
        settings.ensure_home()
    except SettingsError as exc:
        err_console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
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
    # an instance written by an earlier alphadag without the batching event log gets it
    if not instance_yaml.exists() or (
        instance_yaml.read_text().startswith("# Written by `alphadag`")
        and "event_log_storage" not in instance_yaml.read_text()
    ):
        instance_yaml.write_text(DAGSTER_YAML.format(runs_dir=dagster_home / "history" / "runs"))
    return settings


def _prepare() -> None:
    from orchestration.project import prepare_dbt_manifest

    started = time.perf_counter()
    path = prepare_dbt_manifest()
    console.print(f"dbt manifest ready: {path} ({time.perf_counter() - started:.1f}s)")


@app.command()
def prepare() -> None:
    """Parse the dbt project into its manifest (done by `run` and `ui` as well)."""
    # The parse is made for the configured home: dbt's partial parsing, which every run
    # reuses, holds only while the profile (the warehouse path) stays the same.
    _load_settings()
    _prepare()


PROFILE_OPTION = typer.Option(
    False,
    "--profile",
    help="Print where the wall time went (start-up, planning, each step's compute, "
    "event writes, dbt) and write it to $ALPHADAG_HOME/profiles/<run id>.json.",
)


@app.command()
def run(profile: bool = PROFILE_OPTION) -> None:
    """Materialize the whole graph for the configured range and print the results."""
    from orchestration.jobs import BUILD_JOB_NAME

    settings, result = _execute(
        BUILD_JOB_NAME,
        "building every daily partition and everything downstream, as one run",
        profile=profile,
    )
    _print_summary(settings, result)


@app.command()
def refresh(
    days: int = typer.Option(1, min=1, help="How many of the newest business days to ingest."),
    profile: bool = PROFILE_OPTION,
) -> None:
    """Ingest the newest business day(s) of the range and update their features and the
    online feature store, without retraining (the `daily_refresh` job)."""
    from orchestration.jobs import REFRESH_JOB_NAME

    _execute(
        REFRESH_JOB_NAME,
        f"refreshing the {days} newest business day(s): bars, features, online store",
        last_days=days,
        profile=profile,
    )


def _execute(
    job_name: str, announcement: str, *, last_days: int | None = None, profile: bool
) -> tuple[Settings, ExecuteInProcessResult]:
    """Run one job of the graph in this process, report failures in one line per step,
    and print the run's profile when asked."""
    settings = _load_settings()
    cli_ready = time.time()
    console.print(
        f"alphadag: source={settings.source} range={settings.start}..{settings.end} "
        f"universe={settings.describe_universe()} "
        f"home={settings.home}"
    )
    _prepare()
    dbt_parsed = time.time()

    import dagster as dg

    from orchestration.definitions import build_definitions
    from orchestration.jobs import execute_over_days
    from orchestration.profiling import timed_event_writes

    defs = build_definitions(settings)
    definitions_loaded = time.time()
    console.print(announcement)
    started = time.perf_counter()
    instance = dg.DagsterInstance.get()
    try:
        with timed_event_writes(instance) as writes:
            result = execute_over_days(
                defs,
                instance,
                job_name,
                last_days=last_days,
                run_config={"loggers": {"console": {"config": {"log_level": "INFO"}}}},
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
                message = event.step_failure_data.error.message.strip().splitlines()
                err_console.print(
                    f"[red]failed:[/red] {event.step_key}: {message[-1] if message else ''}"
                )
        console.print(f"run {result.run_id} failed after {elapsed:.0f}s; details: `alphadag ui`")
        raise typer.Exit(1)
    console.print(f"run {result.run_id} succeeded in {elapsed:.0f}s")
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
    from orchestration.project import DBT_PROJECT

    profile = profile_run(
        instance,
        run_id,
        marks=marks,
        writes=writes,
        dbt_execution=dbt_execution_seconds(
            DBT_PROJECT.project_dir / DBT_PROJECT.target_path, run_id
        ),
    )
    console.print(profile_table(profile))
    path = profile.write(settings.home / "profiles" / f"{run_id}.json")
    console.print(f"profile: {path}")


BACKTEST_ROWS = (
    ("Sharpe", "sharpe", "{:.2f}"),
    ("CAGR", "cagr", "{:.2%}"),
    ("Max drawdown", "max_drawdown", "{:.2%}"),
    ("Volatility", "volatility", "{:.2%}"),
    ("Turnover (annual)", "turnover", "{:.1f}"),
    ("Deflated Sharpe (prob.)", "deflated_sharpe", "{:.2f}"),
    ("IC", "ic", "{:.4f}"),
    ("Rank IC", "rank_ic", "{:.4f}"),
    ("ICIR", "icir", "{:.3f}"),
    ("Oracle IC (simulator)", "oracle_ic", "{:.4f}"),
    ("Benchmark Sharpe", "benchmark_sharpe", "{:.2f}"),
)
ZOO_COLUMNS = ("cv_rank_ic", "test_ic", "test_rank_ic", "icir", "hac_t", "oracle_share")


def _formatted(value: object, fmt: str) -> str:
    number = float(value) if value is not None else math.nan
    return fmt.format(number) if math.isfinite(number) else "n/a"


def summary_tables(warehouse_path: Path, backtest_id: str, zoo_version: str) -> list[Table]:
    """The run's summary from the warehouse: the backtest of the champion (with its
    out-of-sample skill from `model_metrics`) and the model zoo of version
    ``zoo_version`` (every candidate on the same test rows)."""
    from ml.training import LEARNED
    from ml.zoo import BASELINES
    from orchestration.warehouse import Warehouse

    warehouse = Warehouse(warehouse_path)
    row = warehouse.query(
        """
        select b.*, m.ic, m.rank_ic, m.icir, m.oracle_ic
        from backtest_metrics b
        left join model_metrics m using (model_name, model_version)
        where b.backtest_id = ?
        """,
        [backtest_id],
    ).iloc[0]
    period = f"{row['start_date']:%Y-%m-%d}..{row['end_date']:%Y-%m-%d}"
    backtest = Table(
        title=f"backtest {row['backtest_id']}: {row['strategy']}, "
        f"{row['model_name']} v{row['model_version']}, {period}"
    )
    backtest.add_column("metric")
    backtest.add_column("value", justify="right")
    for label, name, fmt in BACKTEST_ROWS:
        backtest.add_row(label, _formatted(row[name], fmt))

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
    return [backtest, candidates]


def _print_summary(settings: Settings, result: ExecuteInProcessResult) -> None:
    (backtest,) = result.asset_materializations_for_node("backtest")
    (zoo,) = result.asset_materializations_for_node("model_zoo")
    backtest_id = str(backtest.metadata["backtest_id"].value)
    for table in summary_tables(
        settings.warehouse_path, backtest_id, str(zoo.metadata["model_version"].value)
    ):
        console.print(table)
    console.print(f"report: {settings.reports_dir / ('backtest_' + backtest_id + '.html')}")


@app.command()
def ui(
    port: int = typer.Option(3000, help="Port of the web server (127.0.0.1 only)."),
) -> None:
    """Start `dagster dev` on 127.0.0.1 with its instance under ALPHADAG_HOME."""
    _load_settings()
    from orchestration.project import ROOT

    _prepare()
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
        "127.0.0.1",
        "-p",
        str(port),
    ]
    console.print(
        f"Dagster UI on http://127.0.0.1:{port} (DAGSTER_HOME={os.environ['DAGSTER_HOME']})"
    )
    os.chdir(ROOT)
    os.execv(args[0], args)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
