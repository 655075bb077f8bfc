"""Sensors of the market-data layer: the inbox, and new symbols in the source.

Both start runs of ``raw_ohlcv`` only (the ``ingest_raw_ohlcv`` job); the features and
the rest of the graph are rebuilt by the next ``build_everything`` run or the nightly
schedule, so that dropping ten files does not train ten models.
"""

from __future__ import annotations

import hashlib
from datetime import date

import dagster as dg

from ingest.inbox import archive, archived_copy, content_hash, pending_files, reject
from ingest.source_spec import DIRECTORY_KINDS
from orchestration.jobs import partition_range_tags
from orchestration.settings import Settings

INGEST_JOB_NAME = "ingest_raw_ohlcv"
INBOX_TAG = "alphadag/inbox_file"


def build_ingest_job(partitions_def: dg.PartitionsDefinition) -> dg.UnresolvedAssetJobDefinition:
    """``raw_ohlcv`` alone, for the partitions a sensor asks for."""
    return dg.define_asset_job(
        INGEST_JOB_NAME,
        selection=dg.AssetSelection.assets("raw_ohlcv"),
        partitions_def=partitions_def,
        description="Raw bars only (inbox files, new symbols); downstream waits for the next build.",
    )


def _keys_between(partitions_def: dg.PartitionsDefinition, first: date, last: date) -> list[str]:
    return [
        key
        for key in partitions_def.get_partition_keys()
        if first <= date.fromisoformat(key) <= last
    ]


def build_inbox_sensor(
    settings: Settings,
    job: dg.UnresolvedAssetJobDefinition,
    partitions_def: dg.PartitionsDefinition,
) -> dg.SensorDefinition:
    @dg.sensor(
        name="inbox",
        job=job,
        minimum_interval_seconds=30,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            "Ingests each CSV or Parquet file dropped in $ALPHADAG_HOME/inbox/ once (run "
            "key: the SHA-256 of its content), upserting its good rows into raw_ohlcv, "
            "then keeps it in inbox/archive/ (or inbox/rejected/ with the reason)."
        ),
    )
    def inbox(context: dg.SensorEvaluationContext):
        from ingest.ingestion import partition_day
        from ingest.sources import read_bars_file

        inbox_dir = settings.home / "inbox"
        requested = 0
        for path in pending_files(inbox_dir):
            digest = content_hash(path)
            if archived_copy(inbox_dir, digest) is not None:
                context.log.info(f"{path.name}: same content as an ingested file; archived")
                archive(path, digest)
                continue
            try:
                bars = read_bars_file(path)
            except ValueError as exc:
                context.log.warning(f"{path.name}: rejected: {exc}")
                reject(path, str(exc))
                continue
            days = partition_day(bars["date"]) if len(bars) else None
            keys = _keys_between(partitions_def, min(days), max(days)) if days is not None else []
            if not keys:
                message = (
                    f"{path}: no bar dated inside the configured range "
                    f"{settings.start} .. {settings.end}"
                )
                context.log.warning(message)
                reject(path, message)
                continue
            claimed = archive(path, digest)
            requested += 1
            yield dg.RunRequest(
                run_key=f"inbox-{digest}",
                run_config={"ops": {"raw_ohlcv": {"config": {"inbox_file": str(claimed)}}}},
                tags={**partition_range_tags(keys), INBOX_TAG: path.name},
            )
        if not requested:
            yield dg.SkipReason(f"no new file in {inbox_dir}")

    return inbox


def build_new_symbols_sensor(
    settings: Settings,
    job: dg.UnresolvedAssetJobDefinition,
    partitions_def: dg.PartitionsDefinition,
) -> dg.SensorDefinition:
    @dg.sensor(
        name="new_symbols",
        job=job,
        minimum_interval_seconds=600,
        default_status=dg.DefaultSensorStatus.STOPPED,
        description=(
            "For file sources and `sample` with an open universe (ALPHADAG_UNIVERSE unset or "
            "a number): when the source holds symbols that the lake has never stored, "
            "re-ingests the whole range so their history arrives."
        ),
    )
    def new_symbols(context: dg.SensorEvaluationContext):
        spec = settings.source_spec
        if spec.kind not in (*DIRECTORY_KINDS, "sample"):
            return dg.SkipReason(f"the {spec.kind} source has a fixed set of symbols")
        if settings.universe_symbols() is not None:
            return dg.SkipReason("ALPHADAG_UNIVERSE lists the symbols: the universe is fixed")
        from ingest.lake import stored_symbols
        from ingest.sources import load_source

        stored = stored_symbols(settings.lake_dir)
        if not stored:
            return dg.SkipReason("nothing ingested yet: run build_everything first")
        keys = partitions_def.get_partition_keys()
        found = load_source(
            spec,
            start=settings.start,
            end=date.fromisoformat(keys[-1]),
            universe=None,
            seed=settings.seed,
        )
        new = sorted(set(found.bars["symbol"]) - stored)
        if not new:
            return dg.SkipReason(f"no new symbol among {len(stored)} stored")
        context.log.info(f"new symbol(s) in {spec}: {', '.join(new)}")
        digest = hashlib.sha256(",".join(new).encode()).hexdigest()[:16]
        return dg.RunRequest(
            run_key=f"new-symbols-{digest}",
            tags={**partition_range_tags(keys), "alphadag/new_symbols": ",".join(new)[:200]},
        )

    return new_symbols
