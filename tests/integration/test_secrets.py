"""Secrets come from the environment and never reach a log, an event or a file."""

from __future__ import annotations

import pytest
from cli_runs import PLANTED_SECRET


@pytest.mark.slow
def test_a_planted_secret_appears_nowhere(clean_run) -> None:
    # The run's output, and every file of its home: the Dagster event log and run
    # storage (SQLite), compute logs, dbt's logs, MLflow, Optuna, Feast, reports.
    assert PLANTED_SECRET not in clean_run.log.read_text(errors="replace")
    leaks = [
        str(path)
        for path in clean_run.home.rglob("*")
        if path.is_file() and PLANTED_SECRET.encode() in path.read_bytes()
    ]
    assert not leaks
