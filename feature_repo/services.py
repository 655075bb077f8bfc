"""Feature services: the versioned list of features a model is trained and served on."""

from __future__ import annotations

from feature_repo.catalog import FeatureSpec, families, service_name
from feature_repo.feast_api import FeatureService, FeatureView


def model_feature_service(
    specs: list[FeatureSpec], views: dict[str, FeatureView], definitions_version: str
) -> FeatureService:
    """The model features (`model_feature: true`), named by a hash of their list
    (see `catalog.service_name`): training and inference both read through it.

    The tag `definitions_version` records which definitions were applied, so that
    `feast_apply` can tell from the registry whether it has anything to do.
    """
    projections = []
    for family, members in families(specs).items():
        names = [s.name for s in members if s.model_feature]
        if names:
            projections.append(views[family][names])
    return FeatureService(
        name=service_name(specs),
        features=projections,
        description="Features the models are trained and served on.",
        tags={
            "n_features": str(sum(s.model_feature for s in specs)),
            "definitions_version": definitions_version,
        },
    )
