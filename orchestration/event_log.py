"""The instance's event log: Dagster's SQLite storage, writing a batch of asset events
in one transaction.

A run over a range of daily partitions records one materialization per day of the raw
bars (the UI shows each day's status). Dagster hands such events over as one batch when
``DAGSTER_EVENT_BATCH_SIZE`` is set, but its SQLite storage still commits them one at a
time, twice each (the run's shard and the cross-run index), which made a ten-year
history spend minutes writing events. This storage writes a batch of asset events with
one commit per shard. Everything else (single events, reads, schema) is Dagster's own.

`alphadag` writes an instance configuration that selects it (``orchestration.cli``); a
PostgreSQL instance does not need it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from dagster._core.events import ASSET_EVENTS
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from dagster._core.storage.sqlalchemy_compat import db_result
from dagster._serdes import ConfigurableClassData

# Events per batch; a ten-year range of days fits in one.
EVENT_BATCH_SIZE = 5000


def _is_asset_event(event: EventLogEntry) -> bool:
    return event.is_dagster_event and event.dagster_event_type in ASSET_EVENTS


class BatchingSqliteEventLogStorage(SqliteEventLogStorage):
    """SQLite event log storage whose batches of asset events cost one commit per shard."""

    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData | None, config_value: Mapping[str, Any]
    ) -> BatchingSqliteEventLogStorage:
        return cls(inst_data=inst_data, **config_value)

    def store_event_batch(self, events: Sequence[EventLogEntry]) -> None:
        if (
            len(events) < 2
            or not all(_is_asset_event(event) for event in events)
            or len({event.run_id for event in events}) > 1
        ):
            super().store_event_batch(events)
            return
        statements = [self.prepare_insert_event(event) for event in events]
        with self.run_connection(events[0].run_id) as conn:
            for statement in statements:
                conn.execute(statement)
        # the same rows in the cross-run index, with their tags and each asset's latest entry
        with self.index_transaction() as conn:
            event_ids = []
            for statement in statements:
                with db_result(conn, statement) as result:
                    event_ids.append(result.inserted_primary_key[0])
            self._store_asset_event_tags(conn, events, event_ids)
            for event, event_id in zip(events, event_ids, strict=True):
                self._store_asset_event(conn, event, event_id)
