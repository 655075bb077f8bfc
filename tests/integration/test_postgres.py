"""Scale-out on a real PostgreSQL server: the Dagster instance, a shared Optuna study and
MLflow's tracking store, each configured only through the ``ALPHADAG_*`` settings.

One server serves the module (it starts in about a second); each store gets its own
database, as in a deployment (Dagster and MLflow both have a ``runs`` table).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import date

import dagster as dg
import mlflow
import numpy as np
import pandas as pd
import pytest
from postgres_server import SUPERUSER, PostgresServer, running_postgres
from typer.testing import CliRunner

from assets.market_data import build_raw_ohlcv
from ml.models import fit_lightgbm, predict
from ml.splits import label_end_dates, walk_forward_folds
from ml.tracking import configure_mlflow, get_alias_version, load_model, log_and_register
from ml.trial_recovery import OWNER_ATTR
from ml.tuning import TuningProblem, tune
from orchestration.cli import app
from orchestration.jobs import partition_range_tags
from orchestration.partitions import business_day_partitions
from orchestration.settings import Settings

START, END = date(2024, 1, 2), date(2024, 1, 5)


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    with running_postgres() as server:
        yield server


def _rows(server: PostgresServer, database: str, sql: str, *params: object) -> list[tuple]:
    connection = server.connect(database)
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()
    finally:
        connection.close()


# --- the Dagster instance ------------------------------------------------------------------


def test_the_instance_runs_on_postgres(postgres, tmp_path, monkeypatch) -> None:
    home = tmp_path / "home"
    url = postgres.create_database("dagster")
    # what `alphadag` itself sets in its own process, restored after the test
    for name, value in {
        "ALPHADAG_HOME": str(home),
        "DAGSTER_HOME": str(home / "dagster_home"),
        "DBT_TARGET_PATH": str(home / "dbt_target"),
        "DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS": "true",
        "DAGSTER_EVENT_BATCH_SIZE": "5000",
    }.items():
        monkeypatch.setenv(name, value)
    cli = CliRunner()
    # a home first used with SQLite moves to PostgreSQL by setting the URL
    assert cli.invoke(app, ["gc"]).exit_code == 0
    instance_yaml = home / "dagster_home" / "dagster.yaml"
    assert "BatchingSqliteEventLogStorage" in instance_yaml.read_text()
    monkeypatch.setenv("ALPHADAG_DAGSTER_STORAGE", url)
    gc = cli.invoke(app, ["gc"])
    assert gc.exit_code == 0, gc.output
    written = instance_yaml.read_text()
    assert "env: ALPHADAG_DAGSTER_STORAGE" in written and url not in written
    assert "event_log_storage" not in written

    settings = Settings.from_env({"ALPHADAG_HOME": str(home), "ALPHADAG_UNIVERSE": "3"})
    partitions = business_day_partitions(START, END)
    keys = partitions.get_partition_keys()
    with dg.DagsterInstance.get() as instance:
        storages = (instance.run_storage, instance.event_log_storage, instance.schedule_storage)
        assert [type(s).__name__ for s in storages] == [
            "PostgresRunStorage",
            "PostgresEventLogStorage",
            "PostgresScheduleStorage",
        ]
        result = dg.materialize(
            [build_raw_ohlcv(partitions)],
            resources={"settings": settings},
            tags=partition_range_tags(keys),
            instance=instance,
        )
    assert result.success

    # in PostgreSQL itself: the run, one materialization per day, the blocking checks
    assert _rows(
        postgres, "dagster", "select status from runs where run_id = %s", result.run_id
    ) == [("SUCCESS",)]
    materialized = _rows(
        postgres,
        "dagster",
        "select partition from event_logs where run_id = %s "
        "and dagster_event_type = 'ASSET_MATERIALIZATION' order by partition",
        result.run_id,
    )
    assert [partition for (partition,) in materialized] == keys
    checks = _rows(
        postgres,
        "dagster",
        "select count(*) from asset_check_executions where run_id = %s",
        result.run_id,
    )
    assert checks[0][0] >= len(keys)
    assert {"instigators", "jobs", "job_ticks"} <= {
        table
        for (table,) in _rows(
            postgres,
            "dagster",
            "select table_name from information_schema.tables where table_schema = 'public'",
        )
    }
    # a fresh instance (another process would open the same) sees what the run wrote
    with dg.DagsterInstance.get() as instance:
        assert instance.get_materialized_partitions(dg.AssetKey("raw_ohlcv")) == set(keys)
    # and `alphadag gc` keeps the run holding those partitions' newest materializations
    assert cli.invoke(app, ["gc", "--keep", "0"]).exit_code == 0
    assert _rows(postgres, "dagster", "select count(*) from runs")[0][0] == 1


# --- Optuna: one study, two worker processes ---------------------------------------------


def _tiny_problem(seed: int = 3) -> TuningProblem:
    """60 days x 20 names whose label ranks follow one of three features."""
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range("2024-01-01", periods=60)
    frame = pd.DataFrame(
        {"date": dates.repeat(20), "symbol": np.tile([f"S{i:02d}" for i in range(20)], 60)}
    )
    features = ["f_signal", "f_noise_1", "f_noise_2"]
    for name in features:
        frame[name] = rng.normal(size=len(frame))
    frame["fwd_ret_1d"] = np.tanh(frame["f_signal"]) + rng.normal(0.0, 1.0, len(frame))
    frame["fwd_ret_1d"] = frame.groupby("date")["fwd_ret_1d"].rank(pct=True)
    folds = walk_forward_folds(
        frame["date"], label_end_dates(frame, horizon=1), n_folds=2, valid_size=12
    )
    return TuningProblem.from_frame(frame, folds, features, "fwd_ret_1d")


def test_two_workers_share_one_optuna_study(postgres) -> None:
    import optuna

    postgres.create_database("optuna")
    # the server trusts local connections: the password is there to be kept out of messages
    url = postgres.url("optuna").replace(f"{SUPERUSER}@", f"{SUPERUSER}:s3cret@")
    settings = Settings.from_env({"ALPHADAG_OPTUNA_STORAGE": url})

    def owners() -> set[str]:
        """The processes that claimed trials (``host:pid:start``), from the storage."""
        return {
            str(owner)
            for (owner,) in _rows(
                postgres,
                "optuna",
                "select value_json from trial_user_attributes where key = %s",
                OWNER_ATTR,
            )
        }

    def wait_for_the_other_worker(_progress: str) -> None:
        # A tiny trial is faster than a spawned worker's start-up: after its first trial
        # this process waits until the other one has claimed a trial too.
        deadline = time.monotonic() + 120
        while len(owners()) < 2:
            assert time.monotonic() < deadline, "the second worker never claimed a trial"
            time.sleep(0.2)

    result = tune(
        _tiny_problem(),
        "lightgbm",
        n_trials=4,
        storage=settings.optuna_storage,
        threads=1,
        n_workers=2,
        horizon=1,
        on_trial=wait_for_the_other_worker,
    )
    trials = optuna.load_study(study_name=result.study_name, storage=url).trials
    # each worker stops once the study holds 4 finished trials; one may have begun a fifth
    assert 4 <= len(trials) <= 5 and result.n_trials == len(trials)
    assert len(owners()) == 2
    assert {t.user_attrs[OWNER_ATTR] for t in trials} == {o.strip('"') for o in owners()}
    with pytest.raises(ValueError, match="other inputs") as refused:
        tune(
            _tiny_problem(seed=4), "lightgbm", n_trials=4, storage=url, study_name=result.study_name
        )
    assert "s3cret" not in str(refused.value) and f"{SUPERUSER}:***@" in str(refused.value)
    assert _rows(postgres, "optuna", "select count(*) from trials")[0][0] == len(trials)


# --- MLflow's tracking store and registry --------------------------------------------------


def test_mlflow_tracks_and_registers_on_postgres(postgres, tmp_path) -> None:
    url = postgres.create_database("mlflow")
    settings = Settings.from_env(
        {"ALPHADAG_HOME": str(tmp_path), "ALPHADAG_MLFLOW_TRACKING_URI": url}
    )
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(200, 2)), columns=["f1", "f2"])
    frame["fwd_ret_1d"] = frame["f1"] + rng.normal(0.0, 1.0, 200)
    model = fit_lightgbm(frame, ["f1", "f2"], "fwd_ret_1d", {"n_estimators": 10}, seed=1)
    previous = mlflow.get_tracking_uri()
    try:
        configure_mlflow(settings.mlflow_tracking_uri, settings.mlflow_dir / "artifacts")
        registered = log_and_register(
            model,
            model_name="alphadag_ranker",
            fingerprint="fp-postgres",
            params={"n_estimators": 10},
            metrics={"ic": 0.1},
            tags={"family": "lightgbm"},
            input_example=frame[["f1", "f2"]].head(3),
        )
        assert (registered.version, registered.alias) == ("1", "champion")
        assert get_alias_version("alphadag_ranker", "champion") == "1"
        loaded = load_model("alphadag_ranker", "champion")
        np.testing.assert_allclose(
            predict(loaded, frame, ["f1", "f2"]), predict(model, frame, ["f1", "f2"])
        )
    finally:
        mlflow.set_tracking_uri(previous)
        mlflow.set_registry_uri(previous)
    assert _rows(postgres, "mlflow", "select name, version from model_versions") == [
        ("alphadag_ranker", 1)
    ]
    assert _rows(postgres, "mlflow", "select count(*) from runs")[0][0] == 1
