"""Loading the code location, which every `alphadag` command, the UI and the daemon pay.

- code_location_load: `import orchestration.definitions` (the asset, check, job, sensor
  and schedule definitions) over a bare `import dagster`, each in a fresh interpreter,
  fastest of 5, in a home where the checkout's dbt project is already parsed (<= 2.0).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.harness import BenchResult, compare

ROOT = Path(__file__).resolve().parent.parent
ALPHADAG = str(Path(sys.executable).parent / "alphadag")


def _import_seconds(module: str, env: dict[str, str], repeat: int) -> float:
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-c", f"import {module}"],
            check=True,
            cwd=ROOT,
            env={**os.environ, **env},
        )
        timings.append(time.perf_counter() - started)
    return min(timings)


def run(quick: bool) -> list[BenchResult]:
    repeat = 2 if quick else 5
    with tempfile.TemporaryDirectory(prefix="alphadag-bench-prepare-") as scratch:
        prepared = {"ALPHADAG_HOME": scratch}
        subprocess.run([ALPHADAG, "prepare"], env={**os.environ, **prepared}, check=True)
        dagster_import = _import_seconds("dagster", prepared, repeat)
        definitions_import = _import_seconds("orchestration.definitions", prepared, repeat)
    return [
        compare(
            "code_location_load",
            candidate_seconds=definitions_import,
            baseline="python -c 'import dagster'",
            baseline_seconds=dagster_import,
            goal=2.0,
            detail=f"a fresh interpreter each time, fastest of {repeat}, in a prepared home",
        )
    ]
