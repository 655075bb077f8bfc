"""The dbt assets built from the manifest alone match what dagster-dbt builds from it
(loading the code location imports neither dagster-dbt nor dbt: test_definitions)."""

from __future__ import annotations

import json
from typing import Any

import dagster as dg
import pytest
from dagster_dbt import dbt_assets

from assets.dbt_cli import AlphadagDbtTranslator
from assets.transform import dbt_test_check_specs, model_specs
from orchestration.project import DBT_PROJECT


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    return json.loads(DBT_PROJECT.manifest_path.read_text())


@pytest.fixture(scope="module")
def reference(manifest) -> dg.AssetsDefinition:
    @dbt_assets(manifest=manifest, dagster_dbt_translator=AlphadagDbtTranslator(manifest))
    def models():  # never run: only its specs are read
        yield from ()

    return models


def _spec_fields(spec: dg.AssetSpec) -> dict[str, Any]:
    metadata = spec.metadata
    return {
        "deps": sorted(dep.asset_key.to_user_string() for dep in spec.deps),
        "group": spec.group_name,
        "code_version": spec.code_version,
        "description": spec.description,
        "kinds": spec.kinds,
        "skippable": spec.skippable,
        "unique_id": metadata["dagster_dbt/unique_id"],
        "materialized": metadata["dagster-dbt/materialization_type"],
        "table": metadata["dagster/table_name"],
        "columns": metadata["dagster/column_schema"],
    }


def test_models_match_dagster_dbt(manifest, reference) -> None:
    ours = {spec.key: _spec_fields(spec) for spec in model_specs(manifest)}
    theirs = {spec.key: _spec_fields(spec) for spec in reference.specs}
    assert ours.keys() == theirs.keys()
    assert len(ours) == 13
    for key, fields in ours.items():
        assert fields == theirs[key], key
    # the lake's bars are the source of the staging model
    assert ours[dg.AssetKey("stg_ohlcv")]["deps"] == ["raw_ohlcv"]


def test_tests_are_the_same_blocking_checks(manifest, reference) -> None:
    def fields(spec: dg.AssetCheckSpec) -> tuple:
        return (
            spec.key,
            spec.blocking,
            spec.description,
            frozenset(dep.asset_key for dep in spec.additional_deps),
            spec.metadata["dagster_dbt/unique_id"],
        )

    ours = sorted(map(fields, dbt_test_check_specs(manifest)), key=str)
    theirs = sorted(map(fields, reference.check_specs), key=str)
    assert ours == theirs
    assert len(ours) == 40 and all(blocking for _, blocking, *_ in ours)
