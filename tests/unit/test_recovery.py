"""Start-up recovery on a real Dagster instance: a run killed while it holds a pool slot."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import dagster as dg
import pytest

from orchestration.recovery import recover_orphaned_runs

# A job whose op holds a slot of the `warehouse` pool (limit 1) until it is killed.
JOB = textwrap.dedent(
    """
    import sys, time
    import dagster as dg

    @dg.op(pool="warehouse")
    def hold(context):
        print(context.run_id, flush=True)
        time.sleep(600)

    @dg.job
    def holder():
        hold()

    with dg.DagsterInstance.get() as instance:
        holder.execute_in_process(instance=instance)
    """
)


@pytest.fixture
def instance(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("concurrency:\n  pools:\n    default_limit: 1\n")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with dg.DagsterInstance.get() as instance:
        yield instance


def _killed_holder() -> str:
    """Start the holder job in another process, kill it with SIGKILL once it holds the
    slot, and return its run id."""
    process = subprocess.Popen(
        [sys.executable, "-c", JOB], stdout=subprocess.PIPE, text=True, env=os.environ.copy()
    )
    assert process.stdout is not None
    run_id = process.stdout.readline().strip()
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    return run_id


def test_killed_run_is_failed_and_its_slot_freed(instance: dg.DagsterInstance) -> None:
    run_id = _killed_holder()
    assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.STARTED
    assert instance.event_log_storage.get_concurrency_run_ids() == {run_id}

    recovery = recover_orphaned_runs(instance)

    assert recovery.failed_runs == [run_id]
    assert recovery.freed_runs == [run_id]
    assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.FAILURE
    assert instance.event_log_storage.get_concurrency_run_ids() == set()
    # Nothing left to do: a second pass changes nothing.
    assert recover_orphaned_runs(instance).describe() == ""

    @dg.op(pool="warehouse")
    def write() -> int:
        return 1

    @dg.job
    def writer() -> None:
        write()

    # Without recovery this step would wait forever on the dead run's slot.
    assert writer.execute_in_process(instance=instance).success


def test_a_living_run_is_left_alone(instance: dg.DagsterInstance) -> None:
    process = subprocess.Popen(
        [sys.executable, "-c", JOB], stdout=subprocess.PIPE, text=True, env=os.environ.copy()
    )
    try:
        assert process.stdout is not None
        run_id = process.stdout.readline().strip()
        recovery = recover_orphaned_runs(instance)
        assert recovery.failed_runs == [] and recovery.freed_runs == []
        assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.STARTED
    finally:
        process.kill()
        process.wait()
