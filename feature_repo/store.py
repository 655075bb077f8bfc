"""The feature-store operations the pipeline needs, for any state root.

Configuration comes from `feature_store.yaml` beside this file, with `${ALPHADAG_HOME}`
replaced by the given home, so the command line and the pipeline share one file.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path

import pandas as pd
import yaml
from feast import FeatureStore, RepoConfig

from feature_repo.definitions import TIMESTAMP_FIELD, FeatureRepo, build_feature_repo

REPO_DIR = Path(__file__).resolve().parent
FEATURE_STORE_YAML = REPO_DIR / "feature_store.yaml"


def repo_config(home: Path) -> RepoConfig:
    """The RepoConfig of `feature_store.yaml` with its paths under `home`."""
    text = FEATURE_STORE_YAML.read_text().replace("${ALPHADAG_HOME}", str(home))
    raw = yaml.safe_load(text)
    (home / "feast").mkdir(parents=True, exist_ok=True)
    return RepoConfig(repo_path=REPO_DIR, **raw)


def open_store(home: Path) -> FeatureStore:
    # Feast logs every registry refresh at INFO; the pipeline reports what matters itself.
    logging.getLogger("feast").setLevel(logging.WARNING)
    return FeatureStore(config=repo_config(home), repo_path=str(REPO_DIR))


def apply_repo(store: FeatureStore, features_dir: Path) -> FeatureRepo:
    """Register every object; Feast diffs against the registry, so re-applying is a no-op."""
    features_file = features_dir / "fct_features.parquet"
    if not features_file.exists():
        raise FileNotFoundError(
            f"Feast source {features_file} is missing: materialize `feature_lake` first"
        )
    repo = build_feature_repo(features_dir)
    store.apply(repo.objects())
    return repo


def historical_features(
    store: FeatureStore, repo: FeatureRepo, entity_df: pd.DataFrame
) -> pd.DataFrame:
    """Point-in-time join: each entity row gets the newest feature row at or before it.

    `entity_df` has `symbol` and `date` (plus any label columns, carried through).
    """
    entities = entity_df.copy()
    entities[TIMESTAMP_FIELD] = pd.to_datetime(entities["date"]).dt.tz_localize("UTC")
    job = store.get_historical_features(entity_df=entities, features=repo.service)
    frame = job.to_df()
    frame["date"] = pd.to_datetime(frame["date"]).dt.tz_localize(None).dt.normalize()
    frame = frame.drop(columns=[TIMESTAMP_FIELD]).sort_values(["date", "symbol"])
    return frame.reset_index(drop=True)


def materialize_online(store: FeatureStore, start: datetime, end: datetime) -> None:
    """Load the offline rows with timestamps in [start, end] into the SQLite online store."""
    store.materialize(start_date=start, end_date=end)


def online_features(store: FeatureStore, repo: FeatureRepo, symbols: list[str]) -> pd.DataFrame:
    """The newest features of each symbol, as served to a live model."""
    response = store.get_online_features(
        features=repo.service, entity_rows=[{"symbol": s} for s in symbols]
    )
    return pd.DataFrame(response.to_dict())
