"""Data sources: the Parquet export of `fct_features` that the offline store reads."""

from __future__ import annotations

from pathlib import Path

from feature_repo.feast_api import FileSource
from feature_repo.files import features_dataset

# `feature_lake` adds this column: the date cast to a timestamp at midnight UTC. A feature
# of date t uses that day's close, so it is visible to an entity row of date t and later.
TIMESTAMP_FIELD = "event_timestamp"


def features_source(features_dir: Path) -> FileSource:
    return FileSource(
        name="fct_features_source",
        path=str(features_dataset(features_dir) / "*.parquet"),
        timestamp_field=TIMESTAMP_FIELD,
        description="fct_features exported from the warehouse, one row per (symbol, date), a file per month.",
    )
