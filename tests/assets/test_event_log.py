"""The batching event log: a range run's per-day materializations, stored in one go."""

from pathlib import Path

import dagster as dg
import pytest
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from orchestration.event_log import EVENT_BATCH_SIZE, BatchingSqliteEventLogStorage

DAYS = dg.DailyPartitionsDefinition(start_date="2024-01-01", end_date="2024-02-01")


@dg.asset(partitions_def=DAYS, backfill_policy=dg.BackfillPolicy.single_run())
def daily(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"days": len(context.partition_keys)})


def _run_range(home: Path, batching: bool, monkeypatch: pytest.MonkeyPatch) -> dg.DagsterInstance:
    config = "telemetry:\n  enabled: false\n"
    if batching:
        config += (
            "event_log_storage:\n  module: orchestration.event_log\n"
            "  class: BatchingSqliteEventLogStorage\n"
            f"  config:\n    base_dir: {home / 'history' / 'runs'}\n"
        )
        monkeypatch.setenv("DAGSTER_EVENT_BATCH_SIZE", str(EVENT_BATCH_SIZE))
    home.mkdir()
    (home / "dagster.yaml").write_text(config)
    instance = dg.DagsterInstance.from_config(str(home))
    keys = DAYS.get_partition_keys()
    job = dg.Definitions(assets=[daily]).resolve_implicit_global_asset_job_def()
    result = job.execute_in_process(
        instance=instance,
        tags={ASSET_PARTITION_RANGE_START_TAG: keys[0], ASSET_PARTITION_RANGE_END_TAG: keys[-1]},
    )
    assert result.success
    return instance


def test_a_batch_stores_the_same_partitions_and_latest_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plain = _run_range(tmp_path / "plain", batching=False, monkeypatch=monkeypatch)
    batched = _run_range(tmp_path / "batched", batching=True, monkeypatch=monkeypatch)
    assert isinstance(batched.event_log_storage, BatchingSqliteEventLogStorage)
    key = daily.key
    expected = set(DAYS.get_partition_keys())
    for instance in (plain, batched):
        assert instance.event_log_storage.get_materialized_partitions(key) == expected
        latest = instance.get_latest_materialization_event(key)
        assert latest is not None and latest.dagster_event.partition == "2024-01-31"
        records = instance.fetch_materializations(key, limit=1000).records
        assert len(records) == len(expected)
    # the cross-run index answers partition queries after a storage id, as dbt's window needs
    first = batched.fetch_materializations(key, limit=1, ascending=True).records[0]
    after = batched.event_log_storage.get_materialized_partitions(
        key, after_cursor=first.storage_id
    )
    assert after == expected - {"2024-01-01"}


def test_events_written_through_open_connections_are_seen_by_a_new_instance(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    batched = _run_range(tmp_path / "home", batching=True, monkeypatch=monkeypatch)
    for day in range(20):
        batched.report_runless_asset_event(dg.AssetMaterialization("single", metadata={"n": day}))
    # another process (the web server) opens the same files with Dagster's own storage
    reader = dg.DagsterInstance.from_config(str(tmp_path / "home"))
    reader_storage = SqliteEventLogStorage(str(tmp_path / "home" / "history" / "runs"))
    for storage in (reader.event_log_storage, reader_storage):
        assert storage.get_materialized_partitions(daily.key) == set(DAYS.get_partition_keys())
    latest = reader.get_latest_materialization_event(dg.AssetKey("single"))
    assert latest is not None
    assert latest.asset_materialization.metadata["n"] == dg.IntMetadataValue(19)
    batched.dispose()
