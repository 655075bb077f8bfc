"""The Feast classes this repository uses, imported without Feast's warning filters.

Feast's modules, when first imported, put filters of their own in front of the
process's (``simplefilter("once", DeprecationWarning)``), so every deprecation notice of
its dependencies (ibis on DuckDB) would print in each run and test session whatever the
application asked for. The repository's modules import Feast from here, where those
filters are dropped as soon as the import is done.
"""

import warnings

with warnings.catch_warnings():
    from feast import (
        Entity,
        FeatureService,
        FeatureStore,
        FeatureView,
        Field,
        FileSource,
        RepoConfig,
        ValueType,
        types,
    )
    from feast.errors import FeatureServiceNotFoundException

__all__ = [
    "Entity",
    "FeatureService",
    "FeatureServiceNotFoundException",
    "FeatureStore",
    "FeatureView",
    "Field",
    "FileSource",
    "RepoConfig",
    "ValueType",
    "types",
]
