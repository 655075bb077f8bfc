"""The configuration contract: ALPHADAG_* variables, defaults, one-line errors."""

from datetime import date
from pathlib import Path

import pytest

from orchestration.settings import Settings, SettingsError


def test_defaults_are_the_fixed_simulator_history() -> None:
    settings = Settings.from_env({})
    assert settings.source == "simulator"
    assert (settings.start, settings.end) == (date(2021, 1, 1), date(2023, 12, 31))
    assert settings.universe == 100
    assert settings.home == Path("data").resolve()


def test_variables_override_defaults(tmp_path) -> None:
    settings = Settings.from_env(
        {
            "ALPHADAG_HOME": str(tmp_path),
            "ALPHADAG_SOURCE": f"csv:{tmp_path}",
            "ALPHADAG_START": "2020-01-01",
            "ALPHADAG_END": "2020-06-30",
            "ALPHADAG_UNIVERSE": "aapl, msft",
        }
    )
    assert settings.home == tmp_path
    assert settings.source_spec.kind == "csv"
    assert settings.universe == ("AAPL", "MSFT")
    assert settings.warehouse_path == tmp_path / "warehouse.duckdb"
    assert settings.mlflow_tracking_uri == f"sqlite:///{tmp_path}/mlflow/mlflow.db"


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"ALPHADAG_SOURCE": "bloomberg"}, "ALPHADAG_SOURCE"),
        ({"ALPHADAG_START": "2022-01-01", "ALPHADAG_END": "2021-01-01"}, "before"),
        ({"ALPHADAG_START": "01/02/2022"}, "ISO date"),
        ({"ALPHADAG_UNIVERSE": "AAPL,MSFT"}, "number of symbols"),
        ({"ALPHADAG_UNIVERSE": "1"}, "at least 2"),
        ({"ALPHADAG_SCHEDULE_HOUR": "24"}, "ALPHADAG_SCHEDULE_HOUR must be an hour"),
        ({"ALPHADAG_SCHEDULE_TIMEZONE": "Mars/Olympus"}, "IANA time zone"),
        ({"ALPHADAG_SCHEDULE_RUNNING": "maybe"}, "ALPHADAG_SCHEDULE_RUNNING"),
    ],
)
def test_bad_configuration_is_one_line(environ: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message) as info:
        Settings.from_env(environ)
    assert "\n" not in str(info.value)


def test_today_leaves_the_range_open() -> None:
    settings = Settings.from_env({"ALPHADAG_END": "today"})
    assert settings.open_ended and settings.end == date.today()


def test_unwritable_home_is_reported(tmp_path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(SettingsError, match="not writable"):
        Settings.from_env({"ALPHADAG_HOME": str(blocker / "home")}).ensure_home()


def test_sample_source_defaults_to_its_shipped_history() -> None:
    settings = Settings.from_env({"ALPHADAG_SOURCE": "sample"})
    assert (settings.start, settings.end) == (date(2000, 3, 1), date(2013, 3, 1))
    narrowed = Settings.from_env({"ALPHADAG_SOURCE": "sample", "ALPHADAG_START": "2010-01-01"})
    assert (narrowed.start, narrowed.end) == (date(2010, 1, 1), date(2013, 3, 1))
    assert settings.describe_universe() == "all"  # a count only sizes the simulator
    assert Settings.from_env({}).describe_universe() == "100"


def test_optuna_storage_is_any_sqlalchemy_url_defaulting_under_the_home(tmp_path) -> None:
    from orchestration.settings import Settings, SettingsError

    default = Settings.from_env({"ALPHADAG_HOME": str(tmp_path)})
    assert default.optuna_storage == f"sqlite:///{tmp_path.resolve() / 'optuna.db'}"
    url = "postgresql://alphadag@db.example/optuna"
    assert Settings.from_env({"ALPHADAG_OPTUNA_STORAGE": url}).optuna_storage == url
    with pytest.raises(SettingsError, match="SQLAlchemy URL"):
        Settings.from_env({"ALPHADAG_OPTUNA_STORAGE": "optuna.db"})


def test_server_urls_are_checked_for_form_and_never_echo_a_password(tmp_path) -> None:
    default = Settings.from_env({"ALPHADAG_HOME": str(tmp_path)})
    assert default.dagster_storage_url is None
    assert default.mlflow_tracking_uri == f"sqlite:///{tmp_path.resolve()}/mlflow/mlflow.db"
    url = "postgresql://alphadag:s3cret@db.example:5432/mlflow"
    assert Settings.from_env({"ALPHADAG_MLFLOW_TRACKING_URI": url}).mlflow_tracking_uri == url
    dagster = Settings.from_env({"ALPHADAG_DAGSTER_STORAGE": url.replace("mlflow", "dagster")})
    assert dagster.dagster_storage_url == "postgresql://alphadag:s3cret@db.example:5432/dagster"
    with pytest.raises(SettingsError, match="must be postgresql://") as refused:
        Settings.from_env({"ALPHADAG_DAGSTER_STORAGE": "mysql://alphadag:s3cret@db.example/d"})
    assert "s3cret" not in str(refused.value) and "alphadag:***@db.example" in str(refused.value)
    with pytest.raises(SettingsError, match="ALPHADAG_MLFLOW_TRACKING_URI must be"):
        Settings.from_env({"ALPHADAG_MLFLOW_TRACKING_URI": "mlflow.db"})
