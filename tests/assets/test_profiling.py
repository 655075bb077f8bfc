"""`alphadag run --profile`: where a run's wall time went, from a real run's event log."""

import json
import time
from pathlib import Path

import dagster as dg

from orchestration.profiling import (
    RUN_LEVEL,
    Marks,
    dbt_execution_seconds,
    profile_run,
    profile_table,
    timed_event_writes,
)


@dg.asset
def slow() -> None:
    time.sleep(0.3)


@dg.asset(deps=[slow])
def chatty(context: dg.AssetExecutionContext) -> None:
    for n in range(20):
        context.log.info(f"line {n}")
    time.sleep(0.1)  # longer than the dbt time the test records for it


def test_a_runs_profile_splits_compute_from_event_writes(tmp_path: Path) -> None:
    process_start = time.time()
    with dg.DagsterInstance.ephemeral() as instance:
        job = dg.Definitions(assets=[slow, chatty]).resolve_implicit_global_asset_job_def()
        loaded = time.time()
        with timed_event_writes(instance) as writes:
            result = job.execute_in_process(instance=instance)
        assert result.success
        dbt_dir = tmp_path / "target" / f"chatty-{result.run_id[:7]}-abc1234"
        dbt_dir.mkdir(parents=True)
        (dbt_dir / "run_results.json").write_text(json.dumps({"elapsed_time": 0.05}))
        profile = profile_run(
            instance,
            result.run_id,
            marks=Marks(process_start, process_start, process_start, loaded),
            writes=writes,
            dbt_execution=dbt_execution_seconds(tmp_path / "target", result.run_id),
        )
    steps = {step.step: step for step in profile.steps}
    assert list(steps) == ["slow", "chatty"]
    assert steps["slow"].compute > 0.2  # its 0.3 s sleep, less the events it wrote
    assert steps["chatty"].dbt_execution == 0.05
    assert steps["chatty"].compute == 0.05
    assert steps["chatty"].events >= 20  # its log lines are events of its own
    # planning writes (the run's planned events) are not charged to the steps
    assert writes.counts[RUN_LEVEL] > 0
    assert 0.0 < profile.overhead_share < 1.0
    assert profile.time_to_first_step <= profile.total
    assert abs(profile.compute - sum(step.compute for step in profile.steps)) < 1e-9
    profile.write(tmp_path / "profile.json")
    assert json.loads((tmp_path / "profile.json").read_text())["run_id"] == result.run_id
    assert profile_table(profile).caption.startswith("outside compute")
