"""Feast objects over the Parquet export of `fct_features`.

Views are grouped by feature family; the feature service is versioned: a model records
the service it was trained on, and a service never changes once models use it (add
`alphadag_v2` instead).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from feast import Entity, FeatureService, FeatureView, Field, FileSource, ValueType
from feast.types import Float64

FEATURE_SERVICE_NAME = "alphadag_v1"
FEATURES_FILE_NAME = "fct_features.parquet"
TIMESTAMP_FIELD = "event_timestamp"

# Daily bars: a row older than a week (a long weekend plus holidays) is stale.
FEATURE_TTL = timedelta(days=7)

FEATURE_FAMILIES: dict[str, list[str]] = {
    "returns": ["ret_1d", "ret_5d", "ret_20d"],
    "trend": ["sma_20", "ema_12", "close_to_sma_20", "close_to_ema_12"],
    "momentum": ["rsi_14"],
    "volatility": ["vol_20d", "volume_ratio_20"],
}

# What the models see: scale-free columns only (price levels such as sma_20 differ by
# orders of magnitude across symbols and would let a model learn the ticker).
MODEL_FEATURES: dict[str, list[str]] = {
    "returns": ["ret_1d", "ret_5d", "ret_20d"],
    "trend": ["close_to_sma_20", "close_to_ema_12"],
    "momentum": ["rsi_14"],
    "volatility": ["vol_20d", "volume_ratio_20"],
}


@dataclass(frozen=True)
class FeatureRepo:
    symbol: Entity
    source: FileSource
    views: dict[str, FeatureView]
    service: FeatureService

    def objects(self) -> list[object]:
        return [self.symbol, self.source, *self.views.values(), self.service]

    def model_feature_names(self) -> list[str]:
        return [name for family in MODEL_FEATURES.values() for name in family]


def build_feature_repo(features_dir: Path) -> FeatureRepo:
    """All Feast objects, reading `fct_features.parquet` from `features_dir`."""
    symbol = Entity(
        name="symbol",
        join_keys=["symbol"],
        value_type=ValueType.STRING,
        description="A traded instrument, by ticker.",
    )
    source = FileSource(
        name="fct_features_source",
        path=str(features_dir / FEATURES_FILE_NAME),
        timestamp_field=TIMESTAMP_FIELD,
        description="fct_features exported from the warehouse, one row per (symbol, date).",
    )
    views = {
        family: FeatureView(
            name=f"{family}_features",
            entities=[symbol],
            ttl=FEATURE_TTL,
            schema=[Field(name=name, dtype=Float64) for name in names],
            source=source,
            online=True,
            tags={"family": family},
        )
        for family, names in FEATURE_FAMILIES.items()
    }
    service = FeatureService(
        name=FEATURE_SERVICE_NAME,
        features=[views[family][names] for family, names in MODEL_FEATURES.items()],
        description="Features the models are trained and served on.",
    )
    return FeatureRepo(symbol=symbol, source=source, views=views, service=service)
