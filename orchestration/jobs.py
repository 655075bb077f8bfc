"""Jobs and schedules over the whole graph."""

from __future__ import annotations

import dagster as dg

BUILD_JOB_NAME = "build_everything"


def build_everything_job(partitions_def: dg.PartitionsDefinition) -> dg.UnresolvedAssetJobDefinition:
    """Every asset: the raw bars of the selected business days, then the rest of the graph."""
    return dg.define_asset_job(
        BUILD_JOB_NAME,
        selection=dg.AssetSelection.all(),
        partitions_def=partitions_def,
        description="Bars of the selected days, features, feature store, model, predictions and backtest.",
    )


def nightly_schedule(job: dg.UnresolvedAssetJobDefinition) -> dg.ScheduleDefinition:
    """After the US close on weekdays: ingest the day that just ended and rebuild downstream."""
    return dg.build_schedule_from_partitioned_job(
        job, name="nightly", hour_of_day=22, minute_of_hour=30,
        default_status=dg.DefaultScheduleStatus.STOPPED,
    )
