"""The feature-store operations the pipeline needs, for any state root.

Configuration comes from `feature_store.yaml` beside this file, with `${ALPHADAG_HOME}`
replaced by the given home, so the command line and the pipeline share one file.
"""

from __future__ import annotations

import logging
import os
from datetime import date, datetime, time, timedelta
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import yaml

from feature_repo.definitions import FeatureRepo
from feature_repo.feast_api import (
    FeatureService,
    FeatureServiceNotFoundException,
    FeatureStore,
    FeatureView,
    RepoConfig,
)
from feature_repo.sources import TIMESTAMP_FIELD
from feature_repo.views import FEATURE_TTL

REPO_DIR = Path(__file__).resolve().parent
FEATURE_STORE_YAML = REPO_DIR / "feature_store.yaml"
# The registry tag that records which definitions an apply wrote.
VERSION_TAG = "definitions_version"
# Feast's suffix of the event-timestamp columns of an online response.
_TS_SUFFIX = "__ts"


class FeatureStoreError(RuntimeError):
    """The feature store cannot answer; the message says what to materialize or apply."""


def repo_config(home: Path) -> RepoConfig:
    """The RepoConfig of `feature_store.yaml` with its paths under `home`."""
    text = FEATURE_STORE_YAML.read_text().replace("${ALPHADAG_HOME}", str(home))
    raw = yaml.safe_load(text)
    (home / "feast").mkdir(parents=True, exist_ok=True)
    return RepoConfig(repo_path=REPO_DIR, **raw)


def open_store(home: Path) -> FeatureStore:
    # Feast logs every registry refresh at INFO; the pipeline reports what matters itself.
    logging.getLogger("feast").setLevel(logging.WARNING)
    config = repo_config(home)
    set_aside_broken_registry(Path(config.registry.path))
    return FeatureStore(config=config, repo_path=str(REPO_DIR))


def set_aside_broken_registry(path: Path) -> Path | None:
    """Move a registry file that does not parse to ``<name>.broken`` and return where.

    Feast rewrites its file registry in place (truncate, then write), so a process killed
    mid-write leaves half a registry, which every later open would fail on. The registry
    only holds what `feast_apply` registers from feature_repo/ and the materialization
    intervals, so the next apply and materialization rebuild it.
    """
    from feast.protos.feast.core.Registry_pb2 import Registry as RegistryProto
    from google.protobuf.message import DecodeError

    if not path.is_file():
        return None
    try:
        RegistryProto.FromString(path.read_bytes())
        return None
    except DecodeError:
        aside = path.with_name(path.name + ".broken")
        os.replace(path, aside)
        logging.getLogger(__name__).warning(
            f"{path} did not parse (a write cut short?): moved to {aside}"
        )
        return aside


def check_sources(views: list[FeatureView]) -> None:
    """Fail with the view, the path and the fix when a view's Parquet source is missing
    or lacks a declared feature (Feast's own errors name neither)."""
    for view in views:
        path = Path(view.batch_source.path)
        files = sorted(path.parent.glob(path.name))
        if not files:
            raise FeatureStoreError(
                f"feature view {view.name}: source {path} is missing; "
                "materialize `feature_lake` first"
            )
        # every month file is written by the same export query: one schema
        columns = set(pq.read_schema(files[-1]).names)
        missing = [f.name for f in view.features if f.name not in columns]
        if missing:
            raise FeatureStoreError(
                f"feature view {view.name}: source {path} has no column {', '.join(missing)}; "
                "materialize `feature_lake` after dbt builds fct_features"
            )


def registered_version(store: FeatureStore, repo: FeatureRepo) -> str | None:
    """The definitions version the registry holds for `repo`, None if it holds none of it."""
    registered = {v.name for v in store.list_feature_views()}
    if not {v.name for v in repo.views.values()} <= registered:
        return None
    services = {s.name: s for s in store.list_feature_services()}
    service = services.get(repo.service.name)
    return service.tags.get(VERSION_TAG) if service else None


def apply_repo(store: FeatureStore, repo: FeatureRepo) -> bool:
    """Register every object unless the registry already holds this version of them.

    Returns whether anything was applied. Objects of older versions stay registered (an
    older feature service may still back a model in use).
    """
    check_sources(list(repo.views.values()))
    if registered_version(store, repo) == repo.version:
        return False
    store.apply(repo.objects())
    return True


def registered_service(store: FeatureStore, repo: FeatureRepo) -> FeatureService:
    """The registry's copy of the repo's feature service, its sources checked."""
    try:
        service = store.get_feature_service(repo.service.name)
    except FeatureServiceNotFoundException as exc:
        raise FeatureStoreError(
            f"feature service {repo.service.name} is not registered: materialize `feast_apply`"
        ) from exc
    check_sources([store.get_feature_view(p.name) for p in service.feature_view_projections])
    return service


def historical_features(
    store: FeatureStore, repo: FeatureRepo, entity_df: pd.DataFrame
) -> pd.DataFrame:
    """Point-in-time join through the feature service: each entity row gets, from every
    view, the newest feature row at or before its date and not older than the TTL.

    `entity_df` has `symbol` and `date` (plus any label columns, carried through).
    """
    service = registered_service(store, repo)
    entities = entity_df.copy()
    entities[TIMESTAMP_FIELD] = pd.to_datetime(entities["date"]).dt.tz_localize("UTC")
    frame = store.get_historical_features(entity_df=entities, features=service).to_df()
    frame["date"] = pd.to_datetime(frame["date"]).dt.tz_localize(None).dt.normalize()
    frame = frame.drop(columns=[TIMESTAMP_FIELD]).sort_values(["date", "symbol"])
    return frame.reset_index(drop=True)


def materialize_latest(
    store: FeatureStore, repo: FeatureRepo, last_day: date, since: date | None = None
) -> tuple[datetime, datetime]:
    """Load the rows of the last TTL days up to `last_day` into the online store, or only
    those from `since` on (a nightly run: the days it brought).

    An explicit window, never `materialize_incremental` (whose first call starts at now
    minus the TTL, wrong for history). Rows older than the TTL could never be served, so
    they are skipped; the window always ends at the newest day, so re-running it (or
    running it after a backfill of older partitions) leaves the newest rows online.
    """
    registered_service(store, repo)
    end = datetime.combine(last_day, time()) + timedelta(days=1)
    start = end - FEATURE_TTL
    if since is not None:
        start = min(max(start, datetime.combine(since, time())), end - timedelta(days=1))
    store.materialize(
        start_date=start, end_date=end, feature_views=[v.name for v in repo.views.values()]
    )
    return start, end


def online_features(store: FeatureStore, repo: FeatureRepo, symbols: list[str]) -> pd.DataFrame:
    """The newest features of each symbol through the feature service, as a live model
    reads them; `date` is the day they were computed at (NaT when none is online)."""
    service = store.get_feature_service(repo.service.name)
    response = store.get_online_features(
        features=service, entity_rows=[{"symbol": s} for s in symbols]
    ).to_df(include_event_timestamps=True)
    ts_columns = [c for c in response.columns if c.endswith(_TS_SUFFIX)]
    # Feast reports 0 seconds for a feature it has no value of.
    seconds = response[ts_columns].where(response[ts_columns] > 0)
    as_of = pd.to_datetime(seconds.min(axis=1), unit="s")
    frame = response[["symbol"]].assign(date=as_of.dt.normalize())
    # the training set's column order, so a model scores both the same way
    return frame.join(response[repo.model_feature_names()])
