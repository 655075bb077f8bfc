"""The one line `alphadag run` prints for a failed step."""

from __future__ import annotations

import dagster as dg

from orchestration.errors import root_cause


def _failure(raise_: BaseException) -> dg.DagsterEvent:
    @dg.asset
    def raw_ohlcv() -> None:
        raise raise_

    result = dg.materialize([raw_ohlcv], raise_on_error=False)
    (event,) = [event for event in result.all_events if event.is_step_failure]
    return event


def test_the_root_cause_replaces_dagsters_wrapper() -> None:
    event = _failure(ValueError("csv:/in: not a directory\nsecond line"))
    assert event.step_failure_data.error.cls_name == "DagsterExecutionStepExecutionError"
    assert root_cause(event.step_failure_data.error) == "ValueError: csv:/in: not a directory"


def test_a_chained_cause_is_followed_to_the_bottom() -> None:
    try:
        try:
            raise OSError("disk full")
        except OSError as exc:
            raise RuntimeError("cannot write bars") from exc
    except RuntimeError as exc:
        event = _failure(exc)
    assert root_cause(event.step_failure_data.error) == "OSError: disk full"
