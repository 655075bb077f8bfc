"""Entities: what a feature row describes."""

from __future__ import annotations

from feature_repo.feast_api import Entity, ValueType


def symbol_entity() -> Entity:
    """A traded instrument; named as everywhere else in alphadag (`symbol`)."""
    return Entity(
        name="symbol",
        join_keys=["symbol"],
        value_type=ValueType.STRING,
        description="A traded instrument, by ticker.",
    )
