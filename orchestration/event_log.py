"""The instance's event log: Dagster's SQLite storage with cheaper writes.

Measured on these machines, Dagster's SQLite event log spends 20-80 ms on every event:
for each event it creates an engine, opens the run's database file and the cross-run
index, commits each with an fsync, and closes them, and the close of a database's last
connection checkpoints its write-ahead log (another fsync). A run records hundreds of
events (the dbt assets' materializations and checks) and, over a range of daily
partitions, one materialization per day of the raw bars (the UI shows each day's status):
a ten-year history spent minutes writing events. This storage changes two things:

- connections stay open (a few recent databases per process), and commits use
  ``synchronous=NORMAL``, SQLite's setting for write-ahead logs: a commit is durable once
  the log is checkpointed, and an interrupted process never corrupts the database (a power
  cut can lose the last events, not break the file);
- a batch of asset events (Dagster hands a step's asset events over in batches when
  ``DAGSTER_EVENT_BATCH_SIZE`` is set) is written with one commit per database.

Everything else (reads, schema, other events) is Dagster's own.

`alphadag` writes an instance configuration that selects it (``orchestration.cli``); a
PostgreSQL instance does not need it.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from dagster._core.events import ASSET_EVENTS
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from dagster._core.storage.sqlalchemy_compat import db_result
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from dagster._serdes import ConfigurableClassData
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import QueuePool

# Events per batch; a ten-year range of days fits in one.
EVENT_BATCH_SIZE = 5000
# Databases kept open per process: the index, and the runs being written.
OPEN_DATABASES = 4


def _relaxed_sync(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.execute("PRAGMA synchronous=NORMAL")


def _is_asset_event(event: EventLogEntry) -> bool:
    return event.is_dagster_event and event.dagster_event_type in ASSET_EVENTS


class BatchingSqliteEventLogStorage(SqliteEventLogStorage):
    """SQLite event log storage whose batches of asset events cost one commit per shard."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None) -> None:
        self._engines: OrderedDict[str, Engine] = OrderedDict()
        super().__init__(base_dir, inst_data=inst_data)

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        with self._db_lock:
            engine = self._engine(shard)
            with engine.connect() as conn, conn.begin():
                yield conn

    def _engine(self, shard: str) -> Engine:
        """An open engine for the shard's database, the most recent few kept."""
        if shard in self._engines:
            self._engines.move_to_end(shard)
            return self._engines[shard]
        engine = create_engine(
            self.conn_string_for_shard(shard),
            poolclass=QueuePool,
            pool_size=1,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS},
        )
        event.listen(engine, "connect", _relaxed_sync)
        if shard not in self._initialized_dbs:
            self._initdb(engine)
            self._initialized_dbs.add(shard)
        self._engines[shard] = engine
        while len(self._engines) > OPEN_DATABASES:
            _, oldest = self._engines.popitem(last=False)
            oldest.dispose()
        return engine

    def _dispose_engines(self) -> None:
        while self._engines:
            self._engines.popitem()[1].dispose()

    def wipe(self) -> None:
        self._dispose_engines()
        super().wipe()

    def dispose(self) -> None:
        self._dispose_engines()
        super().dispose()

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
