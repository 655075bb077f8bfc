"""Where the wall time of one `alphadag run` goes: `alphadag run --profile`.

The breakdown separates the work (each step's own compute, dbt's execution of the
models and tests) from what surrounds it (process start-up, loading the definitions,
creating and planning the run, writing events, starting dbt). Event writes are timed by
wrapping the event log storage of the instance the run uses, and attributed to the step
that emitted them; the step boundaries come from the run's own event log.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg

RUN_LEVEL = "(run)"


@dataclass
class EventWriteTimer:
    """Seconds spent storing events, and how many, per step: a write counts for the step
    that is running when it happens (RUN_LEVEL outside steps). Planned events name their
    step but are written while the run is planned."""

    seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    running: str | None = None

    def wrap(self, store: Callable[..., Any], events_of: Callable[[Any], list[Any]]) -> Callable:
        def timed(arg: Any) -> Any:
            events = events_of(arg)
            for event in events:
                if event.dagster_event_type == dg.DagsterEventType.STEP_START:
                    self.running = event.step_key
            step = self.running or RUN_LEVEL
            started = time.perf_counter()
            try:
                return store(arg)
            finally:
                self.seconds[step] += time.perf_counter() - started
                self.counts[step] += len(events)
                if any(event.dagster_event_type in _STEP_ENDS for event in events):
                    self.running = None

        return timed


_STEP_ENDS = {dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE}


@contextmanager
def timed_event_writes(instance: dg.DagsterInstance) -> Iterator[EventWriteTimer]:
    """Time every event the instance stores while the block runs."""
    storage = instance.event_log_storage
    timer = EventWriteTimer()
    storage.store_event = timer.wrap(storage.store_event, lambda event: [event])
    storage.store_event_batch = timer.wrap(storage.store_event_batch, list)
    try:
        yield timer
    finally:
        del storage.store_event, storage.store_event_batch


@dataclass
class StepProfile:
    step: str
    started: float  # epoch seconds
    wall: float
    compute: float
    event_writes: float
    events: int
    dbt_execution: float | None = None


@dataclass
class RunProfile:
    """One run's wall time, from the process start to the end of the run, in seconds."""

    run_id: str
    total: float
    startup: float
    dbt_parse: float
    definitions: float
    planning: float
    time_to_first_step: float
    steps: list[StepProfile]
    between_steps: float
    event_writes: float
    events: int

    @property
    def compute(self) -> float:
        return sum(step.compute for step in self.steps)

    @property
    def overhead_share(self) -> float:
        """The share of the wall time outside compute (the orchestration tax)."""
        return 1.0 - self.compute / self.total if self.total > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self) | {
            "compute": self.compute,
            "overhead_share": self.overhead_share,
        }

    def write(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=2))
        tmp.replace(path)
        return path


def _event_times(instance: dg.DagsterInstance, run_id: str) -> list[tuple[str, str | None, float]]:
    records = instance.get_records_for_run(run_id, of_type=_BOUNDARY_EVENTS).records
    return [
        (r.event_log_entry.dagster_event_type.value, r.event_log_entry.step_key, r.timestamp)
        for r in records
    ]


_BOUNDARY_EVENTS = {
    dg.DagsterEventType.RUN_START,
    dg.DagsterEventType.RUN_SUCCESS,
    dg.DagsterEventType.RUN_FAILURE,
    dg.DagsterEventType.STEP_START,
    dg.DagsterEventType.STEP_SUCCESS,
    dg.DagsterEventType.STEP_FAILURE,
}


@dataclass
class Marks:
    """Epoch seconds of the phases before the run, taken by the caller."""

    process_start: float
    cli_ready: float
    dbt_parsed: float
    definitions_loaded: float


def dbt_execution_seconds(target_dir: Path, run_id: str) -> dict[str, float]:
    """Seconds dbt reported for executing its nodes (run_results.json's elapsed_time,
    without its start-up and parse), per dbt step of the run."""
    found = {}
    for results in target_dir.glob(f"*-{run_id[:7]}-*/run_results.json"):
        step = results.parent.name.rsplit("-", 2)[0]
        found[step] = float(json.loads(results.read_text())["elapsed_time"])
    return found


def profile_run(
    instance: dg.DagsterInstance,
    run_id: str,
    *,
    marks: Marks,
    writes: EventWriteTimer,
    dbt_execution: dict[str, float],
) -> RunProfile:
    """Assemble the breakdown of a finished run.

    `dbt_execution` maps a step key to the seconds dbt itself reported for its models
    and tests (its start-up and Dagster's handling of its events count as overhead). Any
    other step's compute is its wall time less the event writes it made.
    """
    times = _event_times(instance, run_id)
    run_start = next(t for kind, _, t in times if kind == "PIPELINE_START")
    run_end = max(t for kind, _, t in times if kind in ("PIPELINE_SUCCESS", "PIPELINE_FAILURE"))
    starts = {step: t for kind, step, t in times if kind == "STEP_START"}
    ends = {step: t for kind, step, t in times if kind in ("STEP_SUCCESS", "STEP_FAILURE")}
    steps = []
    for step, started in sorted(starts.items(), key=lambda item: item[1]):
        wall = ends.get(step, run_end) - started
        own_writes = writes.seconds.get(step, 0.0)
        dbt = dbt_execution.get(step)
        compute = dbt if dbt is not None else max(wall - own_writes, 0.0)
        steps.append(
            StepProfile(
                step=step,
                started=started,
                wall=wall,
                compute=min(compute, wall),
                event_writes=own_writes,
                events=writes.counts.get(step, 0),
                dbt_execution=dbt,
            )
        )
    first_step = min(starts.values(), default=run_end)
    return RunProfile(
        run_id=run_id,
        total=run_end - marks.process_start,
        startup=marks.cli_ready - marks.process_start,
        dbt_parse=marks.dbt_parsed - marks.cli_ready,
        definitions=marks.definitions_loaded - marks.dbt_parsed,
        planning=run_start - marks.definitions_loaded,
        time_to_first_step=first_step - marks.process_start,
        steps=steps,
        between_steps=(run_end - run_start) - sum(step.wall for step in steps),
        event_writes=sum(writes.seconds.values()),
        events=sum(writes.counts.values()),
    )


def profile_table(profile: RunProfile) -> Any:
    """The breakdown as a rich table: one row per phase and per step."""
    from rich.table import Table

    table = Table(title=f"run {profile.run_id}: where {profile.total:.1f}s went")
    for column in ("phase", "wall s", "compute s", "event writes s", "events"):
        table.add_column(column, justify="left" if column == "phase" else "right")
    for label, seconds in (
        ("process start-up, imports, settings", profile.startup),
        ("dbt manifest, recovery", profile.dbt_parse),
        ("definitions load", profile.definitions),
        ("run creation and planning", profile.planning),
    ):
        table.add_row(label, f"{seconds:.1f}", "", "", "")
    for step in profile.steps:
        label = step.step
        if step.dbt_execution is not None:
            label += f" (dbt executing: {step.dbt_execution:.1f}s)"
        table.add_row(
            label,
            f"{step.wall:.1f}",
            f"{step.compute:.1f}",
            f"{step.event_writes:.1f}",
            str(step.events),
        )
    table.add_row("between steps", f"{profile.between_steps:.1f}", "", "", "")
    table.add_section()
    table.add_row(
        f"total (first step after {profile.time_to_first_step:.1f}s)",
        f"{profile.total:.1f}",
        f"{profile.compute:.1f}",
        f"{profile.event_writes:.1f}",
        str(profile.events),
    )
    table.caption = f"outside compute: {profile.overhead_share:.0%} of the wall time"
    return table
