"""How long a run takes to start its first step, for ten years of days against 20.

- time_to_first_step: seconds from process start to the first step's start of
  `alphadag run` (the full build: every business day of ten years and everything
  downstream) in a new home, over those of `alphadag refresh --days 20`; fastest of 3
  each (<= 1.5: planning must not grow with the history). Each run is stopped once its first step
  has started (the profile it writes when stopped holds the figure), so the figure is
  measured several times in seconds instead of once inside an hour-long build, whose
  start a single busy moment of a shared machine can double. The checkout's dbt project
  is parsed before (`alphadag prepare` in another home, as by any earlier run of this
  version of the project): a new home copies that manifest.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from bench.bench_orchestration import ALPHADAG, SYMBOLS, read_profile
from bench.harness import BenchResult, compare

REPEAT = 3
STEP_STARTED = re.compile(r"^\[\s*\d+s\] \S+ started$")


def first_step_seconds(args: list[str], env: dict[str, str]) -> float:
    """Start `alphadag <args> --profile`, stop it (SIGTERM) once its first step has
    started, and return the seconds from its start to that step, from its profile."""
    process = subprocess.Popen(
        [ALPHADAG, *args, "--profile"],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    assert process.stdout is not None
    seen = []
    for line in process.stdout:
        seen.append(line)
        if STEP_STARTED.match(line.rstrip()):
            process.send_signal(signal.SIGTERM)
            break
    rest, _ = process.communicate(timeout=300)
    _wait_for_group(process.pid)
    return read_profile("".join(seen) + rest, args)["time_to_first_step"]


def _wait_for_group(group: int, timeout: float = 300.0) -> None:
    """Wait until every process of the stopped run's group has ended: a new home's dbt
    parse, started beside the first steps, finishes on its own and writes into the home."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    raise TimeoutError(f"processes of the stopped run (group {group}) still running")


def run(quick: bool) -> list[BenchResult]:
    symbols, start, end = (
        ("20", "2021-07-01", "2023-06-30") if quick else (SYMBOLS, "2015-01-01", "2024-12-31")
    )
    settings = {"ALPHADAG_UNIVERSE": symbols, "ALPHADAG_START": start, "ALPHADAG_END": end}
    with tempfile.TemporaryDirectory(prefix="alphadag-bench-first-step-") as scratch:
        root = Path(scratch)
        subprocess.run(
            [ALPHADAG, "prepare"],
            env={**os.environ, **settings, "ALPHADAG_HOME": str(root / "prepared")},
            check=True,
            capture_output=True,
        )
        homes = [root / f"home{i}" for i in range(REPEAT)]
        full = min(
            first_step_seconds(["run"], {**settings, "ALPHADAG_HOME": str(h)}) for h in homes
        )
        refresh = min(
            first_step_seconds(
                ["refresh", "--days", "20"], {**settings, "ALPHADAG_HOME": str(homes[0])}
            )
            for _ in range(REPEAT)
        )
    return [
        compare(
            "time_to_first_step",
            candidate_seconds=full,
            baseline="time to the first step of a 20-day refresh",
            baseline_seconds=refresh,
            goal=1.5,
            detail=(
                f"{symbols} symbols, {start}..{end}; from process start to the first step's "
                f"start, fastest of {REPEAT}: the full build over every day in a new home, "
                "the refresh in a home that has started one"
            ),
        )
    ]
