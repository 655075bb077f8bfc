"""Every asset carries a code version, and an edit of the code it runs changes it."""

from __future__ import annotations

import copy
import json
from typing import Any

import dagster as dg
import pytest

from assets import versions
from assets.transform import model_specs
from orchestration.definitions import build_definitions
from orchestration.project import DBT_PROJECT
from orchestration.settings import Settings


def test_every_asset_has_a_code_version(tmp_path) -> None:
    graph = build_definitions(
        Settings.from_env({"ALPHADAG_HOME": str(tmp_path)})
    ).resolve_asset_graph()
    missing = [
        key.to_user_string()
        for key in graph.get_all_asset_keys()
        if graph.get(key).is_materializable and not graph.get(key).code_version
    ]
    assert missing == []


def _dbt_code_versions(manifest: dict[str, Any]) -> dict[str, str | None]:
    return {spec.key.to_user_string(): spec.code_version for spec in model_specs(manifest)}


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    return json.loads(DBT_PROJECT.manifest_path.read_text())


def test_editing_a_models_sql_changes_its_code_version_only(manifest) -> None:
    before = _dbt_code_versions(manifest)
    edited = copy.deepcopy(manifest)
    node = edited["nodes"]["model.alphadag.fct_features"]
    node["raw_code"] += "\n-- a comment is an edit too"
    after = _dbt_code_versions(edited)
    assert after["fct_features"] != before["fct_features"]
    assert {k: v for k, v in after.items() if k != "fct_features"} == {
        k: v for k, v in before.items() if k != "fct_features"
    }


def test_editing_a_macro_changes_the_models_that_call_it(manifest) -> None:
    macro = "macro.alphadag.ta_wilder"
    callers = {
        node["name"]
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model"
        and macro in _macros_called(manifest, node["depends_on"]["macros"])
    }
    assert "int_trend" in callers  # ADX, RSI: Wilder's smoothing
    edited = copy.deepcopy(manifest)
    edited["macros"][macro]["macro_sql"] += "\n{# edited #}"
    before, after = _dbt_code_versions(manifest), _dbt_code_versions(edited)
    changed = {name for name in before if before[name] != after[name]}
    assert changed == callers


def _macros_called(manifest: dict[str, Any], direct: list[str]) -> set[str]:
    found: set[str] = set()
    pending = list(direct)
    while pending:
        name = pending.pop()
        if name in manifest["macros"] and name not in found:
            found.add(name)
            pending.extend(manifest["macros"][name]["depends_on"]["macros"])
    return found


def test_source_version_follows_the_files_not_the_checkouts_location(tmp_path, monkeypatch) -> None:
    def checkout(root, body: str) -> str:
        (root / "pkg").mkdir(parents=True, exist_ok=True)
        (root / "pkg" / "__init__.py").write_text("")
        (root / "pkg" / "steps.py").write_text(body)
        (root / "other.py").write_text("x = 1\n")
        monkeypatch.setattr(versions, "ROOT", root)
        return versions.source_version("pkg", "other")

    first = checkout(tmp_path / "a", "def step():\n    return 1\n")
    assert checkout(tmp_path / "b", "def step():\n    return 1\n") == first
    assert checkout(tmp_path / "c", "def step():\n    return 2\n") != first
    monkeypatch.setattr(versions, "ROOT", tmp_path / "a")
    assert versions.source_version("pkg.steps") != versions.source_version("pkg")
    with pytest.raises(FileNotFoundError, match="no module missing"):
        versions.source_version("missing")


def test_model_zoo_follows_the_training_code_version(tmp_path) -> None:
    from assets.models import TRAINING_CODE_VERSION

    graph = build_definitions(
        Settings.from_env({"ALPHADAG_HOME": str(tmp_path)})
    ).resolve_asset_graph()
    assert graph.get(dg.AssetKey("model_zoo")).code_version == TRAINING_CODE_VERSION
