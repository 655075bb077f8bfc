"""Feast: the Parquet export Feast reads, the registry, training sets and online serving.

feast is imported inside each asset: it costs seconds and must not slow down loading
the definitions.
"""

import hashlib
from datetime import datetime, time, timedelta

import dagster as dg

from orchestration.settings import Settings
from orchestration.warehouse import WAREHOUSE_POOL, Warehouse

FEATURES_EXPORT_SQL = "select *, cast(date as timestamp) as event_timestamp from fct_features"


@dg.asset(
    deps=["fct_features"],
    group_name="feature_store",
    kinds={"parquet"},
    pool=WAREHOUSE_POOL,
    description="fct_features exported to lake/features/fct_features.parquet, Feast's offline source.",
)
def feature_lake(
    context: dg.AssetExecutionContext, settings: dg.ResourceParam[Settings]
) -> dg.MaterializeResult:
    destination = settings.features_dir / "fct_features.parquet"
    rows = Warehouse(settings.warehouse_path).export_parquet(FEATURES_EXPORT_SQL, destination)
    context.log.info(f"exported {rows} feature rows to {destination}")
    return dg.MaterializeResult(
        metadata={"rows": rows, "path": dg.MetadataValue.path(str(destination))}
    )


@dg.asset(
    deps=[feature_lake],
    group_name="feature_store",
    kinds={"feast"},
    description="Feast registry in sync with feature_repo/ (entities, views, feature service).",
)
def feast_apply(
    context: dg.AssetExecutionContext, settings: dg.ResourceParam[Settings]
) -> dg.MaterializeResult:
    from feature_repo.store import apply_repo, open_store

    store = open_store(settings.home)
    repo = apply_repo(store, settings.features_dir)
    context.log.info(f"applied {len(repo.views)} feature views and service {repo.service.name}")
    return dg.MaterializeResult(
        metadata={
            "feature_service": repo.service.name,
            "feature_views": ", ".join(sorted(v.name for v in repo.views.values())),
            "model_features": ", ".join(repo.model_feature_names()),
        }
    )


@dg.asset(
    deps=[feast_apply, "fct_labels"],
    group_name="feature_store",
    kinds={"feast", "parquet"},
    pool=WAREHOUSE_POOL,
    description=(
        "Point-in-time join of fct_labels with the feature service: each (symbol, date) "
        "gets the newest features at or before that date."
    ),
)
def training_set(
    context: dg.AssetExecutionContext, settings: dg.ResourceParam[Settings]
) -> dg.MaterializeResult:
    from feature_repo.store import apply_repo, historical_features, open_store

    labels = Warehouse(settings.warehouse_path).query(
        "select symbol, date, fwd_ret_1d, fwd_ret_5d, fwd_ret_1d_rank, fwd_ret_5d_rank "
        "from fct_labels order by date, symbol"
    )
    store = open_store(settings.home)
    repo = apply_repo(store, settings.features_dir)
    context.log.info(f"point-in-time join of {len(labels)} label rows through {repo.service.name}")
    frame = historical_features(store, repo, labels)

    destination = settings.training_set_path
    destination.parent.mkdir(parents=True, exist_ok=True)
    tmp = destination.with_name(destination.name + ".tmp")
    frame.to_parquet(tmp, index=False)
    tmp.replace(destination)
    data_version = hashlib.sha256(destination.read_bytes()).hexdigest()[:16]
    return dg.MaterializeResult(
        metadata={
            "rows": len(frame),
            "features": len(repo.model_feature_names()),
            "feature_service": repo.service.name,
            "first_date": str(frame["date"].min().date()),
            "last_date": str(frame["date"].max().date()),
            "path": dg.MetadataValue.path(str(destination)),
        },
        data_version=dg.DataVersion(data_version),
    )


@dg.asset(
    deps=[feast_apply],
    group_name="feature_store",
    kinds={"feast", "sqlite"},
    description="Newest features of every symbol in Feast's SQLite online store.",
)
def online_features(
    context: dg.AssetExecutionContext, settings: dg.ResourceParam[Settings]
) -> dg.MaterializeResult:
    from feature_repo.store import apply_repo, materialize_online, online_features, open_store

    store = open_store(settings.home)
    repo = apply_repo(store, settings.features_dir)
    warehouse = Warehouse(settings.warehouse_path)
    last_day = warehouse.query("select max(date) as last_day from fct_features")["last_day"][0]
    # Rows older than the views' TTL are never served, so older history is skipped.
    end = datetime.combine(last_day, time()) + timedelta(days=1)
    materialize_online(store, end - timedelta(days=30), end)
    symbols = warehouse.query("select distinct symbol from fct_features order by symbol")[
        "symbol"
    ].tolist()
    served = online_features(store, repo, symbols)
    missing = served.drop(columns=["symbol"]).isna().all(axis=1).sum()
    context.log.info(f"online store serves {len(served) - missing}/{len(served)} symbols")
    return dg.MaterializeResult(
        metadata={
            "symbols": len(served),
            "symbols_without_features": int(missing),
            "preview": dg.MetadataValue.md(served.head(10).round(4).to_markdown(index=False)),
        }
    )
