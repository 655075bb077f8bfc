"""Shared test set-up: a persistent numba cache, the dbt manifest, reference data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
REFERENCE_DIR = ROOT.parent / "shared" / "reference"


def pytest_configure(config: pytest.Config) -> None:
    # vectorbt's numba kernels compile once per cache folder, not once per test run.
    os.environ.setdefault("NUMBA_CACHE_DIR", str(ROOT / ".cache" / "numba"))
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    from orchestration.project import DBT_PROJECT, prepare_dbt_manifest

    if not DBT_PROJECT.manifest_path.exists():
        prepare_dbt_manifest()


@pytest.fixture(scope="session")
def optional_reference_dir() -> Path | None:
    """Real data and reference values kept outside the repository, when present."""
    return REFERENCE_DIR if REFERENCE_DIR.is_dir() else None


@pytest.fixture(scope="session")
def reference_dir(optional_reference_dir: Path | None) -> Path:
    """The reference folder, for the tests that compare with its files (skipped without)."""
    if optional_reference_dir is None:
        pytest.skip(f"reference data not found at {REFERENCE_DIR}")
    return optional_reference_dir
