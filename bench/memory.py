"""Resident memory of a command and its subprocesses over time, attributed to the stages
(Dagster steps) it was in.

`ru_maxrss` gives one number per process; a run's memory is its own process plus dbt's
subprocess (DuckDB) at the same moment, and the question is which step needed it. So
the whole process tree is sampled from a thread, and each sample is attributed to the
steps running at its time, which the run's `--profile` records.

    python -m bench.memory alphadag run --profile    # prints the peak of each step
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO, TypeVar

import psutil

GIB = 1024**3
T = TypeVar("T")


@dataclass
class Sample:
    at: float  # epoch seconds
    tree_rss: int  # bytes, the process and all its descendants
    largest_rss: int  # bytes, the largest single process of the tree


@dataclass
class SampledRun:
    returncode: int
    output: str
    samples: list[Sample] = field(default_factory=list)

    @property
    def peak_tree_rss(self) -> int:
        return max((s.tree_rss for s in self.samples), default=0)

    @property
    def peak_largest_rss(self) -> int:
        return max((s.largest_rss for s in self.samples), default=0)

    def profile(self) -> dict | None:
        """The profile the command wrote with `--profile`, if it printed its path."""
        match = re.search(r"^profile: (\S+)$", self.output, flags=re.MULTILINE)
        return json.loads(Path(match.group(1)).read_text()) if match else None


def _tree_rss(process: psutil.Process) -> tuple[int, int]:
    sizes = []
    for member in [process, *process.children(recursive=True)]:
        try:
            sizes.append(member.memory_info().rss)
        except psutil.Error:  # it ended between the listing and the reading
            continue
    return sum(sizes), max(sizes, default=0)


def run_sampled(
    argv: list[str],
    env: dict[str, str] | None = None,
    *,
    interval: float = 0.5,
    timeout: float | None = None,
    log: Path | None = None,
    echo: TextIO | None = None,
) -> SampledRun:
    """Run `argv`, sampling the RSS of its process tree every `interval` seconds.

    Its output (stdout and stderr) is kept and, as it comes, also written to the file
    `log` and to the stream `echo` when given, so a long run can be followed.
    """
    sinks = [s for s in (log.open("w") if log else None, echo) if s is not None]
    process = subprocess.Popen(
        argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    watched = psutil.Process(process.pid)
    run = SampledRun(returncode=-1, output="")
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            try:
                tree, largest = _tree_rss(watched)
            except psutil.Error:
                return
            run.samples.append(Sample(time.time(), tree, largest))
            done.wait(interval)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    lines = []
    deadline = time.monotonic() + timeout if timeout else None
    assert process.stdout is not None
    for line in process.stdout:
        lines.append(line)
        for sink in sinks:
            sink.write(line)
            sink.flush()
        if deadline and time.monotonic() > deadline:
            process.kill()
            lines.append(f"killed after {timeout:.0f}s\n")
            break
    run.returncode = process.wait()
    done.set()
    sampler.join()
    if log is not None:
        sinks[0].close()
    run.output = "".join(lines)
    return run


def peak_rss_during(fn: Callable[[], T], interval: float = 0.02) -> tuple[T, int]:
    """``fn()``'s result and the peak resident memory of this process while it ran (bytes).

    For a stage inside a benchmark, where the process tree of a whole command would also
    count what the benchmark itself holds before and after.
    """
    process = psutil.Process()
    peak = process.memory_info().rss
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, process.memory_info().rss)
            done.wait(interval)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        result = fn()
    finally:
        done.set()
        sampler.join()
    return result, max(peak, process.memory_info().rss)


def peak_by_step(run: SampledRun) -> dict[str, int]:
    """The largest tree RSS sampled while each step of the profiled run was running
    (steps that overlap share their samples); `(before steps)` covers start-up and
    planning."""
    profile = run.profile()
    if profile is None:
        return {}
    windows = [(s["step"], s["started"], s["started"] + s["wall"]) for s in profile["steps"]]
    first = min((start for _, start, _ in windows), default=float("inf"))
    peaks = {"(before steps)": max((s.tree_rss for s in run.samples if s.at < first), default=0)}
    for step, start, end in windows:
        peaks[step] = max((s.tree_rss for s in run.samples if start <= s.at <= end), default=0)
    return peaks


def describe(run: SampledRun) -> str:
    """One line per step: wall seconds and peak RSS, then the run's peaks."""
    profile = run.profile() or {"steps": []}
    peaks = peak_by_step(run)
    lines = [f"{'(before steps)':<40} {'':>8} {peaks.get('(before steps)', 0) / GIB:6.2f} GiB"]
    for step in profile["steps"]:
        lines.append(
            f"{step['step']:<40} {step['wall']:7.1f}s {peaks.get(step['step'], 0) / GIB:6.2f} GiB"
        )
    lines.append(
        f"peak: process tree {run.peak_tree_rss / GIB:.2f} GiB, "
        f"largest process {run.peak_largest_rss / GIB:.2f} GiB"
    )
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    run = run_sampled(argv, echo=sys.stdout)
    print(describe(run))
    return run.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
