"""Peak memory at 3,000 simulated symbols x 10 years (7.8M bars, 242 features).

- peak_rss_3000_symbols: the largest resident memory of the whole process tree (the
  Dagster process plus dbt's DuckDB subprocess, sampled every half second), in GiB,
  over the 8 GiB budget (goal <= 1.0).

What runs, as two processes on one home: the data half (`alphadag refresh` over every
business day of the range: bars and their quality gates, every dbt model, the feature
export, Feast's registry and online store), then the training set (the point-in-time
join of every label with the feature service) with `dagster asset materialize`. The
model, predictions and backtest are not part of this figure (the detail says so). Each
stage's wall time and peak go in the detail.

Set ALPHADAG_BENCH_HOME to keep the home (over 50 GB at full size, with DuckDB's spill) after the
run; by default it is a temporary folder, removed at the end.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

from bench.harness import BenchResult, compare
from bench.memory import GIB, SampledRun, describe, peak_by_step, run_sampled

ROOT = Path(__file__).resolve().parent.parent
ALPHADAG = str(Path(sys.executable).parent / "alphadag")
# every business day of 2015-2024
ALL_DAYS = "2609"


@dataclass
class Measured:
    peak: int  # bytes, the larger of the two processes' tree peaks
    stages: list[str]
    failure: str | None = None  # the command that failed and the end of its output


def _failure(run: SampledRun, what: str) -> str | None:
    if run.returncode == 0:
        return None
    tail = " ".join(run.output[-600:].split())
    return f"{what} failed ({run.returncode}): ...{tail}"


def measure(home: Path, env: dict[str, str], days: str) -> Measured:
    """Run the data half, then the training set, on `home`; the peak tree RSS and one
    line per stage (wall seconds, peak GiB). A failed stage ends the measure: its peak
    and its error are kept, so an out-of-memory stage still shows how far it got."""
    env = {**os.environ, **env, "ALPHADAG_HOME": str(home)}
    data = run_sampled(
        [ALPHADAG, "refresh", "--days", days, "--profile"], env, log=home / "data_half.log"
    )
    profile = data.profile() or {"steps": []}
    peaks = peak_by_step(data)
    stages = [f"start-up and planning {peaks.pop('(before steps)', 0) / GIB:.1f} GiB"]
    stages += [
        f"{s['step']} {s['wall']:.0f}s {peaks.get(s['step'], 0) / GIB:.1f} GiB"
        for s in profile["steps"]
    ]
    failure = _failure(data, "alphadag refresh")
    if failure is not None:
        print(describe(data), file=sys.stderr)
        return Measured(data.peak_tree_rss, stages, failure)
    started = time.perf_counter()
    training = run_sampled(
        [
            *(sys.executable, "-m", "dagster", "asset", "materialize"),
            *("-m", "orchestration.definitions", "--select", "training_set"),
        ],
        env | {"DAGSTER_HOME": str(home / "dagster_home")},
        log=home / "training_set.log",
    )
    stages.append(
        f"training_set (own process) {time.perf_counter() - started:.0f}s "
        f"{training.peak_tree_rss / GIB:.1f} GiB"
    )
    return Measured(
        max(data.peak_tree_rss, training.peak_tree_rss),
        stages,
        _failure(training, "dagster asset materialize --select training_set"),
    )


def run(quick: bool) -> list[BenchResult]:
    symbols, start, end, days = (
        ("20", "2022-01-03", "2023-12-29", "520")
        if quick
        else ("3000", "2015-01-01", "2024-12-31", ALL_DAYS)
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
        measured = measure(Path(kept), env, days)
    else:
        with tempfile.TemporaryDirectory(prefix="alphadag-scale-") as home:
            measured = measure(Path(home), env, days)
    result = compare(
        "peak_rss_3000_symbols",
        candidate_seconds=measured.peak / GIB,
        baseline="the 8 GiB budget",
        baseline_seconds=8.0,
        goal=1.0,
        detail=(
            f"GiB, process tree; {symbols} symbols, {start}..{end}: data half "
            "(alphadag refresh over every day) and training_set; model, predictions "
            f"and backtest not run. Stages: {'; '.join(measured.stages)}"
        ),
    )
    if measured.failure is None:
        return [result]
    # a run that did not finish has not shown its peak: the goal cannot hold
    return [replace(result, holds=False, detail=f"{result.detail}. {measured.failure}")]
