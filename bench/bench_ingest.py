"""Ingest: throughput of a full history through the quality gates, and a nightly
partition's cost against a full rebuild, both measured in this run.

Sizes: 500 simulated symbols x 10 years (2014-2023, about 1.3M bars); ``--quick``:
50 symbols x 1 year. Each ingest is what ``raw_ohlcv`` does after loading the source:
the quality split, partition writes, quarantine files, then the blocking GX suite on
the stored days and the warning checks (with their look-back). The source itself is
timed apart, because the simulator (and a folder of CSV files) is read from the start
of the history whatever the partition: the last result shows what that costs a
nightly run.
"""

from __future__ import annotations

import shutil
import tempfile
from datetime import date, timedelta
from pathlib import Path

import pandas as pd

from bench.harness import BenchResult, best_of, compare
from ingest.ingestion import ingest_bars
from ingest.lake import read_bars, write_partitions
from ingest.quality import ANOMALY_LOOKBACK_DAYS, find_anomalies, validate_bars
from ingest.simulator import SimulatorConfig, simulate_market

GOAL_PARTITION = 0.05
# The gates (split, quarantine, GX suite, warnings) may cost at most this multiple of
# writing the same bars to the lake without them.
GOAL_GATES = 3.0


def _ingest(bars: pd.DataFrame, home: Path, days: list[date]) -> None:
    """What the raw_ohlcv asset does with loaded bars for ``days``."""
    today = days[-1] + timedelta(days=1)
    ingest_bars(
        bars, lake_root=home / "lake", quarantine_root=home / "quarantine", days=days, today=today
    )
    history = read_bars(home / "lake", days[0] - timedelta(days=ANOMALY_LOOKBACK_DAYS), days[-1])
    validate_bars(history[history["date"] >= pd.Timestamp(days[0])], today=today)
    find_anomalies(history)


def run(quick: bool) -> list[BenchResult]:
    n_symbols, start, end = (
        (50, date(2023, 1, 1), date(2023, 12, 31))
        if quick
        else (
            500,
            date(2014, 1, 1),
            date(2023, 12, 31),
        )
    )
    config = SimulatorConfig(n_symbols=n_symbols, start=start, end=end)
    repeat_simulation = 2 if not quick else 3
    # A full rebuild simulates every day's oracle; a nightly run only its own day's.
    simulate_seconds = best_of(lambda: simulate_market(config), repeat=repeat_simulation)
    nightly_simulate_seconds = best_of(
        lambda: simulate_market(config, oracle_from=end), repeat=repeat_simulation
    )
    bars = simulate_market(config).bars
    days = [d.date() for d in pd.bdate_range(start, end)]
    validate_bars(bars.head(100), today=end)  # import Great Expectations outside the timings
    size = f"{n_symbols} symbols x {len(days)} days, {len(bars):,} bars"

    root = Path(tempfile.mkdtemp(prefix="bench_ingest_"))
    try:
        counter = iter(range(1_000_000))

        def fresh_home() -> Path:
            return root / f"home{next(counter)}"

        repeat = 3 if quick else 1
        full_seconds = best_of(lambda: _ingest(bars, fresh_home(), days), repeat=repeat)
        plain_seconds = best_of(lambda: write_partitions(fresh_home() / "lake", bars), repeat)

        # a built lake, then the nightly run: the last day's bars into their partition
        home = fresh_home()
        _ingest(bars, home, days)
        last = bars[bars["date"] == pd.Timestamp(days[-1])]
        nightly_seconds = best_of(lambda: _ingest(last, home, days[-1:]), repeat=5)
    finally:
        shutil.rmtree(root, ignore_errors=True)

    return [
        compare(
            "ingest_gates_vs_plain_write",
            candidate_seconds=full_seconds,
            baseline="write_partitions without gates",
            baseline_seconds=plain_seconds,
            goal=GOAL_GATES,
            detail=f"{size}; {len(bars) / full_seconds:,.0f} bars/s through the gates",
        ),
        compare(
            "ingest_nightly_partition_vs_full_rebuild",
            candidate_seconds=nightly_seconds,
            baseline="full rebuild of every partition",
            baseline_seconds=full_seconds,
            goal=GOAL_PARTITION,
            detail=f"{size}; loaded bars, source excluded",
        ),
        compare(
            "ingest_nightly_with_simulator_vs_full_rebuild",
            candidate_seconds=nightly_seconds + nightly_simulate_seconds,
            baseline="simulate + full rebuild",
            baseline_seconds=full_seconds + simulate_seconds,
            goal=GOAL_PARTITION,
            detail=(
                f"{size}; the simulator regenerates the path from the start for any "
                f"partition ({nightly_simulate_seconds:.2f}s with one day's oracle, "
                f"{simulate_seconds:.2f}s with every day's)"
            ),
        ),
    ]
