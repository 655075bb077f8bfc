"""Jobs and schedules over the whole graph."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from zoneinfo import ZoneInfo

import dagster as dg
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from orchestration.partitions import PARTITION_FORMAT
from orchestration.settings import Settings

BUILD_JOB_NAME = "build_everything"
REFRESH_JOB_NAME = "daily_refresh"
NIGHTLY_SCHEDULE_NAME = "nightly"


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


# What a nightly run materializes besides the dbt models. Not in it: the Feast registry
# (a new definitions version comes with a full build), the training set, the model zoo,
# the champion gate, the walk-forward refit, `predictions` of the whole test period and
# the model evaluation: everything that retrains or reads the whole feature history.
REFRESH_ASSETS = (
    "raw_ohlcv",
    "feature_lake",
    "online_features",
    "latest_features",
    "signals",
    "model_metrics",
    "backtest",
)


def daily_refresh_job(
    partitions_def: dg.PartitionsDefinition,
) -> dg.UnresolvedAssetJobDefinition:
    """New days in, without retraining: the bars of the selected days, the features of
    those days (the dbt models continue from what they stored, the feature export
    rewrites their month, the online store loads only them), the champion's scores of
    the newest day and tomorrow's target weights, then the model's metrics and the
    backtest over the days that have labels now (the champion's live scores extend its
    walk-forward ones, see `assets.models.champion_scores`)."""
    return dg.define_asset_job(
        REFRESH_JOB_NAME,
        selection=dg.AssetSelection.groups("features") | dg.AssetSelection.assets(*REFRESH_ASSETS),
        partitions_def=partitions_def,
        description=(
            "Bars of the selected days, their features, the online feature store, tomorrow's "
            "signals, the model's metrics and the backtest; no retraining."
        ),
    )


def nightly_schedule(
    job: dg.UnresolvedAssetJobDefinition,
    settings: Settings,
) -> dg.ScheduleDefinition:
    """Weekdays at `settings.schedule_hour` in `settings.schedule_timezone` (18:00 New York
    by default, after the US close): `daily_refresh` of the business day of that date.

    Made for ALPHADAG_END=today (open-ended partitions); on a fixed range a tick after
    its last day is skipped with the reason. Stopped unless ALPHADAG_SCHEDULE_RUNNING is
    set: a schedule that starts itself would write to the home of whoever opens the UI.
    """
    timezone = ZoneInfo(settings.schedule_timezone)
    last_day = None if settings.open_ended else settings.end

    @dg.schedule(
        name=NIGHTLY_SCHEDULE_NAME,
        job=job,
        cron_schedule=f"0 {settings.schedule_hour} * * 1-5",
        execution_timezone=settings.schedule_timezone,
        default_status=(
            dg.DefaultScheduleStatus.RUNNING
            if settings.schedule_running
            else dg.DefaultScheduleStatus.STOPPED
        ),
        description=(
            f"Weekdays at {settings.schedule_hour:02d}:00 {settings.schedule_timezone}: "
            "daily_refresh of the business day that just ended."
        ),
    )
    def nightly(context: dg.ScheduleEvaluationContext) -> dg.RunRequest | dg.SkipReason:
        day = context.scheduled_execution_time.astimezone(timezone).date()
        if day < settings.start or (last_day is not None and day > last_day):
            return dg.SkipReason(
                f"{day} is outside the configured range {settings.start}..{last_day}: "
                "set ALPHADAG_END=today for a nightly loop"
            )
        key = day.strftime(PARTITION_FORMAT)
        # the run key makes a second evaluation of the same tick launch nothing
        return dg.RunRequest(run_key=key, partition_key=key)

    return nightly


def partition_range_tags(keys: list[str]) -> dict[str, str]:
    """Tags that make one run cover partitions ``keys[0] .. keys[-1]`` (single-run backfill)."""
    return {ASSET_PARTITION_RANGE_START_TAG: keys[0], ASSET_PARTITION_RANGE_END_TAG: keys[-1]}


def execute_over_days(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    job_name: str = BUILD_JOB_NAME,
    last_days: int | None = None,
    run_config: Mapping[str, Any] | None = None,
    until: Sequence[str] = (),
    start_from: Sequence[str] = (),
) -> dg.ExecuteInProcessResult:
    """Run a job in this process over every partition (or the `last_days` newest), as one run;
    with `until`, only those assets of the job and what they depend on; with
    `start_from`, only those assets and what depends on them (their other inputs as last
    materialized); with both, the assets between them.

    The raw bars use a single-run backfill policy, so the whole range is one step that
    reads the source once, followed by one dbt build and one pass over the rest.
    """
    job = defs.resolve_job_def(job_name)
    in_job = set(job.asset_layer.selected_asset_keys)
    graph = defs.resolve_asset_graph()
    selection = set(in_job)
    for option, assets, direction in (
        ("--until", until, "upstream"),
        ("--from", start_from, "downstream"),
    ):
        reached: set[dg.AssetKey] = set()
        for asset in assets:
            target = dg.AssetKey.from_user_string(asset)
            if target not in in_job:
                known = ", ".join(sorted(key.to_user_string() for key in in_job))
                raise ValueError(f"{option} {asset}: no such asset in {job_name} (one of: {known})")
            reached |= getattr(dg.AssetSelection.assets(target), direction)().resolve(graph)
        if assets:
            selection &= reached
    if not selection:
        raise ValueError(
            f"--from {' '.join(start_from)} --until {' '.join(until)}: no asset lies between them"
        )
    keys = job.partitions_def.get_partition_keys() if job.partitions_def else []
    if not keys:
        raise ValueError("the configured date range holds no business day")
    if last_days is not None:
        keys = keys[-last_days:]
    return job.execute_in_process(
        instance=instance,
        tags=partition_range_tags(keys),
        asset_selection=None if selection == in_job else sorted(selection),
        run_config=dict(run_config or {}),
        raise_on_error=False,
    )
