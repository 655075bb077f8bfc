"""Raw daily bars: the entry point of the graph, behind its quality gates.

The rules live in :mod:`ingest.quality` and the writes in :mod:`ingest.ingestion`; this
module only runs them for the partitions of a run and reports what happened. The checks
are declared on the asset (``check_specs``) rather than as separate check ops: they need
the rows the asset just loaded and split, and a blocking check that fails stops every
downstream asset of the run, so nothing bad reaches the features.
"""

import hashlib
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg
from pydantic import Field

from ingest.checks import CHECK_REASONS, ERROR_CHECKS, WARNING_CHECKS
from orchestration.settings import Settings

from .versions import source_version

if TYPE_CHECKING:
    import pandas as pd

    from ingest.ingestion import IngestReport

RAW_OHLCV = dg.AssetKey("raw_ohlcv")


class RawOhlcvConfig(dg.Config):
    inbox_file: str = Field(
        default="",
        description=(
            "Ingest this CSV or Parquet file instead of the configured source: its good "
            "rows replace the stored rows of the same (symbol, date), other stored rows "
            "stay. Set by the inbox sensor; leave empty to read ALPHADAG_SOURCE."
        ),
    )


def _check_specs() -> list[dg.AssetCheckSpec]:
    errors = [
        dg.AssetCheckSpec(name, asset=RAW_OHLCV, blocking=True, description=text)
        for name, text in ERROR_CHECKS.items()
    ]
    warnings = [
        dg.AssetCheckSpec(name, asset=RAW_OHLCV, description=f"warning: {text}")
        for name, text in WARNING_CHECKS.items()
    ]
    return errors + warnings


def build_raw_ohlcv(partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    @dg.asset(
        key=RAW_OHLCV,
        partitions_def=partitions_def,
        # A backfill of years of days is one run that loads the source once.
        backfill_policy=dg.BackfillPolicy.single_run(),
        check_specs=_check_specs(),
        group_name="market_data",
        kinds={"parquet"},
        code_version=source_version("assets.market_data", "ingest"),
        description=(
            "Daily OHLCV bars from the configured source (ALPHADAG_SOURCE) or an inbox "
            "file, one Parquet file per business day under lake/raw/ohlcv/date=YYYY-MM-DD/; "
            "rows that break a quality rule go to quarantine/ with their reason."
        ),
    )
    def raw_ohlcv(
        context: dg.AssetExecutionContext,
        config: RawOhlcvConfig,
        settings: dg.ResourceParam[Settings],
    ):
        import pandas as pd

        from ingest.ingestion import SOURCE_ORIGIN, ingest_bars
        from ingest.lake import read_bars, write_oracle, write_rejected_files
        from ingest.quality import ANOMALY_LOOKBACK_DAYS, find_anomalies, validate_bars
        from ingest.sources import load_source, read_bars_file

        days = [date.fromisoformat(key) for key in context.partition_keys]
        today = date.today()
        quarantine_root = settings.home / "quarantine"
        rejected = pd.DataFrame()
        if config.inbox_file:
            path = Path(config.inbox_file)
            inbox = settings.home / "inbox"
            if not path.resolve().is_relative_to(inbox.resolve()):
                raise ValueError(f"inbox_file {path} is not inside {inbox}: refused")
            context.log.info(f"ingesting inbox file {path} for {days[0]} .. {days[-1]}")
            bars, oracle = read_bars_file(path), None
            mode, origin = "upsert", f"inbox-{path.stem}"
        else:
            context.log.info(
                f"loading {settings.source} bars for {len(days)} day(s), {days[0]} .. {days[-1]}"
            )
            # Sources are read from the configured start so that a day's bars do not
            # depend on which window asked for them (the simulator's path starts there).
            # The window runs to the end of the last partition (a Friday's covers the
            # weekend), so weekend-dated rows are seen and quarantined, not dropped.
            data = load_source(
                settings.source_spec,
                start=settings.start,
                end=context.partition_time_window.end.date() - timedelta(days=1),
                universe=settings.universe_symbols() or settings.universe_size(),
                seed=settings.seed,
                oracle_from=days[0],
            )
            bars, oracle = data.bars, data.oracle
            mode, origin = "replace", SOURCE_ORIGIN
            rejected = write_rejected_files(settings.home, data.rejected)
            for item in data.rejected:
                context.log.warning(f"rejected source file: {item.reason}")

        report = ingest_bars(
            bars,
            lake_root=settings.lake_dir,
            quarantine_root=quarantine_root,
            days=days,
            today=today,
            mode=mode,
            origin=origin,
        )
        if oracle is not None:
            in_days = pd.to_datetime(oracle["date"]).dt.date.isin(set(days))
            write_oracle(settings.lake_dir, oracle[in_days.to_numpy()])
        reasons = f" {report.counts}" if report.counts else ""
        context.log.info(
            f"{report.rows_written} good row(s), {len(report.split.quarantined)} quarantined"
            f"{reasons}, quality score {report.score:.4f}"
        )

        # The blocking checks look at what is now stored for these days (fresh rows and
        # rows kept from before), with the Great Expectations suite.
        history = read_bars(
            settings.lake_dir, days[0] - timedelta(days=ANOMALY_LOOKBACK_DAYS), days[-1]
        )
        stored = history[history["date"] >= pd.Timestamp(days[0])].reset_index(drop=True)
        outcomes = validate_bars(stored, today=today)
        for name, outcome in outcomes.items():
            yield dg.AssetCheckResult(
                check_name=name,
                passed=outcome.passed,
                severity=dg.AssetCheckSeverity.ERROR,
                metadata={
                    "stored_rows": len(stored),
                    "quarantined_this_run": _quarantined_for(name, report),
                    "failed_expectations": dg.MetadataValue.json(outcome.unexpected),
                },
            )
        for name, rows in find_anomalies(history).items():
            rows = rows[rows["date"] >= pd.Timestamp(days[0])]
            yield dg.AssetCheckResult(
                check_name=name,
                passed=rows.empty,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={
                    "flagged_rows": len(rows),
                    "examples": dg.MetadataValue.md(
                        rows.head(10).to_markdown(index=False) if len(rows) else "none"
                    ),
                },
            )
        metadata = _metadata(report, days, settings, stored)
        metadata["files_rejected"] = len(rejected)
        if len(rejected):
            metadata["rejected_files"] = dg.MetadataValue.md(rejected.to_markdown(index=False))
        # Raw bars have no upstream asset to derive a data version from: theirs is the
        # content of the run's days, so a re-ingest that changes nothing leaves the
        # features up to date in the UI, and one that changes bars marks them stale.
        yield dg.MaterializeResult(
            metadata=metadata, data_version=dg.DataVersion(_content_version(stored))
        )

    return raw_ohlcv


def _content_version(bars: "pd.DataFrame") -> str:
    """A hash of the rows, whatever their order."""
    import pandas as pd

    rows = bars.sort_values(["symbol", "date"]).reset_index(drop=True)
    hashed = pd.util.hash_pandas_object(rows, index=False).to_numpy()
    return hashlib.sha256(hashed.tobytes()).hexdigest()[:16]


def _quarantined_for(check: str, report: "IngestReport") -> int:
    return sum(report.counts.get(reason, 0) for reason in CHECK_REASONS[check])


def _metadata(
    report: "IngestReport", days: list[date], settings: Settings, stored: "pd.DataFrame"
) -> dict[str, object]:
    return {
        "source": settings.source,
        "rows_in": report.split.n_input,
        "rows_written": report.rows_written,
        "rows_kept_from_before": report.rows_kept,
        "rows_quarantined": len(report.split.quarantined),
        "rows_outside_partitions": report.rows_outside,
        "quarantine_reasons": dg.MetadataValue.json(report.counts),
        "quality_score": dg.MetadataValue.float(round(report.score, 6)),
        "stored_rows": len(stored),
        "symbols": int(stored["symbol"].nunique()),
        "days": len(days),
        "empty_days": len(days) - int(stored["date"].nunique()),
        "first_day": str(days[0]),
        "last_day": str(days[-1]),
        "path": dg.MetadataValue.path(str(settings.lake_dir / "raw" / "ohlcv")),
        "quarantine_files": len(report.quarantine_files),
        "quarantine_path": dg.MetadataValue.path(str(settings.home / "quarantine" / "raw_ohlcv")),
    }
