"""Every feature column is documented with the metadata the feature store is generated from."""

from __future__ import annotations

import pandas as pd
import yaml

from orchestration.project import DBT_PROJECT_DIR

FAMILIES = {"returns", "trend", "momentum", "volatility", "volume", "factors", "regime"}
LEVELS = {"sma_20", "ema_12", "wma_20", "bb_upper_20", "atr_14", "obv", "macd", "mom_10"}


def _documented_columns() -> list[dict]:
    spec = yaml.safe_load((DBT_PROJECT_DIR / "models" / "marts" / "fct_features.yml").read_text())
    (model,) = spec["models"]
    return model["columns"]


def test_every_feature_is_documented_with_meta(features: pd.DataFrame) -> None:
    columns = {c["name"]: c for c in _documented_columns()}
    table_columns = [
        c for c in features.columns if c not in {"open", "high", "low", "close", "volume"}
    ]
    assert list(columns) == table_columns
    feature_columns = [c for name, c in columns.items() if name not in {"symbol", "date"}]
    assert len(feature_columns) >= 150
    for column in feature_columns:
        assert column["description"], column["name"]
        meta = column["config"]["meta"]
        assert meta["family"] in FAMILIES, column["name"]
        assert isinstance(meta["model_feature"], bool), column["name"]


def test_price_levels_are_not_model_features() -> None:
    meta = {c["name"]: c.get("config", {}).get("meta", {}) for c in _documented_columns()}
    assert not any(meta[name]["model_feature"] for name in LEVELS)
    assert all(
        meta[name]["model_feature"] for name in ["rsi_14", "ret_5d", "kmid", "ret_5d_cs_rank"]
    )
