"""Where the feature files live: named apart from :mod:`feature_repo.files` (which reads
and writes them) so that the settings locate them without importing pandas or DuckDB."""

from __future__ import annotations

from pathlib import Path

# fct_features for Feast: one Parquet file per calendar month (`fct_features/2023-01.parquet`),
# so a nightly run rewrites the month of its new day, never the whole history. Not
# `month=...` folders: DuckDB would read those as a hive partition column.
FEATURES_DATASET = "fct_features"


def features_dataset(features_dir: Path) -> Path:
    """The folder of the monthly export files."""
    return features_dir / FEATURES_DATASET
