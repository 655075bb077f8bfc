"""Business-day partitions of the raw bars."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time, timedelta

import dagster as dg

PARTITION_FORMAT = "%Y-%m-%d"


def business_day_partitions(start: date, end: date | None) -> dg.TimeWindowPartitionsDefinition:
    """One partition per weekday from `start` to `end` inclusive (open-ended for None,
    where a new partition appears as each business day closes).

    Market holidays stay in: the market-data layer writes an empty partition for a
    closed day, so a backfill never waits on a partition that can have no data.

    The current day's partition exists from its midnight (UTC) on (`end_offset=1`),
    not only once its window has closed: the nightly schedule runs at the market's close
    (18:00 in New York is 22:00 or 23:00 UTC), before the UTC day ends.
    """
    return dg.TimeWindowPartitionsDefinition(
        cron_schedule="0 0 * * 1-5",
        fmt=PARTITION_FORMAT,
        start=datetime.combine(start, time()),
        # the window of `end` closes at the next weekday's midnight
        end=datetime.combine(_next_weekday(end), time()) if end else None,
        timezone="UTC",
        end_offset=1,
    )


def _next_weekday(day: date) -> date:
    nxt = day + timedelta(days=1)
    while nxt.weekday() >= 5:
        nxt += timedelta(days=1)
    return nxt


def partition_end(partitions_def: dg.TimeWindowPartitionsDefinition, day: date) -> date:
    """The last calendar day of the partition of `day` (a Friday's covers the weekend)."""
    window = partitions_def.time_window_for_partition_key(day.strftime(PARTITION_FORMAT))
    return (window.end - timedelta(days=1)).date()


def raw_days_since(
    instance: dg.DagsterInstance,
    raw_key: dg.AssetKey,
    downstream_keys: Iterable[dg.AssetKey],
) -> tuple[date, date] | None:
    """First and last day of the `raw_key` partitions materialized since the oldest of the
    latest materializations of `downstream_keys` (every materialized day when one of them
    never materialized), or None when there is no such day.

    One indexed query of the event log, whatever the number of partitions.
    """
    keys = list(downstream_keys)
    records = instance.get_asset_records(keys)
    cursors = [
        record.asset_entry.last_materialization_record.storage_id
        for record in records
        if record.asset_entry.last_materialization_record is not None
    ]
    after = min(cursors) if len(cursors) == len(keys) else None
    days = instance.event_log_storage.get_materialized_partitions(raw_key, after_cursor=after)
    if not days:
        return None
    return date.fromisoformat(min(days)), date.fromisoformat(max(days))
