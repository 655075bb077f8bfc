"""Jobs and schedules over the whole graph."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dagster as dg
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

BUILD_JOB_NAME = "build_everything"
REFRESH_JOB_NAME = "daily_refresh"


def build_everything_job(
    partitions_def: dg.PartitionsDefinition,
) -> dg.UnresolvedAssetJobDefinition:
    """Every asset: the raw bars of the selected business days, then the rest of the graph."""
    return dg.define_asset_job(
        BUILD_JOB_NAME,
        selection=dg.AssetSelection.all(),
        partitions_def=partitions_def,
        description="Bars of the selected days, features, feature store, model, predictions and backtest.",
    )


def daily_refresh_job(
    partitions_def: dg.PartitionsDefinition,
) -> dg.UnresolvedAssetJobDefinition:
    """New days in, without retraining: the bars of the selected days, the features of
    those days (the dbt models continue from what they stored) and the feature store's
    online rows, the inputs of tomorrow's predictions. The Feast registry is left as the
    last full build applied it (a new definitions version comes with a full build)."""
    return dg.define_asset_job(
        REFRESH_JOB_NAME,
        selection=dg.AssetSelection.groups("features")
        | dg.AssetSelection.assets(
            "raw_ohlcv", "feature_lake", "online_features", "latest_features"
        ),
        partitions_def=partitions_def,
        description="Bars of the selected days, their features and the online feature store; no retraining.",
    )


def nightly_schedule(job: dg.UnresolvedAssetJobDefinition) -> dg.ScheduleDefinition:
    """At 00:00 UTC on weekdays (after the US close): ingest the business day that just
    ended and rebuild everything downstream. Useful with ALPHADAG_END=today, which leaves
    the partitions open-ended; stopped by default."""
    return dg.build_schedule_from_partitioned_job(
        job, name="nightly", default_status=dg.DefaultScheduleStatus.STOPPED
    )


def partition_range_tags(keys: list[str]) -> dict[str, str]:
    """Tags that make one run cover partitions ``keys[0] .. keys[-1]`` (single-run backfill)."""
    return {ASSET_PARTITION_RANGE_START_TAG: keys[0], ASSET_PARTITION_RANGE_END_TAG: keys[-1]}


def execute_over_days(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    job_name: str = BUILD_JOB_NAME,
    last_days: int | None = None,
    run_config: Mapping[str, Any] | None = None,
) -> dg.ExecuteInProcessResult:
    """Run a job in this process over every partition (or the `last_days` newest), as one run.

    The raw bars use a single-run backfill policy, so the whole range is one step that
    reads the source once, followed by one dbt build and one pass over the rest.
    """
    job = defs.resolve_job_def(job_name)
    keys = job.partitions_def.get_partition_keys() if job.partitions_def else []
    if not keys:
        raise ValueError("the configured date range holds no business day")
    if last_days is not None:
        keys = keys[-last_days:]
    return job.execute_in_process(
        instance=instance,
        tags=partition_range_tags(keys),
        run_config=dict(run_config or {}),
        raise_on_error=False,
    )
