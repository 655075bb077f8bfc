"""Where the project's non-Python parts live, and the one-time dbt preparation step."""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import threading
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from orchestration.settings import dbt_target_dir, home_from_env

ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = ROOT / "dbt_project"


@dataclass(frozen=True)
class DbtProjectPaths:
    """Where the dbt project, its profile and this home's dbt artefacts are."""

    project_dir: Path
    profiles_dir: Path
    target_path: Path

    @property
    def manifest_path(self) -> Path:
        return self.target_path / "manifest.json"


# `prepare_dbt_manifest` (run by `alphadag prepare`, `run` and `ui`) puts manifest.json in
# the home's dbt target, which the dbt assets load instead of parsing the project on every
# import of the definitions.
DBT_PROJECT = DbtProjectPaths(
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


# Parsed manifests by project digest, shared by every home of this checkout: the parsed
# project does not depend on the home (the lake path is resolved when a model runs).
SHARED_MANIFESTS = DBT_PROJECT_DIR / "target" / "manifests"
# The profile's settings that come from the environment: dbt's partial-parse state is
# valid only for the profile it was parsed with.
PROFILE_ENV = ("ALPHADAG_HOME", "ALPHADAG_DBT_THREADS", "ALPHADAG_DUCKDB_MEMORY_LIMIT")
PARTIAL_PARSE = "partial_parse.msgpack"


def dbt_inputs_digest() -> str:
    """A hash of everything the parsed project (manifest.json) depends on: the project's
    files (not target/ or logs/) and the dbt version."""
    from importlib.metadata import version

    digest = hashlib.sha256()
    for path in sorted(DBT_PROJECT_DIR.rglob("*")):
        relative = path.relative_to(DBT_PROJECT_DIR)
        if path.is_file() and relative.parts[0] not in ("target", "logs", "dbt_packages"):
            digest.update(str(relative).encode())
            digest.update(path.read_bytes())
    digest.update(version("dbt-core").encode())
    return digest.hexdigest()


def partial_parse_digest(project_digest: str) -> str:
    """What dbt's partial-parse state of a home depends on: the project and the profile."""
    digest = hashlib.sha256(project_digest.encode())
    for name in PROFILE_ENV:
        digest.update(f"{name}={os.environ.get(name, '')}\n".encode())
    return digest.hexdigest()


def _staged(target: Path) -> Path:
    """A name beside `target` that no other process or thread writes."""
    return target.with_name(f"{target.name}.{os.getpid()}.{threading.get_ident()}.tmp")


def _install(source: Path, target: Path) -> None:
    """Copy a file into place by rename, so a reader never sees half of it."""
    staged = _staged(target)
    shutil.copyfile(source, staged)
    os.replace(staged, target)


def _write_stamp(path: Path, digest: str) -> None:
    staged = _staged(path)
    staged.write_text(digest)
    os.replace(staged, path)


def _stamped(path: Path, digest: str) -> bool:
    stamp = path.with_suffix(".inputs")
    return path.exists() and stamp.exists() and stamp.read_text() == digest


def prepare_dbt_manifest(target: Path = DBT_PROJECT.target_path) -> Path:
    """Put the parsed project (manifest.json) in the home's dbt target; return its path.

    The definitions load it instead of parsing the project on every import. The manifest
    is the same for every home, so a new home copies the one any home of this checkout
    parsed (`SHARED_MANIFESTS`) and only the first home after an edit of the project
    pays for a parse (seconds).
    """
    manifest = target / "manifest.json"
    digest = dbt_inputs_digest()
    if _stamped(manifest, digest):
        return manifest
    shared = SHARED_MANIFESTS / digest[:24] / "manifest.json"
    if shared.exists():
        manifest.parent.mkdir(parents=True, exist_ok=True)
        _install(shared, manifest)
        _write_stamp(manifest.with_suffix(".inputs"), digest)
        return manifest
    _parse_for_home(target, digest)
    return manifest


def prepare_dbt_partial_parse(target: Path = DBT_PROJECT.target_path) -> bool:
    """Make dbt's partial-parse state of this home current, so that each `dbt build`
    starts from it instead of parsing the whole project; False when it already was.

    It depends on the home's profile (the warehouse path), so each new home parses once;
    `alphadag run` starts this in the background (`prepare_dbt_partial_parse_in_background`)
    while the first steps ingest bars, and the dbt step waits for it here.
    """
    project_digest = dbt_inputs_digest()
    if _stamped(target / PARTIAL_PARSE, partial_parse_digest(project_digest)):
        return False
    _parse_for_home(target, project_digest)
    return True


def prepare_dbt_partial_parse_in_background() -> threading.Thread:
    """`prepare_dbt_partial_parse` in a thread (a daemon: a run that ends first does not
    wait for it; the next run parses again)."""
    thread = threading.Thread(
        target=prepare_dbt_partial_parse, name="dbt-partial-parse", daemon=True
    )
    thread.start()
    return thread


def _parse_for_home(target: Path, project_digest: str) -> None:
    """Parse the project for the profile of the environment's home; install the manifest
    and the partial-parse state in its dbt `target` and the manifest in the shared cache.

    Several `alphadag` processes may start at once (a nightly run, a manual one, the UI)
    and dbt writes its files in place: parses take turns under a lock, in their own
    target folder, and their files are then renamed into place (stamps last), so a
    process loading them never reads half of one, nor does a run after one killed
    mid-parse.
    """
    manifest = target / "manifest.json"
    parse_target = target / "parse"
    parse_target.mkdir(parents=True, exist_ok=True)
    partial = target / PARTIAL_PARSE
    partial_digest = partial_parse_digest(project_digest)
    argv, env = dbt_cli(
        "parse", "--quiet", "--target-path", str(parse_target), "--log-path", str(parse_target)
    )
    with (parse_target / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, or the process dies
        # another process (or thread) parsed while this one waited
        if _stamped(partial, partial_digest) and _stamped(manifest, project_digest):
            return
        completed = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
        if completed.returncode != 0:
            raise RuntimeError(f"dbt parse failed:\n{completed.stdout}{completed.stderr}")
        shared = SHARED_MANIFESTS / project_digest[:24] / "manifest.json"
        shared.parent.mkdir(parents=True, exist_ok=True)
        _install(parse_target / "manifest.json", shared)
        # a checkout holds one version of the project: earlier parses are not needed
        for folder in SHARED_MANIFESTS.iterdir():
            if folder != shared.parent:
                shutil.rmtree(folder, ignore_errors=True)
        _install(parse_target / "manifest.json", manifest)
        _write_stamp(manifest.with_suffix(".inputs"), project_digest)
        # dagster-dbt copies the target's partial_parse.msgpack into each invocation's
        # own target, and dbt starts from it
        _install(parse_target / PARTIAL_PARSE, partial)
        _write_stamp(partial.with_suffix(".inputs"), partial_digest)
