"""The progress lines of `alphadag run`, from a real in-process Dagster run."""

import re

import dagster as dg

from orchestration.progress import (
    ProgressReporter,
    assets_per_step,
    format_elapsed,
    progress_logger,
)


@dg.asset
def bars(context: dg.AssetExecutionContext) -> None:
    context.log.info("trial 1/3: rank IC 0.0123")


@dg.multi_asset(specs=[dg.AssetSpec(name, deps=[bars]) for name in ("stg", "features", "labels")])
def models() -> object:
    for name in ("stg", "features", "labels"):
        yield dg.MaterializeResult(asset_key=name)


def _run(reporter_lines: list[str]) -> dg.ExecuteInProcessResult:
    base = dg.Definitions(assets=[bars, models], jobs=[dg.define_asset_job("all")])
    reporter = ProgressReporter(reporter_lines.append, assets_per_step(base))
    defs = dg.Definitions.merge(
        base, dg.Definitions(loggers={"progress": progress_logger(reporter)})
    )
    return defs.resolve_job_def("all").execute_in_process(run_config={"loggers": {"progress": {}}})


def test_stages_models_and_asset_messages_in_a_few_lines() -> None:
    lines: list[str] = []
    assert _run(lines).success
    # without the times, which depend on the machine's load
    text = [re.sub(r"^\[\s*\w+\] | in \w+$", "", line) for line in lines]
    assert text == [
        "bars started",
        "bars: trial 1/3: rank IC 0.0123",
        "bars finished",
        "models started",
        "models: 1 of 3 (stg)",
        "models: 2 of 3 (features)",
        "models: 3 of 3 (labels)",
        "models finished",
    ]


def test_heartbeat_names_the_running_stage_after_ten_quiet_seconds() -> None:
    now = [0.0]
    lines: list[str] = []
    reporter = ProgressReporter(lines.append, clock=lambda: now[0])
    reporter.heartbeat()
    now[0] = 10.0
    reporter.heartbeat()
    assert lines == ["[   10s] still running: planning the run"]
    now[0] = 15.0
    reporter.step_started("lightgbm_model")
    now[0] = 95.0
    reporter.heartbeat()
    assert lines[-1] == "[ 1m35s] still running lightgbm_model, 1m20s"
    now[0] = 100.0
    reporter.heartbeat()  # 5 s after the last line: quiet
    assert len(lines) == 3
    reporter.step_ended("lightgbm_model", "finished in")
    assert lines[-1] == "[ 1m40s] lightgbm_model finished in 1m25s"


def test_format_elapsed() -> None:
    assert [format_elapsed(s) for s in (0, 59.9, 80, 3599, 3720)] == [
        "0s",
        "59s",
        "1m20s",
        "59m59s",
        "1h02m",
    ]
