"""A new home does not parse the dbt project before its first step: the parsed project
is the same for every home, and the home's own partial-parse state can come later."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.features.conftest import dbt_build

ROOT = Path(__file__).resolve().parents[2]
# fields dbt stamps with the time of the parse
VOLATILE = {"created_at", "generated_at", "invocation_id", "invocation_started_at"}


def _stable(value: object) -> object:
    if isinstance(value, dict):
        return {k: _stable(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [_stable(v) for v in value]
    return value


def test_the_parsed_project_does_not_depend_on_the_home(tmp_path: Path) -> None:
    manifests = []
    for name in ("one", "two"):
        home = tmp_path / name
        dbt_build(home, command="parse", target=home / "parse")
        text = (home / "parse" / "manifest.json").read_text()
        assert str(home) not in text
        manifests.append(_stable(json.loads(text)))
    first, second = manifests
    first["metadata"].pop("run_started_at", None)
    second["metadata"].pop("run_started_at", None)
    assert first == second


def _in_home(home: Path, code: str) -> str:
    env = {**os.environ, "ALPHADAG_HOME": str(home)}
    completed = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    return completed.stdout.strip()


def test_a_new_home_copies_the_manifest_and_parses_its_profile_later(tmp_path: Path) -> None:
    ready = "from orchestration.project import prepare_dbt_manifest as p; print(p())"
    first, second = tmp_path / "first", tmp_path / "second"
    _in_home(first, ready)  # parses, or copies what an earlier home parsed
    manifest = Path(_in_home(second, ready))
    assert manifest == second / "dbt_target" / "manifest.json"
    # no dbt process ran for the second home: it has the manifest and nothing else yet
    assert not (second / "dbt_target" / "parse").exists()
    assert not (second / "dbt_target" / "partial_parse.msgpack").exists()
    assert manifest.read_bytes() == (first / "dbt_target" / "manifest.json").read_bytes()

    # the home's own parse (what `alphadag run` starts in the background)
    parse = "from orchestration.project import prepare_dbt_partial_parse as p; print(p(), p())"
    assert _in_home(second, parse) == "True False"
    listed = dbt_build(second, "--select", "int_bars", command="ls", target=second / "dbt_target")
    assert "Unable to do partial parsing" not in listed
