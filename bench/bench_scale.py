"""Peak memory at 3,000 simulated symbols x 10 years (7.8M bars, 242 features).

- peak_rss_3000_symbols: the largest resident memory of the whole process tree (the
  Dagster process plus dbt's DuckDB subprocess, sampled every half second), in GiB,
  over the 8 GiB budget (goal <= 1.0).

What runs: the whole graph on a new home, in four `alphadag run`s of the same home.
`--until training_set` builds the data half over every business day of the range (bars
and their quality gates, every dbt model, the feature export, Feast's registry) and the
training set; `--from online_features --until latest_features` loads Feast's online
store and reads the newest features from it; `--from model_zoo --until ...` then builds
the model half (the zoo, the champion, its predictions, the walk-forward refits, the
evaluation, the signals, the metrics), and `--from backtest` the backtest of the
walk-forward scores. The figure is the largest peak of the four. Each stage's wall time and
peak go in the detail; a stage that fails (out of memory) leaves a row that does not
hold, with its error.

The whole takes hours on a two-core machine. Set ALPHADAG_BENCH_HOME to keep the home
(over 50 GB at full size, with DuckDB's spill): each part that succeeds records its
measure there (`bench-scale-<part>.json`), and a later run with the same home and
settings reuses it instead of building that part again. By default the home is a
temporary folder, removed at the end.
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
from dataclasses import asdict, dataclass, replace
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


PARTS = {
    "data": ["--until", "training_set"],
    "online": ["--from", "online_features", "--until", "latest_features"],
    "model": [
        "--from",
        "model_zoo",
        "--until",
        "model_evaluation",
        "--until",
        "signals",
        "--until",
        "model_metrics",
    ],
    "backtest": ["--from", "backtest"],
}
"""The runs of the whole graph, in order, and their `alphadag run` options."""
REUSED = re.compile(r"reusing (it|the stored rows)$", flags=re.MULTILINE)
"""What the model steps log when they skip a fit (same data, settings and code)."""


def measure(home: Path, env: dict[str, str], part: str) -> Measured:
    """One `alphadag run <the part's options> --profile` on `home`: the peak tree RSS and one line
    per stage (wall seconds, peak GiB). A failed run still shows how far it got: its
    peak and its error are kept."""
    run = run_sampled(
        [ALPHADAG, "run", *PARTS[part], "--profile"],
        {**os.environ, **env, "ALPHADAG_HOME": str(home)},
        log=home / f"bench-scale-{part}.log",
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
    elif REUSED.search(run.output):
        # a kept home whose models were fitted before: the fits' memory was not measured
        failure = f"{part}: stored models or predictions reused, nothing fitted"
    return Measured(run.peak_tree_rss, stages, failure)


def measure_parts(home: Path, env: dict[str, str]) -> dict[str, Measured]:
    """Each part in turn, stopping at the first that fails; a part this home already
    measured with these settings is read back from its record."""
    measured: dict[str, Measured] = {}
    for part in PARTS:
        record = home / f"bench-scale-{part}.json"
        saved = json.loads(record.read_text()) if record.exists() else None
        if saved is not None and saved["env"] == env:
            print(f"   {part}: measured before in {home}, reused", flush=True)
            measured[part] = Measured(**saved["measured"])
            continue
        measured[part] = measure(home, env, part)
        if measured[part].failure is not None:
            break
        record.write_text(json.dumps({"env": env, "measured": asdict(measured[part])}))
    return measured


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
        measured = measure_parts(Path(kept), env)
    else:
        with tempfile.TemporaryDirectory(prefix="alphadag-scale-") as home:
            measured = measure_parts(Path(home), env)
    stages = "; ".join(
        f"{part} ({' '.join(PARTS[part])}): {', '.join(m.stages)}" for part, m in measured.items()
    )
    result = compare(
        "peak_rss_3000_symbols",
        candidate_seconds=max(m.peak for m in measured.values()) / GIB,
        baseline="the 8 GiB budget",
        baseline_seconds=8.0,
        goal=1.0,
        detail=f"GiB, process tree; {symbols} symbols, {start}..{end}, the whole graph. {stages}",
    )
    failures = [m.failure for m in measured.values() if m.failure is not None]
    if not failures and len(measured) == len(PARTS):
        return [result]
    # a run that did not finish has not shown its peak: the goal cannot hold
    return [replace(result, holds=False, detail=f"{result.detail}. {' '.join(failures)}")]
