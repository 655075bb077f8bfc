"""Library notices that are not the user's business on the command line.

`alphadag run --verbose` skips all of this and shows everything.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO


def ignore_known_warnings() -> None:
    """Ignore the warnings that loading the definitions always gives: beta flags, and a
    deprecated optional sqlglot extension that nothing here needs."""
    warnings.filterwarnings("ignore", message=".*is currently in beta.*")
    warnings.filterwarnings("ignore", message=r".*sqlglot\[rs\].*")


def quiet_libraries() -> None:
    """Silence the known, harmless notices of the libraries a run uses."""
    ignore_known_warnings()
    # dagster-dbt's notices ("A dbt subsetted execution is not being performed",
    # "Copying partial_parse.msgpack", "Running dbt command") go through Dagster's
    # library logger; the assets' own messages go through context.log and stay.
    logging.getLogger("dagster.builtin").setLevel(logging.WARNING)
    # The model is registered as a Python object on purpose (ml.tracking); MLflow's
    # advice to log it from a file instead goes to the terminal through its own handler.
    if not any(isinstance(f, _DropMessage) for f in logging.getLogger("mlflow.pyfunc").filters):
        logging.getLogger("mlflow.pyfunc").addFilter(_DropMessage(PYFUNC_OBJECT_NOTICE))
    # Any other library warning goes where the libraries' printed output goes (the run's
    # output log while a run works), not between the progress lines.
    warnings.showwarning = _warning_to_stdout


PYFUNC_OBJECT_NOTICE = "Passing a Python object as `python_model`"


class _DropMessage(logging.Filter):
    """Drops the records whose message contains ``fragment``."""

    def __init__(self, fragment: str) -> None:
        super().__init__()
        self.fragment = fragment

    def filter(self, record: logging.LogRecord) -> bool:
        return self.fragment not in record.getMessage()


def _warning_to_stdout(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    sys.stdout.write(warnings.formatwarning(message, category, filename, lineno, line))


def quiet_dagster_dev_env() -> dict[str, str]:
    """The environment for `dagster dev` without its notice that `dg dev` supersedes it
    (a warning filter by message: PYTHONWARNINGS cannot name Dagster's category)."""
    notice = "ignore:Function `dev_command` is superseded"
    current = os.environ.get("PYTHONWARNINGS", "")
    return {**os.environ, "PYTHONWARNINGS": f"{current},{notice}" if current else notice}


@contextlib.contextmanager
def library_output_to(path: Path) -> Iterator[None]:
    """Send what the libraries print on standard output during the block (dbt's log
    lines, which dagster-dbt echoes, and Feast's blank lines) to `path` instead."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as log, contextlib.redirect_stdout(log):
        yield
