"""Run every `bench/bench_*.py` module and write bench/results/latest.json.

    uv run python -m bench            # full sizes
    uv run python -m bench --quick    # small sizes, a smoke run
    uv run python -m bench ingest     # only modules whose name contains "ingest"

Each module exposes `run(quick: bool) -> list[BenchResult]`.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from pathlib import Path

from bench.harness import BenchResult

RESULTS = Path(__file__).resolve().parent / "results" / "latest.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("only", nargs="*", help="run modules whose name contains one of these")
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    args = parser.parse_args(argv)

    modules = sorted(p.stem for p in Path(__file__).parent.glob("bench_*.py"))
    if args.only:
        modules = [m for m in modules if any(word in m for word in args.only)]
    results: list[BenchResult] = []
    for module_name in modules:
        print(f"== {module_name}", flush=True)
        module = importlib.import_module(f"bench.{module_name}")
        for result in module.run(quick=args.quick):
            verdict = "holds" if result.holds else "MISSES"
            print(
                f"   {result.name}: ratio {result.ratio:.4f} vs goal {result.goal} ({verdict}); "
                f"{result.seconds:.3f}s against {result.baseline} {result.baseline_seconds:.3f}s",
                flush=True,
            )
            results.append(result)

    if args.quick:
        print("smoke run: bench/results/latest.json left as it was")
        return 0
    # a run of some modules replaces their rows and keeps the others
    fresh = {r.name for r in results}
    kept = (
        [r for r in json.loads(RESULTS.read_text()) if r["name"] not in fresh]
        if RESULTS.exists()
        else []
    )
    rows = sorted(kept + [r.as_dict() for r in results], key=lambda row: row["name"])
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    tmp = RESULTS.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(rows, indent=2) + "\n")
    os.replace(tmp, RESULTS)
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
