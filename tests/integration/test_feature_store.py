"""Feast on a temporary home: point-in-time joins, online/offline parity, clear errors.

The feature export is built directly (no dbt run) with every column the catalog
declares, so the tests exercise the real views and service generated from
fct_features.yml against a real DuckDB offline store and SQLite online store.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from feature_repo.catalog import load_catalog
from feature_repo.files import write_month_files
from feature_repo.layout import features_dataset

PIT = "PIT"  # planted rows, one value per date
PANEL = ["R1", "R2", "R3"]  # random values on every business day
GONE = "GONE"  # stops trading early: its last row is older than the TTL at the end
PIT_DAYS = [date(2024, 1, 2), date(2024, 1, 5), date(2024, 1, 8), date(2024, 3, 1)]
LAST_DAY = date(2024, 3, 1)


def _value(day: date, column: int) -> float:
    # readable from the value alone: 20240105.003 is column 3 of 2024-01-05
    return day.year * 10_000 + day.month * 100 + day.day + column / 1000


def write_features_export(features_dir: Path, drop: tuple[str, ...] = ()) -> pd.DataFrame:
    """fct_features as `feature_lake` writes it, a file per month: symbol, date, the
    features, event_timestamp (the date at midnight, in microseconds)."""
    names = [s.name for s in load_catalog()]
    rng = np.random.default_rng(5)
    rows = [
        {"symbol": PIT, "date": day, **{n: _value(day, i) for i, n in enumerate(names)}}
        for day in PIT_DAYS
    ]
    for day in pd.bdate_range("2024-01-01", str(LAST_DAY)).date:
        live = [*PANEL, GONE] if day <= date(2024, 2, 1) else PANEL
        for symbol in live:
            values = rng.normal(size=len(names))
            rows.append({"symbol": symbol, "date": day, **dict(zip(names, values, strict=True))})
    frame = pd.DataFrame(rows).drop(columns=list(drop))
    frame["event_timestamp"] = pd.to_datetime(frame["date"]).astype("datetime64[us]")
    write_month_files(frame, features_dataset(features_dir))
    return frame


@pytest.fixture(scope="module")
def store_home(tmp_path_factory: pytest.TempPathFactory):
    from feature_repo.definitions import build_feature_repo
    from feature_repo.store import apply_repo, materialize_latest, open_store

    home = tmp_path_factory.mktemp("feast_home")
    export = write_features_export(home / "lake" / "features")
    repo = build_feature_repo(home / "lake" / "features")
    store = open_store(home)
    assert apply_repo(store, repo)
    materialize_latest(store, repo, LAST_DAY)
    return home, store, repo, export


def _entities(rows: list[tuple[str, str]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["symbol", "date"]).assign(
        date=lambda f: pd.to_datetime(f["date"])
    )


def test_point_in_time_join_never_takes_a_newer_row(store_home) -> None:
    from feature_repo.store import historical_features

    _, store, repo, _ = store_home
    first = repo.model_feature_names()[0]
    column = [s.name for s in repo.specs].index(first)
    entities = _entities(
        [
            (PIT, "2024-01-01"),  # before any row: nothing known yet
            (PIT, "2024-01-04"),  # the 01-05 row exists but is not known yet
            (PIT, "2024-01-05"),  # known at the close of that day
            (PIT, "2024-01-07"),  # weekend: still the 01-05 row, never 01-08
            (PIT, "2024-01-15"),  # 01-08 is exactly 7 days old: still within the TTL
            (PIT, "2024-01-20"),  # 01-08 is older than the TTL; 03-01 is in the future
        ]
    )
    joined = historical_features(store, repo, entities).set_index("date")[first]
    expected = [None, date(2024, 1, 2), date(2024, 1, 5), date(2024, 1, 5), date(2024, 1, 8), None]
    for (_, row), known in zip(entities.iterrows(), expected, strict=True):
        got = joined[row["date"]]
        if known is None:
            assert pd.isna(got), row["date"]
        else:
            assert got == _value(known, column), row["date"]


def test_training_set_rows_carry_labels_and_every_service_feature(store_home) -> None:
    from feature_repo.store import historical_features

    _, store, repo, export = store_home
    labels = export[export["symbol"].isin(PANEL)][["symbol", "date"]].assign(
        date=lambda f: pd.to_datetime(f["date"]), fwd_ret_1d=0.5
    )
    joined = historical_features(store, repo, labels)
    assert len(joined) == len(labels)
    assert list(joined.columns) == ["symbol", "date", "fwd_ret_1d", *repo.model_feature_names()]
    # each (symbol, date) has its own row's values, since a row exists every day
    merged = joined.merge(
        export.assign(date=lambda f: pd.to_datetime(f["date"])),
        on=["symbol", "date"],
        suffixes=("", "_src"),
    )
    for name in repo.model_feature_names():
        assert (merged[name] == merged[f"{name}_src"]).all(), name


def test_online_features_equal_offline_ones(store_home) -> None:
    from feature_repo.store import historical_features, online_features

    _, store, repo, _ = store_home
    symbols = [*PANEL, PIT, GONE]
    online = online_features(store, repo, symbols).set_index("symbol")
    offline = historical_features(
        store, repo, _entities([(s, str(LAST_DAY)) for s in symbols])
    ).set_index("symbol")
    features = repo.model_feature_names()
    assert list(online.columns) == ["date", *features]
    pd.testing.assert_frame_equal(
        online.loc[symbols, features], offline.loc[symbols, features], check_exact=True
    )
    assert (online.loc[[*PANEL, PIT], "date"] == pd.Timestamp(LAST_DAY)).all()
    # a symbol past the TTL is missing online exactly as it is offline
    assert online.loc[GONE, features].isna().all() and pd.isna(online.loc[GONE, "date"])


def test_apply_is_skipped_while_the_definitions_are_unchanged(store_home) -> None:
    from feature_repo.store import apply_repo, registered_version

    _, store, repo, _ = store_home
    assert registered_version(store, repo) == repo.version
    assert apply_repo(store, repo) is False


def test_a_registry_cut_short_mid_write_is_set_aside_and_rebuilt(tmp_path: Path) -> None:
    from feature_repo.definitions import build_feature_repo
    from feature_repo.store import apply_repo, open_store, registered_version

    write_features_export(tmp_path / "lake" / "features")
    repo = build_feature_repo(tmp_path / "lake" / "features")
    assert apply_repo(open_store(tmp_path), repo)
    registry = tmp_path / "feast" / "registry.db"
    whole = registry.read_bytes()
    registry.write_bytes(whole[: len(whole) // 2])  # what a kill mid-write leaves

    store = open_store(tmp_path)
    assert (tmp_path / "feast" / "registry.db.broken").exists()
    assert registered_version(store, repo) is None
    assert apply_repo(store, repo) and registered_version(store, repo) == repo.version


def test_a_missing_source_fails_with_a_clear_message(tmp_path: Path) -> None:
    from feature_repo.definitions import build_feature_repo
    from feature_repo.store import FeatureStoreError, apply_repo, historical_features, open_store

    features_dir = tmp_path / "lake" / "features"
    repo = build_feature_repo(features_dir)
    store = open_store(tmp_path)
    with pytest.raises(
        FeatureStoreError,
        match=r"returns_features: source .*fct_features/\*.parquet is missing; materialize `feature_lake`",
    ):
        apply_repo(store, repo)

    write_features_export(features_dir)
    apply_repo(store, repo)
    for month in features_dataset(features_dir).glob("*.parquet"):
        month.unlink()
    with pytest.raises(FeatureStoreError, match="is missing; materialize `feature_lake`"):
        historical_features(store, repo, _entities([(PIT, "2024-01-05")]))

    dropped = repo.model_feature_names()[-1]
    write_features_export(features_dir, drop=(dropped,))
    with pytest.raises(FeatureStoreError, match=f"has no column {dropped}"):
        historical_features(store, repo, _entities([(PIT, "2024-01-05")]))


def test_an_unregistered_service_names_the_asset_to_run(tmp_path: Path) -> None:
    from feature_repo.definitions import build_feature_repo
    from feature_repo.store import FeatureStoreError, historical_features, open_store

    repo = build_feature_repo(tmp_path / "lake" / "features")
    with pytest.raises(FeatureStoreError, match="not registered: materialize `feast_apply`"):
        historical_features(open_store(tmp_path), repo, _entities([(PIT, "2024-01-05")]))


@pytest.mark.slow
def test_feast_command_line_applies_the_same_objects(tmp_path: Path) -> None:
    from feature_repo.definitions import build_feature_repo

    write_features_export(tmp_path / "lake" / "features")
    feast = Path(sys.executable).parent / "feast"
    repo_dir = Path(__file__).resolve().parents[2] / "feature_repo"
    env = {"ALPHADAG_HOME": str(tmp_path), "PATH": str(feast.parent)}
    subprocess.run([str(feast), "apply"], cwd=repo_dir, env=env, check=True, capture_output=True)
    listed = subprocess.run(
        [str(feast), "feature-services", "list"],
        cwd=repo_dir,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert build_feature_repo(tmp_path / "lake" / "features").service.name in listed


def test_training_set_in_date_batches_equals_one_join(store_home, tmp_path: Path) -> None:
    import duckdb

    from feature_repo.files import feature_service_of, write_features
    from feature_repo.store import historical_features
    from feature_repo.training import LABEL_COLUMNS, build_training_set
    from orchestration.warehouse import Warehouse

    _, store, repo, export = store_home
    rng = np.random.default_rng(11)
    # PIT every day of January and GONE after its last row: rows whose newest features
    # are days old, at the start of a batch too (the batch must see them within the TTL)
    extra = [(PIT, d) for d in pd.bdate_range("2024-01-01", "2024-01-31").date]
    extra += [(GONE, d) for d in pd.bdate_range("2024-02-01", "2024-02-20").date]
    keys = pd.concat([export[["symbol", "date"]], pd.DataFrame(extra, columns=["symbol", "date"])])
    keys = keys.drop_duplicates().reset_index(drop=True)
    labels = keys.assign(**{column: rng.normal(size=len(keys)) for column in LABEL_COLUMNS})
    labels.loc[labels.index[::5], "fwd_ret_5d"] = np.nan  # the last days have no label yet
    warehouse = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        con.execute("create table fct_labels as select * from labels")
    query = Warehouse(warehouse).query

    ordered = query("select * from fct_labels order by date, symbol", [])
    one_join = tmp_path / "one_join.parquet"
    write_features(historical_features(store, repo, ordered), one_join, repo.service.name)
    batched = tmp_path / "batched.parquet"
    built = build_training_set(store, repo, query, batched, max_rows=40)

    assert built.batches > 3
    assert built.rows == len(labels)
    assert feature_service_of(batched) == feature_service_of(one_join) == repo.service.name
    joined = pd.read_parquet(batched)
    pd.testing.assert_frame_equal(joined, pd.read_parquet(one_join))
    # the TTL reaches back across batches: GONE's last row (02-01) serves it to 02-08
    first = repo.model_feature_names()[0]
    gone = joined[joined["symbol"] == GONE].set_index("date")[first]
    assert gone[pd.Timestamp("2024-02-08")] == gone[pd.Timestamp("2024-02-01")]
    assert gone[pd.Timestamp("2024-02-09") :].isna().all()
