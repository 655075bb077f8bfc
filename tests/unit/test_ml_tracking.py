"""MLflow round trip on a real SQLite store: register, aliases, fingerprint reuse, load.

Creating an MLflow SQLite database runs its migrations (~3 s), so one store is built
per module and the registrations are done once in a fixture; the tests only read it,
except the idempotency test, which must leave it unchanged.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from ml.models import fit_lightgbm, predict
from ml.tracking import (
    FINGERPRINT_TAG,
    REGISTRATION_TAG,
    RegisteredModel,
    configure_mlflow,
    find_model_version,
    flatten_params,
    get_alias_version,
    load_model,
    log_and_register,
    model_version_info,
    record_on_version,
    run_params,
    version_tags,
)
from ml.zoo import RankEnsemble

FEATURES = ["f1", "f2", "f3"]
MODEL = "alphadag-test-ranker"


@dataclass
class Store:
    root: Path
    experiment_id: str
    frame: pd.DataFrame
    boosters: list
    registered: list[RegisteredModel]


def _frame(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(300, 3)), columns=FEATURES)
    frame["fwd_ret_1d"] = 0.01 * frame["f1"] + rng.normal(0, 0.01, 300)
    return frame


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    previous_uri = mlflow.get_tracking_uri()
    root = tmp_path_factory.mktemp("mlflow")
    experiment_id = configure_mlflow(f"sqlite:///{root / 'db' / 'mlflow.db'}", root / "artifacts")
    frame = _frame(0)
    params = {"num_leaves": 7, "n_estimators": 20}
    boosters = [
        RankEnsemble(
            {"lightgbm": fit_lightgbm(frame, FEATURES, "fwd_ret_1d", params, seed=s)}, FEATURES
        )
        for s in (1, 2, 3)
    ]
    registered = [
        log_and_register(
            booster,
            model_name=MODEL,
            fingerprint=f"fp-{i}",
            params={**params, "seed": i},
            metrics={"ic": 0.05 * i, "oracle_ic": float("nan")},
            tags={"family": "lightgbm", "target": "fwd_ret_1d"},
            input_example=frame[FEATURES].head(3),
            tables={"zoo": pd.DataFrame({"candidate": ["lightgbm"], "test_ic": [0.1 * i]})},
        )
        for i, booster in enumerate(boosters)
    ]
    yield Store(root, experiment_id, frame, boosters, registered)
    mlflow.set_tracking_uri(previous_uri)
    mlflow.set_registry_uri(previous_uri)


def test_first_version_is_champion_later_ones_challengers(store: Store) -> None:
    first, second, third = store.registered
    assert (first.name, first.version, first.alias) == (MODEL, "1", "champion")
    assert (second.version, second.alias) == ("2", "challenger")
    assert (third.version, third.alias) == ("3", "challenger")
    assert isinstance(first.version, str) and len({r.run_id for r in store.registered}) == 3
    # The challenger alias moved to the newest candidate; the champion stays.
    assert get_alias_version(MODEL, "champion") == "1"
    assert get_alias_version(MODEL, "challenger") == "3"
    assert get_alias_version(MODEL, "staging") is None
    assert get_alias_version("no-such-model", "champion") is None


def test_find_model_version_by_fingerprint(store: Store) -> None:
    assert find_model_version(MODEL, "fp-0") == "1"
    assert find_model_version(MODEL, "fp-1") == "2"
    assert find_model_version(MODEL, "fp-unknown") is None
    assert find_model_version("no-such-model", "fp-0") is None


def test_same_fingerprint_reuses_the_version(store: Store) -> None:
    again = log_and_register(
        store.boosters[0],
        model_name=MODEL,
        fingerprint="fp-0",
        params={},
        metrics={},
        tags={},
        input_example=store.frame[FEATURES].head(3),
    )
    assert again == store.registered[0]
    versions = MlflowClient().search_model_versions(f"name='{MODEL}'")
    assert sorted(int(v.version) for v in versions) == [1, 2, 3]


def test_registration_cut_short_before_its_alias_is_finished_on_reuse(store: Store) -> None:
    # What a process killed between creating the version and setting its alias leaves:
    # a version with its fingerprint, pending, and no alias on a model that has none.
    name, client = "alphadag-cut-short", MlflowClient()
    first = store.registered[0]
    client.create_registered_model(name)
    client.create_model_version(
        name=name,
        source=client.get_model_version(MODEL, first.version).source,
        run_id=first.run_id,
        tags={FINGERPRINT_TAG: "fp-cut", REGISTRATION_TAG: "pending"},
    )
    assert get_alias_version(name, "champion") is None

    again = log_and_register(
        store.boosters[0],
        model_name=name,
        fingerprint="fp-cut",
        params={},
        metrics={},
        tags={},
        input_example=store.frame[FEATURES].head(3),
    )
    assert (again.version, again.alias) == ("1", "champion")
    assert [str(v.version) for v in client.search_model_versions(f"name='{name}'")] == ["1"]
    assert client.get_model_version(name, "1").tags[REGISTRATION_TAG] == "complete"


def test_model_version_info_describes_existing_versions(store: Store) -> None:
    first, second, third = store.registered
    assert model_version_info(MODEL, "1") == first
    assert model_version_info(MODEL, "3") == third
    # Version 2 lost the challenger alias to version 3.
    assert model_version_info(MODEL, "2") == RegisteredModel(MODEL, "2", second.run_id, None)


def test_load_by_alias_or_version_predicts_like_the_original(store: Store) -> None:
    test = _frame(1)
    champion = load_model(MODEL, "champion")
    assert isinstance(champion, RankEnsemble)
    assert np.array_equal(champion.predict(test), store.boosters[0].predict(test))
    second = load_model(MODEL, "2")
    assert np.array_equal(second.predict(test), store.boosters[1].predict(test))
    assert np.array_equal(
        second.predict(test), predict(store.boosters[1].members["lightgbm"], test, FEATURES)
    )


def test_run_and_version_metadata(store: Store) -> None:
    client = MlflowClient()
    version = client.get_model_version(MODEL, "2")
    assert version.tags == {
        "fingerprint": "fp-1",
        "family": "lightgbm",
        "target": "fwd_ret_1d",
        "registration": "complete",
    }
    run = client.get_run(store.registered[1].run_id)
    assert run.info.experiment_id == store.experiment_id
    assert run.data.params["num_leaves"] == "7"
    assert run.data.metrics["ic"] == pytest.approx(0.05)
    assert math.isnan(run.data.metrics["oracle_ic"])
    assert run.data.tags["fingerprint"] == "fp-1"
    assert "zoo.csv" in {a.path for a in client.list_artifacts(run.info.run_id)}
    signature = mlflow.models.get_model_info(f"models:/{MODEL}/2").signature
    assert signature.inputs.input_names() == FEATURES


def test_family_params_come_back_as_they_were_logged(store: Store) -> None:
    # what a tuned ensemble logs: floats that need every digit, ints, library strings
    params = {
        "lightgbm": {"objective": "regression", "learning_rate": 0.07361950219, "num_leaves": 4},
        "xgboost": {"objective": "reg:squarederror", "min_child_weight": 2000.0, "alpha": 1e-05},
    }
    with mlflow.start_run() as run:
        mlflow.log_params({**flatten_params(params), "seed": 7})
    back = run_params(run.info.run_id)
    assert back == params  # params without a family prefix are not a family's
    assert isinstance(back["lightgbm"]["num_leaves"], int)
    assert isinstance(back["xgboost"]["min_child_weight"], float)


def test_recorded_decisions_land_on_the_version_and_its_run(store: Store) -> None:
    record_on_version(MODEL, "3", {"gate_promoted": "True"}, {"backtest_sharpe": 1.5})
    assert version_tags(MODEL, "3")["gate_promoted"] == "True"
    run = MlflowClient().get_run(store.registered[2].run_id)
    assert run.data.tags["gate_promoted"] == "True"
    assert run.data.metrics["backtest_sharpe"] == 1.5


def test_configure_is_idempotent_and_uses_the_artifact_root(store: Store) -> None:
    uri = mlflow.get_tracking_uri()
    assert configure_mlflow(uri, store.root / "artifacts") == store.experiment_id
    experiment = MlflowClient().get_experiment(store.experiment_id)
    assert experiment.name == "alphadag"
    assert experiment.artifact_location == (store.root / "artifacts").resolve().as_uri()
    logged = list((store.root / "artifacts").rglob("MLmodel"))
    assert len(logged) == 3
    requirements = (logged[0].parent / "requirements.txt").read_text()
    assert "lightgbm==" in requirements and "xgboost-cpu==" in requirements


def test_the_sqlite_store_appears_whole(tmp_path: Path) -> None:
    """MLflow's schema is built aside and renamed: the file either does not exist yet or
    holds every table, so a process killed while building it leaves nothing behind."""
    db = tmp_path / "mlflow" / "mlflow.db"
    uri = f"sqlite:///{db}"
    experiment = configure_mlflow(uri, tmp_path / "artifacts")
    assert db.exists() and not list(db.parent.glob("*.tmp"))
    # a second process (or run) finds the complete store and its experiment
    assert configure_mlflow(uri, tmp_path / "artifacts") == experiment
    with sqlite3.connect(db) as con:
        tables = {row[0] for row in con.execute("select name from sqlite_master")}
    assert {"experiments", "runs", "registered_models", "model_versions"} <= tables
