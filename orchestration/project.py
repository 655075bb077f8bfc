"""Where the project's non-Python parts live, and the one-time dbt preparation step."""

from __future__ import annotations

from pathlib import Path

from dagster_dbt import DbtProject

ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = ROOT / "dbt_project"

# Constructing DbtProject reads no SQL; `prepare_dbt_manifest` (run by `make setup`,
# `alphadag run` and `dagster dev`) writes target/manifest.json, which the dbt assets
# load instead of parsing the project on every import of the definitions.
DBT_PROJECT = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)


def prepare_dbt_manifest() -> Path:
    """Parse the dbt project into target/manifest.json and return its path."""
    DBT_PROJECT.preparer.prepare(DBT_PROJECT)
    return DBT_PROJECT.manifest_path
