"""Feast: the Parquet export Feast reads, the registry, training sets and online serving.

feast (seconds), pandas and `feature_repo.files` (pandas, DuckDB, pyarrow) are imported
inside each asset: they must not slow down loading the definitions, which read only
`feature_repo.catalog` (no feast, no pandas).
"""

import time
from typing import TYPE_CHECKING

import dagster as dg

from assets.market_data import RAW_OHLCV
from feature_repo.catalog import definitions_version, export_sql, load_catalog
from orchestration.partitions import raw_days_since
from orchestration.settings import Settings
from orchestration.warehouse import FEATURE_STORE_POOL, WAREHOUSE_POOL, Warehouse

from .versions import source_version

if TYPE_CHECKING:
    import pandas as pd

# The feature store assets run this module and feature_repo/.
FEATURE_STORE_CODE = source_version("assets.feature_store", "feature_repo")
# reads of the Feast registry by training_set while another run may be rewriting it
REGISTRY_READS = 3
REGISTRY_RETRY_SECONDS = 5.0


@dg.asset(
    deps=["fct_features"],
    group_name="feature_store",
    kinds={"parquet"},
    pool=WAREHOUSE_POOL,
    code_version=FEATURE_STORE_CODE,
    description=(
        "fct_features exported to lake/features/fct_features/YYYY-MM.parquet, one file per "
        "month, Feast's offline source. A run rewrites only the months of the raw days "
        "materialized since it last ran (the dbt models' window); its first run, or one "
        "without new raw days, exports every month."
    ),
)
def feature_lake(
    context: dg.AssetExecutionContext, settings: dg.ResourceParam[Settings]
) -> dg.MaterializeResult:
    import pandas as pd

    from feature_repo.files import month_file, month_starts

    warehouse = Warehouse(settings.warehouse_path)
    dataset = settings.features_dataset
    window = raw_days_since(context.instance, RAW_OHLCV, [context.asset_key])
    if window is None:
        span = warehouse.query("select min(date) as first, max(date) as last from fct_features")
        if span.empty or pd.isna(span["first"].iloc[0]):
            raise ValueError("fct_features holds no rows: materialize the dbt models first")
        first, last = (pd.Timestamp(span[c].iloc[0]).date() for c in ("first", "last"))
    else:
        first, last = window
    months = month_starts(first, last)
    month_end = (pd.Timestamp(months[-1]) + pd.offsets.MonthEnd(0)).date()
    query = export_sql(load_catalog(), months[0], month_end)
    # one scan of the window's months, a file per month (the month column stays out)
    counts = warehouse.export_parquet_parts(
        f"select *, strftime(date, '%Y-%m') as month from ({query})", "month", dataset
    )
    rows = sum(counts.values())
    if window is None:
        # a full export: months the table no longer holds leave the source too
        kept = {month_file(dataset, m) for m in months}
        for stale in set(dataset.glob("*.parquet")) - kept:
            stale.unlink()
    scope = "every month" if window is None else f"the raw days {first} .. {last}"
    context.log.info(f"exported {rows} feature rows of {len(months)} month(s), {scope}")
    return dg.MaterializeResult(
        metadata={
            "rows": rows,
            "months": dg.MetadataValue.text(", ".join(f"{m:%Y-%m}" for m in months)),
            "full_export": window is None,
            "path": dg.MetadataValue.path(str(dataset)),
        }
    )


@dg.asset(
    deps=[feature_lake],
    group_name="feature_store",
    kinds={"feast"},
    pool=FEATURE_STORE_POOL,
    # A hash of fct_features.yml and of feature_repo's definition files: a change of
    # either marks this asset (and the training set) stale in the UI.
    code_version=definitions_version(),
    description=(
        "Feast registry in sync with feature_repo/: entity, one view per feature family of "
        "fct_features.yml, the versioned feature service. Applies only when the registry "
        "holds another definitions version."
    ),
)
def feast_apply(
    context: dg.AssetExecutionContext, settings: dg.ResourceParam[Settings]
) -> dg.MaterializeResult:
    from feature_repo.definitions import build_feature_repo
    from feature_repo.store import apply_repo, open_store

    repo = build_feature_repo(settings.features_dir)
    applied = apply_repo(open_store(settings.home), repo)
    context.log.info(
        f"{'applied' if applied else 'registry already holds'} definitions {repo.version}: "
        f"{len(repo.views)} feature views, service {repo.service.name}"
    )
    return dg.MaterializeResult(
        metadata={
            "applied": applied,
            "definitions_version": repo.version,
            "feature_service": repo.service.name,
            "feature_views": ", ".join(v.name for v in repo.views.values()),
            "features": len(repo.specs),
            "model_features": ", ".join(repo.model_feature_names()),
        },
        data_version=dg.DataVersion(repo.version),
    )


@dg.asset(
    deps=[feast_apply, "fct_labels"],
    group_name="feature_store",
    kinds={"feast", "parquet"},
    pool=WAREHOUSE_POOL,
    code_version=FEATURE_STORE_CODE,
    description=(
        "Point-in-time join of fct_labels with the feature service: each (symbol, date) "
        "gets the newest features at or before that date. Built in date batches appended "
        "to one Parquet file, tagged with the service."
    ),
)
def training_set(
    context: dg.AssetExecutionContext, settings: dg.ResourceParam[Settings]
) -> dg.MaterializeResult:
    import pandas as pd

    from feature_repo.definitions import build_feature_repo
    from feature_repo.store import open_store
    from feature_repo.training import build_training_set

    repo = build_feature_repo(settings.features_dir)

    def progress(index: int, count: int, frame: "pd.DataFrame") -> None:
        context.log.info(
            f"batch {index + 1}/{count}: {len(frame)} label rows through {repo.service.name}, "
            f"{frame['date'].min():%Y-%m-%d} .. {frame['date'].max():%Y-%m-%d}"
        )

    from feast.errors import FeatureViewNotFoundException

    # An overlapping run's feast_apply rewrites the file registry in place; a read that
    # meets it half-written finds no view: read it again once that write is done.
    for attempt in range(REGISTRY_READS):
        try:
            built = build_training_set(
                open_store(settings.home),
                repo,
                Warehouse(settings.warehouse_path).query,
                settings.training_set_path,
                on_batch=progress,
            )
            break
        except FeatureViewNotFoundException as exc:
            if attempt == REGISTRY_READS - 1:
                raise
            context.log.warning(f"{exc}: the registry is being rewritten; reading it again")
            time.sleep(REGISTRY_RETRY_SECONDS)
    return dg.MaterializeResult(
        metadata={
            "rows": built.rows,
            "batches": built.batches,
            "features": len(repo.model_feature_names()),
            "feature_service": repo.service.name,
            "first_date": str(pd.Timestamp(built.first_date).date()),
            "last_date": str(pd.Timestamp(built.last_date).date()),
            "path": dg.MetadataValue.path(str(settings.training_set_path)),
        },
        data_version=dg.DataVersion(built.data_version),
    )


@dg.asset(
    # feature_lake directly too: a nightly run does not select feast_apply, and the
    # online store must load the export of this run, not the previous one
    deps=[feast_apply, feature_lake],
    pool=FEATURE_STORE_POOL,
    group_name="feature_store",
    kinds={"feast", "sqlite"},
    code_version=FEATURE_STORE_CODE,
    description=(
        "Feast's SQLite online store loaded with the features of the raw days materialized "
        "since it last ran (at most the last TTL days up to the newest date; all of those "
        "on its first run), so it holds each symbol's newest row."
    ),
)
def online_features(
    context: dg.AssetExecutionContext, settings: dg.ResourceParam[Settings]
) -> dg.MaterializeResult:
    from feature_repo.definitions import build_feature_repo
    from feature_repo.files import newest_day_and_symbols
    from feature_repo.store import materialize_latest, open_store

    last_day, _ = newest_day_and_symbols(settings.features_dataset)
    window = raw_days_since(context.instance, RAW_OHLCV, [context.asset_key])
    repo = build_feature_repo(settings.features_dir)
    start, end = materialize_latest(
        open_store(settings.home), repo, last_day, since=window[0] if window else None
    )
    context.log.info(f"materialized {len(repo.views)} feature views over [{start}, {end})")
    return dg.MaterializeResult(
        metadata={"start": str(start), "end": str(end), "last_day": str(last_day)}
    )


@dg.asset(
    deps=[online_features],
    pool=FEATURE_STORE_POOL,
    group_name="feature_store",
    kinds={"feast", "parquet"},
    code_version=FEATURE_STORE_CODE,
    description=(
        "The online features of every symbol, read through the feature service as a live "
        "model reads them: the input of the next day's predictions."
    ),
)
def latest_features(
    context: dg.AssetExecutionContext, settings: dg.ResourceParam[Settings]
) -> dg.MaterializeResult:
    from feature_repo.definitions import build_feature_repo
    from feature_repo.files import newest_day_and_symbols, write_features
    from feature_repo.store import online_features as read_online
    from feature_repo.store import open_store

    last_day, symbols = newest_day_and_symbols(settings.features_dataset)
    repo = build_feature_repo(settings.features_dir)
    frame = read_online(open_store(settings.home), repo, symbols)
    data_version = write_features(frame, settings.latest_features_path, repo.service.name)
    stale = int((frame["date"].isna() | (frame["date"].dt.date < last_day)).sum())
    context.log.info(f"{len(frame) - stale}/{len(frame)} symbols have features of {last_day}")
    return dg.MaterializeResult(
        metadata={
            "symbols": len(frame),
            "symbols_not_current": stale,
            "as_of": str(last_day),
            "feature_service": repo.service.name,
            "path": dg.MetadataValue.path(str(settings.latest_features_path)),
            "preview": dg.MetadataValue.md(frame.head(10).round(4).to_markdown(index=False)),
        },
        data_version=dg.DataVersion(data_version),
    )
