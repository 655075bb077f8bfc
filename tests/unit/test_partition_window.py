"""The dbt window a partition window becomes."""

import os
from datetime import date, datetime

import dagster as dg
import pytest

from assets.transform import environment, partition_env
from orchestration.project import dbt_cli, window_env


def test_window_end_is_exclusive() -> None:
    window = dg.TimeWindow(datetime(2024, 3, 1), datetime(2024, 3, 4))  # Friday's partition
    assert partition_env(window) == {
        "ALPHADAG_WINDOW_START": "2024-03-01",
        "ALPHADAG_WINDOW_END": "2024-03-03",
    }


def test_an_empty_window_is_refused() -> None:
    with pytest.raises(ValueError, match="empty dbt window"):
        window_env(date(2024, 3, 4), date(2024, 3, 1))


def test_environment_is_restored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALPHADAG_WINDOW_END", "2000-01-01")
    monkeypatch.delenv("ALPHADAG_WINDOW_START", raising=False)
    with environment(window_env(date(2024, 3, 1), date(2024, 3, 1))):
        assert os.environ["ALPHADAG_WINDOW_START"] == "2024-03-01"
    assert "ALPHADAG_WINDOW_START" not in os.environ
    assert os.environ["ALPHADAG_WINDOW_END"] == "2000-01-01"


def test_a_run_without_window_drops_a_stale_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALPHADAG_WINDOW_START", "2024-03-01")
    _, env = dbt_cli("run")
    assert "ALPHADAG_WINDOW_START" not in env
    _, env = dbt_cli("run", window=(date(2024, 3, 1), date(2024, 3, 2)))
    assert env["ALPHADAG_WINDOW_END"] == "2024-03-02"
