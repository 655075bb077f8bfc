"""The feature catalog read from fct_features.yml and the feature service's versioning."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pytest
import yaml

from feature_repo.catalog import (
    FAMILIES,
    FEATURES_YML,
    SQL_TYPES,
    CatalogError,
    definitions_version,
    export_sql,
    families,
    load_catalog,
    service_name,
)


def _yml(tmp_path: Path, columns: list[dict]) -> Path:
    path = tmp_path / "fct_features.yml"
    document = {"version": 2, "models": [{"name": "fct_features", "columns": columns}]}
    path.write_text(yaml.safe_dump(document))
    return path


def _column(name: str, family: str = "returns", model_feature: bool = True, **extra) -> dict:
    return {
        "name": name,
        "config": {"meta": {"family": family, "model_feature": model_feature}},
        **extra,
    }


def test_every_feature_column_of_the_project_yml_is_in_the_catalog() -> None:
    document = yaml.safe_load(FEATURES_YML.read_text())
    declared = [c["name"] for c in document["models"][0]["columns"]]
    specs = load_catalog()
    assert [s.name for s in specs] == [n for n in declared if n not in ("symbol", "date")]
    assert {s.family for s in specs} <= set(FAMILIES)
    assert any(s.model_feature for s in specs) and all(s.dtype for s in specs)


def test_families_follow_the_canonical_order_and_skip_empty_ones(tmp_path: Path) -> None:
    specs = load_catalog(
        _yml(
            tmp_path,
            [_column("vol", "volatility"), _column("r", "returns"), _column("m", "momentum")],
        )
    )
    assert list(families(specs)) == ["returns", "momentum", "volatility"]


def test_service_name_is_stable_and_changes_with_the_model_feature_list(tmp_path: Path) -> None:
    base = [_column("ret_1d"), _column("rsi_14", "momentum")]
    name = service_name(load_catalog(_yml(tmp_path, base)))
    assert name.startswith("alphadag_") and len(name) == len("alphadag_") + 8
    assert service_name(load_catalog(_yml(tmp_path, base))) == name
    # a column the models do not see leaves the service as it is
    with_level = [*base, _column("sma_20", "trend", model_feature=False)]
    assert service_name(load_catalog(_yml(tmp_path, with_level))) == name
    # adding, moving or retyping a model feature gives a new service
    for changed in (
        [*base, _column("ret_5d")],
        [_column("ret_1d"), _column("rsi_14", "trend")],
        [_column("ret_1d", data_type="float"), _column("rsi_14", "momentum")],
    ):
        assert service_name(load_catalog(_yml(tmp_path, changed))) != name


def test_definitions_version_follows_the_yml_and_the_source_folder(tmp_path: Path) -> None:
    yml = _yml(tmp_path, [_column("ret_1d")])
    version = definitions_version(yml, tmp_path)
    assert definitions_version(yml, tmp_path) == version
    assert definitions_version(yml, tmp_path / "elsewhere") != version
    _yml(tmp_path, [_column("ret_1d"), _column("sma_20", "trend", model_feature=False)])
    assert definitions_version(yml, tmp_path) != version


@pytest.mark.parametrize(
    ("column", "message"),
    [
        ({"name": "x"}, "needs config.meta.family"),
        (_column("x", family="sentiment"), "got 'sentiment'"),
        ({"name": "x", "config": {"meta": {"family": "trend"}}}, "model_feature true/false"),
        (_column("x", data_type="timestamp"), "data_type 'timestamp'"),
    ],
)
def test_a_column_that_breaks_the_contract_is_named(
    tmp_path: Path, column: dict, message: str
) -> None:
    with pytest.raises(CatalogError, match=message):
        load_catalog(_yml(tmp_path, [column]))


def test_a_catalog_without_model_features_has_no_service(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="model_feature: true"):
        service_name(
            load_catalog(_yml(tmp_path, [_column("sma_20", "trend", model_feature=False)]))
        )


def test_export_casts_every_declared_column_to_its_type() -> None:
    # an INTEGER column (a regime flag) declared without data_type is served as a double
    specs = load_catalog()
    con = duckdb.connect()
    columns = ", ".join(f"1::INTEGER as {s.name}" for s in specs)
    con.execute(
        f"create table fct_features as select 'A' as symbol, date '2024-01-02' as date, {columns}"
    )
    exported = con.execute(
        f"describe {export_sql(specs, date(2024, 1, 1), date(2024, 1, 31))}"
    ).fetchall()
    types = {name: kind for name, kind, *_ in exported}
    assert types["event_timestamp"] == "TIMESTAMP"
    assert all(types[s.name] == SQL_TYPES[s.dtype] for s in specs)
