"""Three `alphadag run` processes at once on one home (the nightly run, a manual one and
a sensor's, say) all finish, and leave exactly what one run leaves.

DuckDB admits one writer at a time, and Feast's registry, the Optuna study and the
MLflow registry must not be written by two runs at once either: the steps that write
them share pools of one slot, so overlapping runs take turns step by step.
"""

from __future__ import annotations

import pytest
from cli_runs import assert_same_results, results, start_run, tail

N_RUNS = 3


@pytest.mark.slow
def test_overlapping_runs_all_finish_with_the_results_of_one(tmp_path, clean_run) -> None:
    home = tmp_path / "home"
    logs = [tmp_path / f"run_{i}.log" for i in range(N_RUNS)]
    processes = [start_run(home, log) for log in logs]
    # Taking turns costs at most the runs one after another (plus slack for the load).
    timeout = N_RUNS * clean_run.seconds + 300
    for process, log in zip(processes, logs, strict=True):
        assert process.wait(timeout=timeout) == 0, tail(log)
        text = log.read_text(errors="replace")
        assert "Could not set lock" not in text, tail(log)  # DuckDB's lock error
    assert_same_results(results(home), clean_run.results)
