"""Start-up recovery: runs whose process died are marked failed and their slots freed.

A run killed with SIGKILL (or lost in a reboot) never writes its failure event: the
instance keeps it STARTED, and the concurrency slots it claimed (the `warehouse` pool
admits one step at a time) stay claimed, so every later run waits on them forever.
`alphadag run` and `alphadag ui` call :func:`recover_orphaned_runs` before they start
anything.

A run's process is known without any bookkeeping of ours: every Dagster event records
the pid of the process that wrote it. An unfinished run is orphaned when none of the
processes behind its latest events is alive, where "alive" also requires that the
process started before the event was written (after a reboot the pid may belong to an
unrelated process). A run that has written no event yet (just launched) is left alone.

QUEUED runs hold no slot and belong to the queue of `dagster dev`'s daemon, which
launches them when the UI runs again, so they are left alone too.

Pids are only meaningful on this machine, so recovery is limited to the default
instance on local SQLite storage; an instance shared between machines (PostgreSQL)
should use Dagster's run monitoring instead.
"""

from __future__ import annotations

import fcntl
import os
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import psutil
from dagster._core.storage.dagster_run import FINISHED_STATUSES
from dagster._core.storage.runs.sqlite.sqlite_run_storage import SqliteRunStorage

UNFINISHED_STATUSES = [
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]
# Enough recent events to see the run worker and any step processes it started.
_EVENTS_INSPECTED = 50
# A process's start time and an event's timestamp come from different clocks reads.
_CLOCK_TOLERANCE_SECONDS = 2.0


@dataclass(frozen=True)
class Recovery:
    """What start-up recovery did: the runs it marked failed, the runs whose slots it freed."""

    failed_runs: list[str]
    freed_runs: list[str]

    def describe(self) -> str:
        if not self.failed_runs and not self.freed_runs:
            return ""
        return (
            f"recovered {len(self.failed_runs)} run(s) whose process was gone "
            f"(marked failed) and freed the concurrency slots of {len(self.freed_runs)} run(s)"
        )


def recover_orphaned_runs(instance: dg.DagsterInstance) -> Recovery:
    """Mark this machine's orphaned runs failed and free the slots of finished runs."""
    if not isinstance(instance.run_storage, SqliteRunStorage):
        return Recovery([], [])
    failed = []
    for run in instance.get_runs(filters=dg.RunsFilter(statuses=UNFINISHED_STATUSES)):
        pids = _event_pids(instance, run.run_id)
        if pids and not any(_alive(pid, since) for pid, since in pids.items()):
            shown = ", ".join(str(pid) for pid in sorted(pids))
            instance.report_run_failed(
                run,
                message=f"the process of this run ({shown}) is gone (killed or the machine "
                "stopped); marked failed at start-up so its concurrency slots are freed",
            )
            failed.append(run.run_id)
    return Recovery(failed, free_slots_of_finished_runs(instance))


def free_slots_of_finished_runs(instance: dg.DagsterInstance) -> list[str]:
    """Free the slots still claimed by runs that have finished or no longer exist."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return []
    holders = storage.get_concurrency_run_ids()
    if not holders:
        return []
    live = {
        run.run_id
        for run in instance.get_runs(filters=dg.RunsFilter(run_ids=list(holders)))
        if run.status not in FINISHED_STATUSES
    }
    freed = sorted(holders - live)
    for run_id in freed:
        storage.free_concurrency_slots_for_run(run_id)
    return freed


def _event_pids(instance: dg.DagsterInstance, run_id: str) -> dict[int, float]:
    """The pids behind the run's latest events, each with the earliest time it wrote one."""
    records = instance.event_log_storage.get_records_for_run(
        run_id, limit=_EVENTS_INSPECTED, ascending=False
    ).records
    pids: dict[int, float] = {}
    for record in records:
        event = record.event_log_entry.dagster_event
        if event is not None and event.pid is not None:
            written = record.event_log_entry.timestamp
            pids[event.pid] = min(written, pids.get(event.pid, written))
    return pids


def _alive(pid: int, seen_at: float) -> bool:
    """Whether ``pid`` is a living process that already existed at ``seen_at``."""
    try:
        process = psutil.Process(pid)
        return (
            process.status() != psutil.STATUS_ZOMBIE
            and process.create_time() <= seen_at + _CLOCK_TOLERANCE_SECONDS
        )
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        # AccessDenied: someone else's process holding a recycled pid
        return False


def recover_at_startup() -> str:
    """Recover the runs of the instance under ``DAGSTER_HOME``; a line saying what was done
    (empty when nothing was).

    Processes starting together take turns here: the first to open a new home's instance
    creates its SQLite databases, and Dagster's creation is not safe against another
    process doing the same at that moment (each stamps its own schema version).
    """
    lock_path = Path(os.environ["DAGSTER_HOME"]) / ".startup.lock"
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, or the process dies
        with dg.DagsterInstance.get() as instance:
            return recover_orphaned_runs(instance).describe()
