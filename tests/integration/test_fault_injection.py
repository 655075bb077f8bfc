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
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest
from dagster._core.instance.ref import InstanceRef

ROOT = Path(__file__).resolve().parents[2]
N_KILLS = int(os.environ.get("ALPHADAG_FAULT_KILLS", "20"))
SEED = 20261129
ENV = {
    "ALPHADAG_UNIVERSE": "4",
    "ALPHADAG_START": "2023-01-02",
    "ALPHADAG_END": "2023-06-30",
}
# model_version and backtest_id are compared: the same data must give the same version
# and backtest, however many kills happened in between.
RESULTS = {
    "fct_features": ["symbol", "date"],
    "predictions": ["symbol", "date", "model_name", "model_version"],
    "model_metrics": ["model_name", "model_version"],
    "backtest_metrics": ["backtest_id", "strategy"],
}
POLL_SECONDS = 0.5


@dataclass
class Attempt:
    elapsed: float
    completed: bool
    returncode: int | None
    ended_steps: set[str] = field(default_factory=set)
    running_steps: set[str] = field(default_factory=set)


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ALPHADAG_", "DAGSTER_"))}
    return {**env, **ENV, "ALPHADAG_HOME": str(home)}


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
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "orchestration.cli", "run"],
            cwd=ROOT,
            env=_env(home),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        ended: set[str] = set()
        running: set[str] = set()
        while process.poll() is None:
            elapsed = time.monotonic() - started
            if elapsed > timeout:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                pytest.fail(f"`alphadag run` hung for {timeout:.0f}s (log: {log}):\n{_tail(log)}")
            if kill_at is not None and elapsed >= kill_at:
                ended, running = _steps(home, known)
                if after_step is None or after_step in ended:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
                    return Attempt(elapsed, False, None, ended, running)
            time.sleep(POLL_SECONDS)
    ended, running = _steps(home, known)
    return Attempt(time.monotonic() - started, True, process.returncode, ended, running)


def _tail(log: Path, lines: int = 15) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def _tables(home: Path) -> dict[str, pd.DataFrame]:
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        return {
            name: con.execute(f"select * exclude (created_at) from {name}").df()
            if "created_at" in con.execute(f"select * from {name} limit 0").df().columns
            else con.execute(f"select * from {name}").df()
            for name in RESULTS
        }


def _assert_no_duplicates(home: Path, tables: dict[str, pd.DataFrame]) -> None:
    for name, key in RESULTS.items():
        assert not tables[name].duplicated(key).any(), f"duplicate rows in {name}"
    from ingest.lake import read_bars

    bars = read_bars(home / "lake")
    assert not bars.duplicated(["symbol", "date"]).any(), "duplicate raw bars"
    leftovers = [p for p in home.rglob("*.tmp") if p.is_file()]
    assert not [p for p in leftovers if p.suffix == ".parquet"]


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
def test_kills_at_random_moments_never_wedge_the_home(tmp_path: Path) -> None:
    clean_home, home = tmp_path / "clean", tmp_path / "faults"
    clean = _attempt(clean_home, tmp_path / "clean.log", kill_at=None, after_step=None, timeout=900)
    assert clean.completed and clean.returncode == 0, _tail(tmp_path / "clean.log")
    expected = _tables(clean_home)
    full_run = clean.elapsed
    # The first run of a home also compiles and tunes: later attempts are faster, so a
    # hang shows as several times the clean run's time.
    timeout = 3 * full_run + 60

    rng = random.Random(SEED)
    kills, completions, previous_step = 0, 0, None
    history = []
    while kills < N_KILLS:
        kill_at = rng.uniform(1.0, full_run)
        log = tmp_path / f"attempt_{len(history):02d}.log"
        attempt = _attempt(home, log, kill_at=kill_at, after_step=previous_step, timeout=timeout)
        history.append((round(kill_at, 1), previous_step, attempt))
        if attempt.completed:
            assert attempt.returncode == 0, f"attempt failed after a kill:\n{_tail(log)}"
            completions += 1
            previous_step = None  # a new sweep through the stages
            continue
        kills += 1
        # The next attempt must get through the step this one was killed in.
        previous_step = min(attempt.running_steps) if attempt.running_steps else previous_step

    final = _attempt(home, tmp_path / "final.log", kill_at=None, after_step=None, timeout=timeout)
    assert final.completed and final.returncode == 0, _tail(tmp_path / "final.log")
    print(
        f"\n{kills} kills, {completions} completions between them; "
        f"clean run {full_run:.0f}s; killed in: "
        + ", ".join(sorted({s for _, _, a in history for s in a.running_steps}))
    )

    tables = _tables(home)
    _assert_no_duplicates(home, tables)
    for name, key in RESULTS.items():
        got = tables[name].sort_values(key, ignore_index=True)
        want = expected[name].sort_values(key, ignore_index=True)
        pd.testing.assert_frame_equal(got, want, check_exact=False, rtol=1e-9, obj=name)
    _assert_stores_open(home)
