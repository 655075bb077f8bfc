"""Where the project's non-Python parts live, and the one-time dbt preparation step."""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

from dagster_dbt import DbtProject

from orchestration.settings import dbt_target_dir, home_from_env

ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = ROOT / "dbt_project"

# Constructing DbtProject reads no SQL; `prepare_dbt_manifest` (run by `alphadag
# prepare`, `run` and `ui`) writes manifest.json into the home's dbt target, which the
# dbt assets load instead of parsing the project on every import of the definitions.
DBT_PROJECT = DbtProject(
    project_dir=DBT_PROJECT_DIR,
    profiles_dir=DBT_PROJECT_DIR,
    target_path=dbt_target_dir(home_from_env()),
)


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


def dbt_inputs_digest() -> str:
    """A hash of everything a parse of the project reads: its files (not target/ or
    logs/), the warehouse path the profile resolves to, and the dbt version."""
    from importlib.metadata import version

    digest = hashlib.sha256()
    for path in sorted(DBT_PROJECT_DIR.rglob("*")):
        relative = path.relative_to(DBT_PROJECT_DIR)
        if path.is_file() and relative.parts[0] not in ("target", "logs", "dbt_packages"):
            digest.update(str(relative).encode())
            digest.update(path.read_bytes())
    digest.update(os.environ.get("ALPHADAG_HOME", "").encode())
    digest.update(version("dbt-core").encode())
    return digest.hexdigest()


def prepare_dbt_manifest() -> Path:
    """Parse the dbt project into the home's dbt target and return the manifest's path.

    A parse costs a dbt process (seconds): it is skipped when the manifest was written
    from the same inputs (`dbt_inputs_digest`, stored beside it). Several `alphadag`
    processes may start at once (a nightly run, a manual one, the UI), and dbt writes its
    files in place: parses take turns under a lock, in their own target folder (which
    keeps dbt's partial-parse state), and the manifest, the partial-parse file and the
    stamp are then renamed into place, so a process loading them never reads half of one
    (nor does a run after one killed mid-parse).
    """
    manifest = DBT_PROJECT.manifest_path
    stamp = manifest.with_name("manifest.inputs")
    digest = dbt_inputs_digest()

    def up_to_date() -> bool:
        return manifest.exists() and stamp.exists() and stamp.read_text() == digest

    if up_to_date():
        return manifest
    parse_target = manifest.parent / "parse"
    parse_target.mkdir(parents=True, exist_ok=True)
    argv, env = dbt_cli(
        "parse", "--quiet", "--target-path", str(parse_target), "--log-path", str(parse_target)
    )
    with (parse_target / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, or the process dies
        if up_to_date():  # another process parsed while this one waited
            return manifest
        completed = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
        if completed.returncode != 0:
            raise RuntimeError(f"dbt parse failed:\n{completed.stdout}{completed.stderr}")
        # dagster-dbt starts each dbt build from the target's partial_parse.msgpack
        for name in ("manifest.json", "partial_parse.msgpack"):
            staged = manifest.with_name(f"{name}.{os.getpid()}.tmp")
            shutil.copyfile(parse_target / name, staged)
            os.replace(staged, manifest.with_name(name))
        staged_stamp = stamp.with_name(f"{stamp.name}.{os.getpid()}.tmp")
        staged_stamp.write_text(digest)
        os.replace(staged_stamp, stamp)
    return manifest
