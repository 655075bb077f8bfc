"""Peak memory at 3,000 simulated symbols x 10 years (7.8M bars, 242 features).

- peak_rss_3000_symbols: the largest resident memory of the whole process tree (the
  Dagster process plus dbt's DuckDB subprocess, sampled every half second), in GiB,
  over the 8 GiB budget (goal <= 1.0).

What runs, as one `alphadag run --until training_set` on a new home: the data half over
every business day of the range (bars and their quality gates, every dbt model, the
feature export, Feast's registry) and the training set (the point-in-time join of every
label with the feature service). The model, predictions and backtest are not part of
this figure (the detail says so). Each stage's wall time and peak go in the detail; a
stage that fails (out of memory) leaves a row that does not hold, with its error.

Set ALPHADAG_BENCH_HOME to keep the home (over 50 GB at full size, with DuckDB's spill) after the
run; by default it is a temporary folder, removed at the end.
"""

from __future__ import annotations

import os
import sys
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

from bench.harness import BenchResult, compare
from bench.memory import GIB, describe, peak_by_step, run_sampled

ROOT = Path(__file__).resolve().parent.parent
ALPHADAG = str(Path(sys.executable).parent / "alphadag")


@dataclass
class Measured:
    peak: int  # bytes, the process tree's
    stages: list[str]
    failure: str | None = None  # the end of a failed run's output


def measure(home: Path, env: dict[str, str]) -> Measured:
    """Build the data half and the training set on `home` (`alphadag run --until
    training_set`); the peak tree RSS and one line per stage (wall seconds, peak GiB).
    A failed run still shows how far it got: its peak and its error are kept."""
    run = run_sampled(
        [ALPHADAG, "run", "--until", "training_set", "--profile"],
        {**os.environ, **env, "ALPHADAG_HOME": str(home)},
        log=home / "run.log",
    )
    profile = run.profile() or {"steps": []}
    peaks = peak_by_step(run)
    stages = [f"start-up and planning {peaks.pop('(before steps)', 0) / GIB:.1f} GiB"]
    stages += [
        f"{s['step']} {s['wall']:.0f}s {peaks.get(s['step'], 0) / GIB:.1f} GiB"
        for s in profile["steps"]
    ]
    failure = None
    if run.returncode != 0:
        print(describe(run), file=sys.stderr)
        tail = " ".join(run.output[-600:].split())
        failure = f"alphadag run failed ({run.returncode}): ...{tail}"
    return Measured(run.peak_tree_rss, stages, failure)


def run(quick: bool) -> list[BenchResult]:
    symbols, start, end = (
        ("20", "2022-01-03", "2023-12-29") if quick else ("3000", "2015-01-01", "2024-12-31")
    )
    env = {
        "ALPHADAG_UNIVERSE": symbols,
        "ALPHADAG_START": start,
        "ALPHADAG_END": end,
        # the settings the README gives for universes of thousands of symbols
        "ALPHADAG_DBT_THREADS": "1",
        "ALPHADAG_DUCKDB_MEMORY_LIMIT": "5GB",
        "ALPHADAG_FEATURE_JOIN_THREADS": "1",
    }
    kept = os.environ.get("ALPHADAG_BENCH_HOME")
    if kept:
        Path(kept).mkdir(parents=True, exist_ok=True)
        measured = measure(Path(kept), env)
    else:
        with tempfile.TemporaryDirectory(prefix="alphadag-scale-") as home:
            measured = measure(Path(home), env)
    result = compare(
        "peak_rss_3000_symbols",
        candidate_seconds=measured.peak / GIB,
        baseline="the 8 GiB budget",
        baseline_seconds=8.0,
        goal=1.0,
        detail=(
            f"GiB, process tree; {symbols} symbols, {start}..{end}: `alphadag run --until "
            "training_set` (bars, dbt, feature export, Feast, training set); model, "
            f"predictions and backtest not run. Stages: {'; '.join(measured.stages)}"
        ),
    )
    if measured.failure is None:
        return [result]
    # a run that did not finish has not shown its peak: the goal cannot hold
    return [replace(result, holds=False, detail=f"{result.detail}. {measured.failure}")]
