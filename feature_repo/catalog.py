"""The feature catalog: which columns of `fct_features` Feast serves, read from dbt's yml.

`dbt_project/models/marts/fct_features.yml` is the one place a feature is declared: each
column carries `config.meta.family` (the feature view it belongs to) and
`config.meta.model_feature` (whether the models see it). Reading that file with yaml,
rather than parsing the dbt project, keeps building the Feast objects fast and lets a new
column reach Feast without an edit here.

No feast import: the Dagster definitions use this module to derive code versions.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import yaml

REPO_DIR = Path(__file__).resolve().parent
FEATURES_YML = REPO_DIR.parent / "dbt_project" / "models" / "marts" / "fct_features.yml"
FEATURES_MODEL = "fct_features"
FAMILIES = ("returns", "trend", "momentum", "volatility", "volume", "factors", "regime")
SERVICE_PREFIX = "alphadag"

# The files whose content defines the Feast objects; their hash is feast_apply's code version.
DEFINITION_FILES = (
    "feature_store.yaml",
    "catalog.py",
    "entities.py",
    "sources.py",
    "views.py",
    "services.py",
    "definitions.py",
)

# dbt `data_type` -> Feast type name (feast.types); a column without one is a double.
DATA_TYPES = {
    "double": "Float64",
    "float": "Float32",
    "real": "Float32",
    "integer": "Int32",
    "int": "Int32",
    "bigint": "Int64",
    "boolean": "Bool",
    "varchar": "String",
}


# Feast type name -> the DuckDB type the Parquet export must carry, so that what Feast
# serves has exactly the declared type (an INTEGER column declared as a double would
# fail Feast's type check at materialization).
SQL_TYPES = {
    "Float64": "DOUBLE",
    "Float32": "FLOAT",
    "Int32": "INTEGER",
    "Int64": "BIGINT",
    "Bool": "BOOLEAN",
    "String": "VARCHAR",
}


def export_sql(
    specs: list[FeatureSpec], first: date, last: date, table: str = "fct_features"
) -> str:
    """The query that exports the rows of `table` dated `first`..`last` for Feast: keys,
    each declared column cast to its declared type, and the event timestamp, in (date,
    symbol) order: each Parquet row group then spans a few dates, so a reader of a date
    range (a training-set batch) skips the others by their statistics."""
    columns = ", ".join(f"cast({s.name} as {SQL_TYPES[s.dtype]}) as {s.name}" for s in specs)
    return (
        f"select symbol, date, {columns}, cast(date as timestamp) as event_timestamp "
        f"from {table} where date between date '{first.isoformat()}' "
        f"and date '{last.isoformat()}' order by date, symbol"
    )


class CatalogError(ValueError):
    """fct_features.yml breaks the contract with the feature store."""


@dataclass(frozen=True)
class FeatureSpec:
    name: str
    family: str
    model_feature: bool
    dtype: str
    description: str


def load_catalog(path: Path = FEATURES_YML) -> list[FeatureSpec]:
    """Every feature column of fct_features, in the yml's order."""
    document = yaml.safe_load(path.read_text())
    models = [m for m in document.get("models", []) if m.get("name") == FEATURES_MODEL]
    if not models:
        raise CatalogError(f"{path} declares no model named {FEATURES_MODEL}")
    specs = []
    for column in models[0].get("columns", []):
        name = column["name"]
        if name in ("symbol", "date"):
            continue
        meta = (column.get("config") or {}).get("meta") or column.get("meta") or {}
        family = meta.get("family")
        if family not in FAMILIES:
            raise CatalogError(
                f"{path}: column {name} needs config.meta.family in {', '.join(FAMILIES)}, "
                f"got {family!r}"
            )
        model_feature = meta.get("model_feature")
        if not isinstance(model_feature, bool):
            raise CatalogError(f"{path}: column {name} needs config.meta.model_feature true/false")
        data_type = str(column.get("data_type", "double")).lower()
        if data_type not in DATA_TYPES:
            raise CatalogError(
                f"{path}: column {name} has data_type {data_type!r}; "
                f"Feast views support {', '.join(DATA_TYPES)}"
            )
        specs.append(
            FeatureSpec(
                name=name,
                family=family,
                model_feature=model_feature,
                dtype=DATA_TYPES[data_type],
                description=" ".join(str(column.get("description", "")).split()),
            )
        )
    return specs


def families(specs: list[FeatureSpec]) -> dict[str, list[FeatureSpec]]:
    """Features grouped by family, families in their canonical order, empty ones left out."""
    grouped = {family: [s for s in specs if s.family == family] for family in FAMILIES}
    return {family: members for family, members in grouped.items() if members}


def service_name(specs: list[FeatureSpec]) -> str:
    """The feature service's name, versioned by the content of its feature list.

    The version is the first 8 hex digits of a SHA-256 over the (family, name, type) of
    the model features, in the service's order: the same list always gives the same name, and any change
    (a feature added, removed, moved to another view or retyped) gives a new one. So a
    service never changes under a model that records its name, and a new column declared
    in the yml reaches the models without anyone editing feature_repo/.
    """
    listed = [
        [s.family, s.name, s.dtype]
        for members in families(specs).values()
        for s in members
        if s.model_feature
    ]
    if not listed:
        raise CatalogError("no column of fct_features is marked model_feature: true")
    digest = hashlib.sha256(json.dumps(listed).encode()).hexdigest()
    return f"{SERVICE_PREFIX}_{digest[:8]}"


def definitions_version(yml: Path = FEATURES_YML, features_dir: Path | None = None) -> str:
    """A hash of everything the Feast objects are built from: the yml, this package's
    definition files and (when given) the source folder. Equal versions mean `feast apply`
    would change nothing."""
    digest = hashlib.sha256(str(features_dir).encode())
    for path in (yml, *(REPO_DIR / name for name in DEFINITION_FILES)):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]
