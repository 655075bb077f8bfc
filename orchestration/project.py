"""Where the project's non-Python parts live, and the one-time dbt preparation step."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

from dagster_dbt import DbtProject

ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = ROOT / "dbt_project"

# Constructing DbtProject reads no SQL; `prepare_dbt_manifest` (run by `make setup`,
# `alphadag run` and `dagster dev`) writes target/manifest.json, which the dbt assets
# load instead of parsing the project on every import of the definitions.
DBT_PROJECT = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)


def dbt_executable() -> str:
    """The dbt of this environment, even when its bin folder is not on PATH."""
    beside_python = Path(sys.executable).parent / "dbt"
    return str(beside_python) if beside_python.exists() else "dbt"


# The partition window of a dbt run: first and last day, inclusive.
WINDOW_ENV = ("ALPHADAG_WINDOW_START", "ALPHADAG_WINDOW_END")


def window_env(first_day: date, last_day: date) -> dict[str, str]:
    """The environment that limits a dbt run of the incremental models to the days
    first_day..last_day (inclusive); see dbt_project/macros/incremental.sql. An
    environment variable rather than `--vars`: new vars force dbt to re-parse the project."""
    if last_day < first_day:
        raise ValueError(f"empty dbt window: {first_day} to {last_day}")
    return dict(zip(WINDOW_ENV, (first_day.isoformat(), last_day.isoformat()), strict=True))


def dbt_cli(
    command: str,
    *args: str,
    home: Path | None = None,
    window: tuple[date, date] | None = None,
) -> tuple[list[str], dict[str, str]]:
    """The argument list and environment of a dbt command on this project, against the
    warehouse under `home` (default: the environment's ALPHADAG_HOME), over the partition
    `window` (first and last day; default: everything)."""
    argv = [
        dbt_executable(),
        command,
        "--project-dir",
        str(DBT_PROJECT_DIR),
        "--profiles-dir",
        str(DBT_PROJECT_DIR),
        *args,
    ]
    env = {**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    if home is not None:
        env["ALPHADAG_HOME"] = str(home)
    for name in WINDOW_ENV:
        env.pop(name, None)
    if window is not None:
        env.update(window_env(*window))
    return argv, env


# dbt's own output folder for parses, beside the manifest that everything reads.
PARSE_TARGET = DBT_PROJECT_DIR / "target" / "parse"


def prepare_dbt_manifest() -> Path:
    """Parse the dbt project into target/manifest.json and return its path.

    Several `alphadag` processes may start at once (a nightly run, a manual one, the
    UI), and dbt writes its files in place: parses take turns under a lock, in their own
    target folder (which keeps dbt's partial-parse state), and the manifest and the
    partial-parse file are then renamed into target/, so a process loading them never
    reads half of one (nor does a run after one killed mid-parse).
    """
    PARSE_TARGET.mkdir(parents=True, exist_ok=True)
    argv, env = dbt_cli("parse", "--quiet", "--target-path", str(PARSE_TARGET))
    with (PARSE_TARGET / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, or the process dies
        completed = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
        if completed.returncode != 0:
            raise RuntimeError(f"dbt parse failed:\n{completed.stdout}{completed.stderr}")
        # dagster-dbt starts each dbt build from target/partial_parse.msgpack
        for name in ("manifest.json", "partial_parse.msgpack"):
            staged = DBT_PROJECT.manifest_path.with_name(f"{name}.{os.getpid()}.tmp")
            shutil.copyfile(PARSE_TARGET / name, staged)
            os.replace(staged, DBT_PROJECT.manifest_path.with_name(name))
    return DBT_PROJECT.manifest_path
