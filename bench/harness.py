"""Timing helpers and the result record every benchmark returns.

Machines here are shared and noisy, so a benchmark never reports an absolute time as
its verdict: it times the candidate and a baseline in the same process, back to back,
and reports their ratio against a goal.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class BenchResult:
    """One line of bench/results/latest.json.

    `ratio` is the candidate's cost over the baseline's (lower is better); the goal is
    the largest acceptable ratio: "10x faster" is a goal of 0.1, "a partition costs at
    most 5% of a full rebuild" is 0.05.
    """

    name: str
    baseline: str
    ratio: float
    goal: float
    holds: bool
    seconds: float
    baseline_seconds: float
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def best_of(fn: Callable[[], object], repeat: int = 3) -> float:
    """The fastest of `repeat` timings, the least disturbed by other load."""
    timings = []
    for _ in range(repeat):
        gc.collect()
        started = time.perf_counter()
        fn()
        timings.append(time.perf_counter() - started)
    return min(timings)


def compare(
    name: str,
    *,
    candidate_seconds: float,
    baseline: str,
    baseline_seconds: float,
    goal: float,
    detail: str = "",
) -> BenchResult:
    ratio = candidate_seconds / baseline_seconds if baseline_seconds > 0 else float("inf")
    return BenchResult(
        name=name,
        baseline=baseline,
        ratio=round(ratio, 4),
        goal=goal,
        holds=ratio <= goal,
        seconds=round(candidate_seconds, 4),
        baseline_seconds=round(baseline_seconds, 4),
        detail=detail,
    )
