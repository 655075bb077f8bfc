"""One clean `alphadag run` per session, the reference of the slow reliability tests."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from cli_runs import PLANTED_SECRET, results, start_run, tail

WEBHOOK = f"https://hooks.example.com/services/T000/{PLANTED_SECRET}"


@dataclass(frozen=True)
class CleanRun:
    home: Path
    log: Path
    seconds: float
    results: dict[str, pd.DataFrame]


@pytest.fixture(scope="session")
def clean_run(tmp_path_factory: pytest.TempPathFactory) -> CleanRun:
    root = tmp_path_factory.mktemp("clean")
    home, log = root / "home", root / "clean.log"
    started = time.monotonic()
    process = start_run(home, log, ALPHADAG_ALERT_WEBHOOK=WEBHOOK)
    assert process.wait(timeout=1200) == 0, tail(log)
    return CleanRun(home, log, time.monotonic() - started, results(home))
