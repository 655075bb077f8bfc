"""`alphadag run` killed with SIGKILL at 20 random moments: no kill wedges the home, and
the results end equal to those of a clean run.

The kills sweep through the stages. Each attempt runs in the home the previous attempt
was killed in, and is itself killed at its own random moment, but only once it has
finished the step the previous attempt was killed in: so every kill is followed by a
run that proves the home is not wedged at that point (a run waiting forever on a dead
run's pool slot, a lock, a half-written file or a half-registered model would time out
there). When an attempt completes, the next sweep starts from the first stage again.
At the end one more run goes to completion, and its results tables must equal those
of a clean run in another home, with no duplicate rows, and every store must open.

The whole process group is killed (as a power cut or the OOM killer would), so dbt's
subprocess dies with the run. The attempts are observed through the Dagster instance
of the home (which steps ended), not through the CLI's output.
"""

from __future__ import annotations

import os
import random
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
import pytest
from cli_runs import assert_same_results, results, start_run, tail
from dagster._core.instance.ref import InstanceRef

N_KILLS = int(os.environ.get("ALPHADAG_FAULT_KILLS", "20"))
SEED = 20261129
POLL_SECONDS = 0.5


@dataclass
class Attempt:
    elapsed: float
    completed: bool
    returncode: int | None
    ended_steps: set[str] = field(default_factory=set)
    running_steps: set[str] = field(default_factory=set)


def _instance(home: Path) -> dg.DagsterInstance | None:
    dagster_home = home / "dagster_home"
    if not (dagster_home / "dagster.yaml").exists():
        return None
    return dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(dagster_home)))


def _steps(home: Path, known_runs: set[str]) -> tuple[set[str], set[str]]:
    """Steps ended and steps running in the newest run not in ``known_runs``."""
    instance = _instance(home)
    if instance is None:
        return set(), set()
    with instance:
        runs = [r for r in instance.get_runs(limit=3) if r.run_id not in known_runs]
        if not runs:
            return set(), set()
        stats = instance.get_run_step_stats(runs[0].run_id)
    ended = {s.step_key for s in stats if s.end_time is not None}
    return ended, {s.step_key for s in stats if s.end_time is None}


def _run_ids(home: Path) -> set[str]:
    instance = _instance(home)
    if instance is None:
        return set()
    with instance:
        return {r.run_id for r in instance.get_runs()}


def _attempt(
    home: Path, log: Path, *, kill_at: float | None, after_step: str | None, timeout: float
) -> Attempt:
    """Run `alphadag run`; kill it at ``kill_at`` seconds, but not before ``after_step``
    has ended in it. Fails the test if it does not end (or reach the kill) in time."""
    known = _run_ids(home)
    started = time.monotonic()
    process = start_run(home, log)
    while process.poll() is None:
        elapsed = time.monotonic() - started
        if elapsed > timeout:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            pytest.fail(f"`alphadag run` hung for {timeout:.0f}s (log: {log}):\n{tail(log)}")
        if kill_at is not None and elapsed >= kill_at:
            ended, running = _steps(home, known)
            if after_step is None or after_step in ended:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                return Attempt(elapsed, False, None, ended, running)
        time.sleep(POLL_SECONDS)
    ended, running = _steps(home, known)
    return Attempt(time.monotonic() - started, True, process.returncode, ended, running)


def _assert_lake_clean(home: Path) -> None:
    from ingest.lake import read_bars

    assert not read_bars(home / "lake").duplicated(["symbol", "date"]).any(), "duplicate bars"


def _assert_stores_open(home: Path) -> None:
    import optuna
    from mlflow import MlflowClient

    from feature_repo.store import open_store

    client = MlflowClient(tracking_uri=f"sqlite:///{home / 'mlflow' / 'mlflow.db'}")
    versions = client.search_model_versions()
    assert versions and all(v.tags.get("registration") == "complete" for v in versions)
    storage = f"sqlite:///{home / 'optuna.db'}"
    for name in optuna.get_all_study_names(storage):
        study = optuna.load_study(study_name=name, storage=storage)
        running = study.get_trials(states=(optuna.trial.TrialState.RUNNING,))
        assert not running, f"trials left RUNNING in {name}"
    assert open_store(home).list_feature_services()


@pytest.mark.slow
def test_kills_at_random_moments_never_wedge_the_home(tmp_path: Path, clean_run) -> None:
    home = tmp_path / "home"
    # The first run of a home also compiles and tunes: later attempts are faster, so a
    # hang shows as several times the clean run's time.
    full_run = clean_run.seconds
    timeout = 3 * full_run + 60

    rng = random.Random(SEED)
    kills, completions, previous_step = 0, 0, None
    killed_in: list[str] = []
    # Kill moments are drawn over the length of a run in this home: the clean run's at
    # first, then the last completed attempt's (a rerun reuses the model and is shorter;
    # a moment past its end would only complete it).
    span = full_run
    while kills < N_KILLS:
        kill_at = rng.uniform(1.0, span)
        log = tmp_path / f"attempt_{kills + completions:02d}.log"
        attempt = _attempt(home, log, kill_at=kill_at, after_step=previous_step, timeout=timeout)
        if attempt.completed:
            assert attempt.returncode == 0, f"attempt failed after a kill:\n{tail(log)}"
            completions += 1
            span = attempt.elapsed
            previous_step = None  # a new sweep through the stages
            continue
        kills += 1
        running = sorted(attempt.running_steps)
        killed_in.append(running[0] if running else "between steps")
        # The next attempt must get through the step this one was killed in.
        previous_step = running[0] if running else previous_step

    final = _attempt(home, tmp_path / "final.log", kill_at=None, after_step=None, timeout=timeout)
    assert final.completed and final.returncode == 0, tail(tmp_path / "final.log")
    print(
        f"\n{kills} kills survived, {completions} completed runs between them, clean run "
        f"{full_run:.0f}s; killed in: {', '.join(killed_in)}"
    )
    assert_same_results(results(home), clean_run.results)
    _assert_lake_clean(home)
    _assert_stores_open(home)
