"""A quiet run sends library chatter to the run's output log, not to the terminal."""

import logging
import warnings
from pathlib import Path

import pytest

from orchestration.quiet import library_output_to, quiet_dagster_dev_env, quiet_libraries


@pytest.fixture
def quiet():
    library_logger = logging.getLogger("dagster.builtin")
    level = library_logger.level
    with warnings.catch_warnings():  # restores the filters and showwarning
        quiet_libraries()
        yield
    library_logger.setLevel(level)


@pytest.mark.usefixtures("quiet")
def test_library_output_and_warnings_go_to_the_log(tmp_path: Path, capsys) -> None:
    log = tmp_path / "home" / "last_run_output.log"
    with library_output_to(log):
        print("Running with dbt=1.11.16")
        warnings.warn("something is deprecated", UserWarning, stacklevel=1)
        warnings.warn("Class X is currently in beta", UserWarning, stacklevel=1)
    captured = capsys.readouterr()
    assert captured.out == captured.err == ""
    text = log.read_text()
    assert "Running with dbt=1.11.16" in text
    assert "UserWarning: something is deprecated" in text
    assert "beta" not in text  # a known notice: dropped altogether


@pytest.mark.usefixtures("quiet")
def test_mlflow_advice_on_python_models_is_dropped(caplog) -> None:
    pyfunc = logging.getLogger("mlflow.pyfunc")
    with caplog.at_level(logging.WARNING, logger="mlflow.pyfunc"):
        pyfunc.warning("Passing a Python object as `python_model` causes it to be serialized")
        pyfunc.warning("Model signature mismatch")
    assert [r.getMessage() for r in caplog.records] == ["Model signature mismatch"]
    quiet_libraries()  # again: still one filter
    assert len(pyfunc.filters) == 1


@pytest.mark.usefixtures("quiet")
def test_dagster_dbt_notices_are_below_the_threshold() -> None:
    assert not logging.getLogger("dagster.builtin").isEnabledFor(logging.INFO)
    assert logging.getLogger("dagster.builtin").isEnabledFor(logging.WARNING)


def test_dagster_dev_notice_is_filtered_in_its_environment(monkeypatch) -> None:
    monkeypatch.setenv("PYTHONWARNINGS", "default")
    assert quiet_dagster_dev_env()["PYTHONWARNINGS"] == (
        "default,ignore:Function `dev_command` is superseded"
    )
