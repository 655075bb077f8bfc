"""`alphadag gc`: keep the Dagster instance and dbt's artefacts from growing with every run.

Each run leaves its event log (a SQLite file per run, plus rows in the shared index),
its compute logs and, per dbt invocation, a folder of dbt artefacts (manifest, run
results, log). Nothing prunes them, so a home grows with every run. This removes the
finished runs beyond the newest `keep`, except a run that holds the newest
materialization of some asset partition: deleting it would make Dagster (the UI,
schedules, sensors) believe that partition was never built.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import duckdb

from orchestration.warehouse import quote_identifier, quote_literal

FINISHED = (dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED)
# dagster-dbt names each invocation's target folder <op>-<first 7 of the run id>-<random>
_DBT_INVOCATION = re.compile(r"-(?P<run>[0-9a-f]{7})-[0-9a-f]{7}$")
# A rebuilt table leaves its old blocks free in the file, which DuckDB reuses but never
# returns: compact once they reach this many bytes and this share of the file.
COMPACT_MIN_FREE_BYTES = 32 * 1024 * 1024
COMPACT_MIN_FREE_SHARE = 0.2
ACTIVE = (
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
)


@dataclass(frozen=True)
class GcReport:
    deleted_runs: int
    kept_runs: int
    kept_for_partitions: int
    bytes_before: int
    bytes_after: int


def collect_garbage(
    instance: dg.DagsterInstance, dagster_home: Path, dbt_target: Path, keep: int
) -> GcReport:
    """Delete the finished runs beyond the newest `keep` (see the module docstring), their
    files and dbt folders, and compact the instance's SQLite files."""
    if keep < 0:
        raise ValueError(f"keep must be >= 0, got {keep}")
    before = folder_bytes(dagster_home) + folder_bytes(dbt_target)
    runs = instance.get_runs()  # newest first
    protected = runs_holding_latest_materializations(instance)
    old = [run for run in runs[keep:] if run.status in FINISHED and run.run_id not in protected]
    for run in old:
        instance.delete_run(run.run_id)
        _remove_run_files(dagster_home, run.run_id)
    kept = {run.run_id[:7] for run in runs} - {run.run_id[:7] for run in old}
    _remove_dbt_invocations(dbt_target, keep_runs=kept)
    _compact_sqlite(dagster_home)
    return GcReport(
        deleted_runs=len(old),
        kept_runs=len(runs) - len(old),
        kept_for_partitions=sum(1 for run in runs[keep:] if run.run_id in protected),
        bytes_before=before,
        bytes_after=folder_bytes(dagster_home) + folder_bytes(dbt_target),
    )


def compact_warehouse(
    instance: dg.DagsterInstance, path: Path, min_free_bytes: int = COMPACT_MIN_FREE_BYTES
) -> tuple[int, int] | None:
    """Rewrite ``warehouse.duckdb`` without its free blocks; (bytes before, after) or None.

    Each run rebuilds tables, and the replaced versions' blocks stay in the file as free
    space: a second run on the same data would add about half the file. When the free
    blocks reach ``min_free_bytes`` and :data:`COMPACT_MIN_FREE_SHARE` of the file,
    the database is copied into a new file (``COPY FROM DATABASE``) while this process
    holds DuckDB's write lock, and the copy replaces it (:func:`os.replace`). Skipped
    (None) while any run is queued or in progress, or when another process holds the
    file (a run's dbt, a notebook): the next clean-up tries again.
    """
    if not path.exists() or instance.get_runs(dg.RunsFilter(statuses=list(ACTIVE)), limit=1):
        return None
    staged = path.with_name(f".{path.name}.compact.{os.getpid()}")
    try:
        con = duckdb.connect(str(path))
    except (duckdb.IOException, duckdb.ConnectionException):
        return None  # another process (or connection) has it open
    try:
        size = con.execute("pragma database_size").fetchone()
        block_size, total_blocks, free_blocks = int(size[2]), int(size[3]), int(size[5])
        free = block_size * free_blocks
        if free < min_free_bytes or free_blocks < COMPACT_MIN_FREE_SHARE * total_blocks:
            return None
        before = path.stat().st_size
        staged.unlink(missing_ok=True)
        con.execute(f"attach {quote_literal(str(staged))} as compacted")
        current = con.execute("select current_database()").fetchone()[0]
        con.execute(f"copy from database {quote_identifier(current)} to compacted")
        # everything into the file itself: a write-ahead log would not travel with it
        con.execute("checkpoint compacted")
        con.execute("detach compacted")
        if staged.with_name(staged.name + ".wal").exists():
            raise RuntimeError(f"the compacted copy of {path} kept a write-ahead log")
    except BaseException:
        con.close()
        staged.unlink(missing_ok=True)
        raise
    # closed first, so that nothing of the old file's connection lands beside the new one;
    # no run is active, so no writer is waiting for the lock in between
    con.close()
    os.replace(staged, path)
    return before, path.stat().st_size


def runs_holding_latest_materializations(instance: dg.DagsterInstance) -> set[str]:
    """Run ids of the newest materialization of every asset and asset partition."""
    run_ids: set[str] = set()
    for key in instance.get_asset_keys():
        storage_ids = set(
            instance.get_latest_storage_id_by_partition(
                key, dg.DagsterEventType.ASSET_MATERIALIZATION
            ).values()
        )
        if storage_ids:
            records = instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=key, storage_ids=sorted(storage_ids)),
                limit=len(storage_ids),
            ).records
            run_ids.update(record.run_id for record in records)
        latest = instance.get_latest_materialization_event(key)
        if latest is not None:
            run_ids.add(latest.run_id)
    return run_ids


def folder_bytes(folder: Path) -> int:
    if not folder.exists():
        return 0
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def _remove_run_files(dagster_home: Path, run_id: str) -> None:
    """The run's own event-log shard and compute logs (default SQLite/local storage)."""
    shard = dagster_home / "history" / "runs" / f"{run_id}.db"
    for path in (shard, shard.with_name(shard.name + "-wal"), shard.with_name(shard.name + "-shm")):
        path.unlink(missing_ok=True)
    shutil.rmtree(dagster_home / "storage" / run_id, ignore_errors=True)


def _remove_dbt_invocations(dbt_target: Path, keep_runs: set[str]) -> None:
    if not dbt_target.is_dir():
        return
    for folder in dbt_target.iterdir():
        match = _DBT_INVOCATION.search(folder.name)
        if folder.is_dir() and match and match["run"] not in keep_runs:
            shutil.rmtree(folder, ignore_errors=True)


def _compact_sqlite(dagster_home: Path) -> None:
    """VACUUM the shared SQLite files: deleted rows otherwise keep their pages."""
    for path in (
        dagster_home / "history" / "runs.db",
        dagster_home / "history" / "runs" / "index.db",
        dagster_home / "schedules" / "schedules.db",
    ):
        if path.exists():
            with closing(sqlite3.connect(path)) as con:
                con.execute("VACUUM")
                con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
