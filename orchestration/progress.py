"""Concise progress lines for `alphadag run`, at least one every HEARTBEAT_SECONDS.

Dagster's console logger prints every engine event (thousands for a run over many
partitions) and still falls silent for minutes inside a long step. This module is a
Dagster logger that turns the run's events into a few lines instead: each stage's start
and finish with its time, the dbt models done out of the step's total, the assets' own
log messages (the Optuna trials among them), and a heartbeat naming the stage still
running when nothing else was printed for a while. `alphadag run --verbose` uses
Dagster's console logger instead.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import dagster as dg
from rich.console import Console

from orchestration.quiet import library_output_to

PROGRESS_LOGGER = "progress"
HEARTBEAT_SECONDS = 10.0


def format_elapsed(seconds: float) -> str:
    """1m20s, 45s, 1h02m."""
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


class ProgressReporter:
    """Prints timed lines through `emit` and a heartbeat when it has been quiet.

    `assets_per_step` is how many assets each step (op) materializes, so that a step with
    many (the dbt models) reports "n of m" as they complete.
    """

    def __init__(
        self,
        emit: Callable[[str], None],
        assets_per_step: Mapping[str, int] | None = None,
        heartbeat_seconds: float = HEARTBEAT_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._emit = emit
        self._assets_per_step = dict(assets_per_step or {})
        self._heartbeat_seconds = heartbeat_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._started = clock()
        self._last_line = self._started
        self._step_started: dict[str, float] = {}
        self._materialized: dict[str, set[str]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- lines -----------------------------------------------------------------
    def line(self, text: str) -> None:
        with self._lock:
            now = self._clock()
            self._last_line = now
            self._emit(f"[{format_elapsed(now - self._started):>6}] {text}")

    def heartbeat(self) -> None:
        """Print "still running ..." if nothing was printed for the heartbeat interval."""
        now = self._clock()
        if now - self._last_line < self._heartbeat_seconds:
            return
        if self._step_started:
            step, since = min(self._step_started.items(), key=lambda item: item[1])
            self.line(f"still running {step}, {format_elapsed(now - since)}")
        else:
            self.line("still running: planning the run")

    # -- Dagster events ----------------------------------------------------------
    def on_record(self, record: logging.LogRecord) -> None:
        meta = getattr(record, "dagster_meta", None) or {}
        event = meta.get("dagster_event")
        step = meta.get("step_key") or ""
        if event is None:
            if record.levelno >= logging.INFO and step:
                self.line(f"{step}: {meta.get('orig_message', record.getMessage())}")
            return
        kind = event.event_type
        if kind == dg.DagsterEventType.STEP_START:
            self.step_started(step)
        elif kind == dg.DagsterEventType.STEP_SUCCESS:
            self.step_ended(step, "finished in")
        elif kind == dg.DagsterEventType.STEP_FAILURE:
            self.step_ended(step, "failed after")
        elif kind == dg.DagsterEventType.STEP_SKIPPED:
            self.line(f"{step} skipped (an upstream step failed)")
        elif kind == dg.DagsterEventType.ASSET_MATERIALIZATION:
            self._count_asset(step, event.asset_key)

    def step_started(self, step: str) -> None:
        self._step_started[step] = self._clock()
        self._materialized[step] = set()
        self.line(f"{step} started")

    def step_ended(self, step: str, outcome: str) -> None:
        self._materialized.pop(step, None)
        started = self._step_started.pop(step, None)
        took = format_elapsed(self._clock() - started) if started is not None else "?"
        self.line(f"{step} {outcome} {took}")

    def _count_asset(self, step: str, asset_key: dg.AssetKey | None) -> None:
        total = self._assets_per_step.get(step.split("[")[0], 0)
        done = self._materialized.setdefault(step, set())
        if total < 2 or asset_key is None or asset_key.to_user_string() in done:
            return
        done.add(asset_key.to_user_string())
        self.line(f"{step}: {len(done)} of {total} ({asset_key.to_user_string()})")

    # -- lifetime ----------------------------------------------------------------
    @contextlib.contextmanager
    def running(self) -> Iterator[ProgressReporter]:
        """Run the heartbeat thread for the duration of the block."""

        def beat() -> None:
            while not self._stop.wait(1.0):
                self.heartbeat()

        self._thread = threading.Thread(target=beat, name="alphadag-progress", daemon=True)
        self._thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            self._thread.join()


class _ReporterHandler(logging.Handler):
    def __init__(self, reporter: ProgressReporter) -> None:
        super().__init__(level=logging.DEBUG)
        self._reporter = reporter

    def emit(self, record: logging.LogRecord) -> None:
        self._reporter.on_record(record)


def progress_logger(reporter: ProgressReporter) -> dg.LoggerDefinition:
    """A Dagster logger that feeds the run's events to `reporter` (in-process runs only:
    the reporter lives in the process that started the run)."""

    @dg.logger(description="Concise progress lines on the command line.")
    def progress(_init_context: dg.InitLoggerContext) -> logging.Logger:
        log = logging.Logger(PROGRESS_LOGGER, level=logging.DEBUG)
        log.addHandler(_ReporterHandler(reporter))
        return log

    return progress


def assets_per_step(defs: dg.Definitions) -> dict[str, int]:
    """How many assets each op of the definitions materializes."""
    counts: dict[str, int] = {}
    for assets_def in defs.resolve_asset_graph().assets_defs:
        if assets_def.is_executable and assets_def.node_def is not None:
            counts[assets_def.node_def.name] = len(assets_def.keys)
    return counts


@contextlib.contextmanager
def reporting(
    defs: dg.Definitions, *, verbose: bool, library_output: Path, announcement: str
) -> Iterator[tuple[dg.Definitions, dict[str, Any]]]:
    """The definitions and run config of a command-line run that reports its progress, for
    the duration of the block: concise lines and a heartbeat, with what the libraries print
    sent to `library_output`; with `verbose`, Dagster's console log and everything printed.
    """
    # bound to the terminal before library output is redirected
    reporter = ProgressReporter(
        Console(file=sys.stdout, soft_wrap=True).print, assets_per_step(defs)
    )
    if verbose:
        run_config: dict[str, Any] = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}
        output: contextlib.AbstractContextManager[None] = contextlib.nullcontext()
    else:
        defs = dg.Definitions.merge(
            defs, dg.Definitions(loggers={"progress": progress_logger(reporter)})
        )
        run_config = {"loggers": {"progress": {}}}
        output = library_output_to(library_output)
    reporter.line(announcement)
    with reporter.running(), output:
        yield defs, run_config
