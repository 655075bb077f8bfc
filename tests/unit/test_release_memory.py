"""Every job releases a step's memory as the step ends (orchestration/memory.py)."""

from __future__ import annotations

import gc
import weakref

import dagster as dg

from orchestration.memory import RELEASE_MEMORY_HOOKS


class _Cycle:
    def __init__(self) -> None:
        self.itself = self
        self.payload = bytearray(10_000_000)


def test_a_step_s_reference_cycles_are_gone_when_the_next_step_starts() -> None:
    seen: dict[str, weakref.ref] = {}

    @dg.asset
    def first() -> None:
        seen["cycle"] = weakref.ref(_Cycle())  # unreachable once this step returns

    @dg.asset(deps=[first])
    def second() -> None:
        assert seen["cycle"]() is None

    job = dg.define_asset_job("two_steps", hooks=RELEASE_MEMORY_HOOKS)
    defs = dg.Definitions(assets=[first, second], jobs=[job])
    # automatic collection off: only the hook can free the cycle in time
    gc.disable()
    try:
        result = defs.resolve_job_def("two_steps").execute_in_process(raise_on_error=False)
    finally:
        gc.enable()
    assert result.success, [e.message for e in result.all_events if e.is_failure]


def test_the_alphadag_jobs_carry_the_hooks(tmp_path) -> None:
    from orchestration.definitions import build_definitions
    from orchestration.settings import Settings

    defs = build_definitions(Settings.from_env({"ALPHADAG_HOME": str(tmp_path)}))
    for job in defs.resolve_all_job_defs():
        if job.name != "__ASSET_JOB":
            assert set(job.hook_defs) >= RELEASE_MEMORY_HOOKS, job.name
