"""Code versions of the Python assets, from the source files each one runs.

Dagster records an asset's code version with every materialization and marks the asset
(and everything downstream) stale in the UI when the definitions carry another one, so
a code change shows where a rebuild is due. The version is a hash of the asset's module
and of the domain code it calls, rather than a constant to bump by hand: an edit can
never be forgotten. The dbt models get theirs from dagster-dbt (a hash of each model's
SQL), `feast_apply` from the Feast definitions (`feature_repo.catalog.definitions_version`)
and `model_zoo` from `TRAINING_CODE_VERSION`, which also decides when a retrain
registers a new model version.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _source_files(module: str) -> list[Path]:
    """The Python files of a project module (``ingest.lake``) or package (``ingest``)."""
    base = ROOT.joinpath(*module.split("."))
    if base.is_dir():
        return sorted(base.rglob("*.py"))
    path = base.with_suffix(".py")
    if not path.is_file():
        raise FileNotFoundError(f"no module {module} under {ROOT}")
    return [path]


def source_version(*modules: str) -> str:
    """A short hash of the source of ``modules`` (names of project modules or packages):
    equal when the files are byte for byte the same, whatever the checkout's location."""
    digest = hashlib.sha256()
    for path in sorted({p for module in modules for p in _source_files(module)}):
        digest.update(path.relative_to(ROOT).as_posix().encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]
