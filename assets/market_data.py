"""Raw daily bars: the entry point of the graph."""

from datetime import date

import dagster as dg
import pandas as pd

from ingest.lake import write_partition
from ingest.sources import load_source
from orchestration.settings import Settings


def build_raw_ohlcv(partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    @dg.asset(
        name="raw_ohlcv",
        partitions_def=partitions_def,
        # A backfill of years of days is one run that loads the source once.
        backfill_policy=dg.BackfillPolicy.single_run(),
        group_name="market_data",
        kinds={"parquet"},
        description=(
            "Daily OHLCV bars from the configured source (ALPHADAG_SOURCE), one Parquet "
            "file per business day under lake/raw/ohlcv/date=YYYY-MM-DD/."
        ),
    )
    def raw_ohlcv(
        context: dg.AssetExecutionContext, settings: dg.ResourceParam[Settings]
    ) -> dg.MaterializeResult:
        days = [date.fromisoformat(key) for key in context.partition_keys]
        context.log.info(
            f"loading {settings.source} bars for {len(days)} day(s), {days[0]} .. {days[-1]}"
        )
        # Sources are read from the configured start so that a day's bars do not depend
        # on which window asked for them (the simulator's path is generated from start).
        data = load_source(
            settings.source_spec,
            start=settings.start,
            end=days[-1],
            universe=settings.universe_symbols() or settings.universe_size(),
            seed=settings.seed,
        )
        bars = data.bars[data.bars["date"].isin(pd.to_datetime(days))]
        by_day = dict(iter(bars.groupby(bars["date"].dt.date)))
        for i, day in enumerate(days, 1):
            write_partition(settings.lake_dir, day, by_day.get(day, bars.iloc[0:0]))
            if i % 250 == 0:
                context.log.info(f"wrote {i}/{len(days)} partitions")
        return dg.MaterializeResult(
            metadata={
                "rows": len(bars),
                "symbols": int(bars["symbol"].nunique()),
                "days": len(days),
                "empty_days": sum(1 for day in days if day not in by_day),
                "first_day": str(days[0]),
                "last_day": str(days[-1]),
                "path": dg.MetadataValue.path(str(settings.lake_dir / "raw" / "ohlcv")),
            }
        )

    return raw_ohlcv
