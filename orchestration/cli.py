"""`alphadag`: build the whole graph from a shell, or open the Dagster UI on it."""

from __future__ import annotations

import math
import os
import sys
import time
import warnings
from pathlib import Path

import typer
from dagster import ExecuteInProcessResult
from rich.console import Console
from rich.table import Table

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
    dagster_home = Path(os.environ["DAGSTER_HOME"])
    dagster_home.mkdir(parents=True, exist_ok=True)
    if not (dagster_home / "dagster.yaml").exists():
        # renamed into place: a run starting at the same moment never reads half of it
        staged = dagster_home / f".dagster.yaml.{os.getpid()}.tmp"
        staged.write_text(DAGSTER_YAML)
        os.replace(staged, dagster_home / "dagster.yaml")
    return settings


def _recover() -> None:
    from orchestration.recovery import recover_at_startup

    if message := recover_at_startup():
        console.print(message)


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


@app.command()
def run() -> None:
    """Materialize the whole graph for the configured range and print the results."""
    settings = _load_settings()
    console.print(
        f"alphadag: source={settings.source} range={settings.start}..{settings.end} "
        f"universe={settings.describe_universe()} "
        f"home={settings.home}"
    )
    _prepare()
    _recover()

    import dagster as dg

    from orchestration.definitions import build_definitions
    from orchestration.errors import root_cause
    from orchestration.jobs import execute_build_everything

    defs = build_definitions(settings)
    console.print("building every daily partition and everything downstream, as one run")
    started = time.perf_counter()
    try:
        result = execute_build_everything(
            defs,
            dg.DagsterInstance.get(),
            run_config={"loggers": {"console": {"config": {"log_level": "INFO"}}}},
        )
    except ValueError as exc:
        err_console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    elapsed = time.perf_counter() - started
    if not result.success:
        for event in result.all_events:
            if event.is_step_failure and event.step_failure_data:
                cause = root_cause(event.step_failure_data.error)
                err_console.print(f"[red]failed:[/red] {event.step_key}: {cause}")
        console.print(f"run {result.run_id} failed after {elapsed:.0f}s; details: `alphadag ui`")
        raise typer.Exit(1)
    console.print(f"run {result.run_id} succeeded in {elapsed:.0f}s")
    _print_summary(settings, result)


def _print_summary(settings: Settings, result: ExecuteInProcessResult) -> None:
    from orchestration.warehouse import Warehouse

    (materialization,) = result.asset_materializations_for_node("backtest")
    backtest_id = materialization.metadata["backtest_id"].value
    row = (
        Warehouse(settings.warehouse_path)
        .query(
            """
        select b.*, m.ic, m.rank_ic, m.icir, m.oracle_ic
        from backtest_metrics b
        left join model_metrics m using (model_name, model_version)
        where b.backtest_id = ?
        """,
            [backtest_id],
        )
        .iloc[0]
    )
    period = f"{row['start_date']:%Y-%m-%d}..{row['end_date']:%Y-%m-%d}"
    table = Table(
        title=f"backtest {row['backtest_id']}: {row['strategy']}, "
        f"{row['model_name']} v{row['model_version']}, {period}"
    )
    table.add_column("metric")
    table.add_column("value", justify="right")
    for label, name, fmt in (
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
    ):
        value = float(row[name])
        table.add_row(label, fmt.format(value) if math.isfinite(value) else "n/a")
    console.print(table)
    console.print(f"report: {settings.reports_dir / ('backtest_' + row['backtest_id'] + '.html')}")


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
    console.print(f"Dagster UI on http://{host}:{port} (DAGSTER_HOME={os.environ['DAGSTER_HOME']})")
    os.chdir(ROOT)
    os.execv(args[0], args)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
