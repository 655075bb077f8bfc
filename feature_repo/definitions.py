"""All Feast objects of alphadag, built for a given features folder.

Building them in a function (rather than at module level, as `repo.py` does for the
command line) lets tests, benchmarks and notebooks point them at any ALPHADAG_HOME.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from feature_repo.catalog import FEATURES_YML, FeatureSpec, definitions_version, load_catalog
from feature_repo.entities import symbol_entity
from feature_repo.feast_api import Entity, FeatureService, FeatureView, FileSource
from feature_repo.services import model_feature_service
from feature_repo.sources import features_source
from feature_repo.views import feature_views


@dataclass(frozen=True)
class FeatureRepo:
    version: str
    specs: tuple[FeatureSpec, ...]
    symbol: Entity
    source: FileSource
    views: dict[str, FeatureView]
    service: FeatureService

    def objects(self) -> list[object]:
        return [self.symbol, self.source, *self.views.values(), self.service]

    def model_feature_names(self) -> list[str]:
        """The service's features, in the order training sets and online reads give them."""
        return [
            f.name
            for projection in self.service.feature_view_projections
            for f in projection.features
        ]


def build_feature_repo(features_dir: Path, catalog: Path = FEATURES_YML) -> FeatureRepo:
    """Every Feast object, reading `fct_features.parquet` from `features_dir`."""
    specs = load_catalog(catalog)
    version = definitions_version(catalog, features_dir)
    symbol = symbol_entity()
    source = features_source(features_dir)
    views = feature_views(specs, symbol, source)
    return FeatureRepo(
        version=version,
        specs=tuple(specs),
        symbol=symbol,
        source=source,
        views=views,
        service=model_feature_service(specs, views, version),
    )
