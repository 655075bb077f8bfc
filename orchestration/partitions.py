"""Business-day partitions of the raw bars."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import dagster as dg

PARTITION_FORMAT = "%Y-%m-%d"


def business_day_partitions(start: date, end: date | None) -> dg.TimeWindowPartitionsDefinition:
    """One partition per weekday from `start` to `end` inclusive (open-ended for None,
    where a new partition appears as each business day closes).

    Market holidays stay in: the market-data layer writes an empty partition for a
    closed day, so a backfill never waits on a partition that can have no data.
    """
    return dg.TimeWindowPartitionsDefinition(
        cron_schedule="0 0 * * 1-5",
        fmt=PARTITION_FORMAT,
        start=datetime.combine(start, time()),
        # the window of `end` closes at the next weekday's midnight
        end=datetime.combine(_next_weekday(end), time()) if end else None,
        timezone="UTC",
    )


def _next_weekday(day: date) -> date:
    nxt = day + timedelta(days=1)
    while nxt.weekday() >= 5:
        nxt += timedelta(days=1)
    return nxt
