"""One line per failed step: the root cause, not Dagster's wrapper around it."""

from __future__ import annotations

from dagster._utils.error import SerializableErrorInfo


def root_cause(error: SerializableErrorInfo) -> str:
    """``ExceptionClass: first line of its message`` of the innermost cause of ``error``.

    A failed step's error is ``DagsterExecutionStepExecutionError: Error occurred while
    executing op ...``, whose cause is what the asset raised (``ValueError: csv:/in: not a
    directory``); that is what a user can act on.
    """
    inner = error
    while (deeper := inner.cause or inner.context) is not None:
        inner = deeper
    lines = [line.strip() for line in inner.message.strip().splitlines() if line.strip()]
    text = lines[0] if lines else ""
    # messages usually start with the (possibly dotted) class name already
    if inner.cls_name and not text.split(":", 1)[0].endswith(inner.cls_name):
        text = f"{inner.cls_name}: {text}"
    return text
