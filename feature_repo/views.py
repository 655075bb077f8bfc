"""Feature views: one per feature family of fct_features.yml, all over the same source."""

from __future__ import annotations

from datetime import timedelta

from feature_repo.catalog import FeatureSpec, families
from feature_repo.feast_api import Entity, FeatureView, Field, FileSource, types

# Daily bars: the longest market closure in normal times (a holiday next to a weekend) is
# four days, so a row older than a week means the symbol stopped trading (delisted,
# halted) and is served as missing rather than as a stale value, offline and online alike.
FEATURE_TTL = timedelta(days=7)


def view_name(family: str) -> str:
    return f"{family}_features"


def feature_views(
    specs: list[FeatureSpec], symbol: Entity, source: FileSource
) -> dict[str, FeatureView]:
    """The views keyed by family."""
    return {
        family: FeatureView(
            name=view_name(family),
            entities=[symbol],
            ttl=FEATURE_TTL,
            schema=[
                Field(name=s.name, dtype=getattr(types, s.dtype), description=s.description)
                for s in members
            ],
            source=source,
            online=True,
            tags={"family": family},
            description=f"The {family} features of fct_features.",
        )
        for family, members in families(specs).items()
    }
