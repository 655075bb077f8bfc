"""What the orchestration costs around the work, measured on whole `alphadag` runs.

Each figure comes from `--profile` (orchestration/profiling.py) of real processes, so
it includes everything a user waits for: process start-up, loading the definitions,
planning, event writes, dbt's start-up.

- orchestration_overhead_full_build: share of `alphadag run`'s wall time outside
  compute, on a simulated history of 500 symbols (ALPHADAG_BENCH_SYMBOLS) x 10 years
  (goal <= 0.30).
- orchestration_overhead_nightly: the same share for `alphadag refresh` of the one
  business day after that history (goal <= 0.30).
- nightly_vs_full_build: the nightly refresh's wall time over the full build's (<= 0.05).
- peak_rss_full_build: the largest process's peak RSS during the full build, in GiB,
  over the 8 GiB budget (<= 1.0).
"""

from __future__ import annotations

import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.harness import BenchResult, compare

ALPHADAG = str(Path(sys.executable).parent / "alphadag")
GIB = 1024**3
# The universe of the full-size run (the history is always ten years of business days,
# which is what the orchestration's cost depends on): ALPHADAG_BENCH_SYMBOLS overrides it.
SYMBOLS = os.environ.get("ALPHADAG_BENCH_SYMBOLS", "500")


def _alphadag(args: list[str], env: dict[str, str]) -> dict:
    """Run the CLI with --profile; return the profile it wrote."""
    started = time.perf_counter()
    completed = subprocess.run(
        [ALPHADAG, *args, "--profile"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(
            f"alphadag {' '.join(args)} failed ({completed.returncode}):\n"
            f"{completed.stdout[-3000:]}{completed.stderr[-3000:]}"
        )
    profile = read_profile(completed.stdout, args)
    profile["process_seconds"] = time.perf_counter() - started
    return profile


def read_profile(output: str, args: list[str]) -> dict:
    """The profile that `alphadag <args> --profile` wrote, found from its output."""
    match = re.search(r"^profile: (\S+)$", output, flags=re.MULTILINE)
    if match is None:
        raise RuntimeError(f"no profile from alphadag {' '.join(args)}:\n{output[-3000:]}")
    return json.loads(Path(match.group(1)).read_text())


def _steps(profile: dict) -> str:
    return ", ".join(f"{s['step']} {s['wall']:.0f}s" for s in profile["steps"])


def run(quick: bool) -> list[BenchResult]:
    symbols, start, last_built, refreshed = (
        ("20", "2021-07-01", "2023-06-29", "2023-06-30")
        if quick
        else (SYMBOLS, "2015-01-01", "2024-12-30", "2024-12-31")
    )
    results = []
    with tempfile.TemporaryDirectory(prefix="alphadag-bench-") as home:
        env = {
            "ALPHADAG_HOME": home,
            "ALPHADAG_UNIVERSE": symbols,
            "ALPHADAG_START": start,
            "ALPHADAG_END": last_built,
        }
        full = _alphadag(["run"], env)
        peak_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
        # the next business day arrives
        nightly = _alphadag(["refresh"], env | {"ALPHADAG_END": refreshed})

    size = f"{symbols} symbols, {start}..{last_built}"
    results.append(
        compare(
            "orchestration_overhead_full_build",
            candidate_seconds=full["total"] - full["compute"],
            baseline="wall time of the whole `alphadag run`",
            baseline_seconds=full["total"],
            goal=0.30,
            detail=f"{size}; first step after {full['time_to_first_step']:.0f}s; {_steps(full)}",
        )
    )
    results.append(
        compare(
            "orchestration_overhead_nightly",
            candidate_seconds=nightly["total"] - nightly["compute"],
            baseline="wall time of the whole `alphadag refresh` of one day",
            baseline_seconds=nightly["total"],
            goal=0.30,
            detail=f"{refreshed} on the home above; {_steps(nightly)}",
        )
    )
    results.append(
        compare(
            "nightly_vs_full_build",
            candidate_seconds=nightly["total"],
            baseline="the full build's wall time",
            baseline_seconds=full["total"],
            goal=0.05,
            detail="refresh: bars, features, online store of one day; full build: everything",
        )
    )
    results.append(
        compare(
            "peak_rss_full_build",
            candidate_seconds=peak_rss / GIB,
            baseline="the 8 GiB budget",
            baseline_seconds=8.0,
            goal=1.0,
            detail=f"largest process of `alphadag run`, GiB; {size}",
        )
    )
    return results
