"""The configuration contract: ``ALPHADAG_*`` environment variables over defaults.

Every other module receives a :class:`Settings` (or plain values taken from it) instead
of reading the environment itself, so a test can build the whole graph on a temporary
home without touching global state. Errors are :class:`SettingsError` with a one-line
message that the CLI prints as is.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from feature_repo.layout import features_dataset
from ingest.source_spec import SourceSpec, parse_source

CHECKOUT = Path(__file__).resolve().parent.parent
DEFAULT_START = date(2021, 1, 1)
DEFAULT_END = date(2023, 12, 31)
DEFAULT_N_SYMBOLS = 100
# The history that the `sample` source ships (bokeh-sampledata's stocks).
SAMPLE_START = date(2000, 3, 1)
SAMPLE_END = date(2013, 3, 1)
# dagster-postgres takes a SQLAlchemy URL of the PostgreSQL dialect
POSTGRES_SCHEMES = ("postgresql", "postgresql+psycopg2")


class SettingsError(ValueError):
    """A configuration value is invalid; the message is one line meant for the user."""


@dataclass(frozen=True)
class Settings:
    """Where state lives and what history to build.

    The default range is fixed (not "the last three years") so that ``alphadag run``
    on the built-in simulator gives the same numbers on any day.
    """

    home: Path = field(default_factory=lambda: Path("data").resolve())
    source: str = "simulator"
    start: date = DEFAULT_START
    end: date = DEFAULT_END
    universe: tuple[str, ...] | int = DEFAULT_N_SYMBOLS
    seed: int = 7
    # ALPHADAG_END=today: `end` is today's date and new days keep arriving (nightly runs)
    open_ended: bool = False
    # ALPHADAG_OPTUNA_STORAGE: any SQLAlchemy URL (PostgreSQL for workers on several hosts)
    optuna_url: str | None = None
    # ALPHADAG_MLFLOW_TRACKING_URI: MLflow's tracking and registry store (a database URL)
    mlflow_url: str | None = None
    # ALPHADAG_DAGSTER_STORAGE: a PostgreSQL URL for the Dagster instance's runs, event
    # log and schedules (unset: SQLite files under dagster_home)
    dagster_storage_url: str | None = None
    # ALPHADAG_ALERT_WEBHOOK: where the run-failure sensor posts alerts; a secret (the
    # path of an incoming-webhook URL is its key), so it stays out of repr and logs
    alert_webhook: str | None = field(default=None, repr=False)
    # ALPHADAG_UI_URL: the Dagster UI's address, for links in alerts (`alphadag ui` sets it)
    ui_url: str | None = None
    # The nightly schedule: weekdays at this hour of this time zone it refreshes the
    # business day of that date (ALPHADAG_SCHEDULE_HOUR, ALPHADAG_SCHEDULE_TIMEZONE); the
    # default is after the close of the US equity market.
    schedule_hour: int = 18
    schedule_timezone: str = "America/New_York"
    # ALPHADAG_SCHEDULE_RUNNING=1: the schedule starts running with the UI (else stopped)
    schedule_running: bool = False

    # -- derived locations (DESIGN.md, "State: one root") -------------------------
    @property
    def lake_dir(self) -> Path:
        return self.home / "lake"

    @property
    def features_dir(self) -> Path:
        return self.lake_dir / "features"

    @property
    def features_dataset(self) -> Path:
        """fct_features exported for Feast, one Parquet file per month."""
        return features_dataset(self.features_dir)

    @property
    def latest_features_path(self) -> Path:
        return self.features_dir / "latest_features.parquet"

    @property
    def training_set_path(self) -> Path:
        return self.lake_dir / "training" / "training_set.parquet"

    @property
    def warehouse_path(self) -> Path:
        return self.home / "warehouse.duckdb"

    @property
    def feast_dir(self) -> Path:
        return self.home / "feast"

    @property
    def mlflow_dir(self) -> Path:
        return self.home / "mlflow"

    @property
    def mlflow_tracking_uri(self) -> str:
        return self.mlflow_url or f"sqlite:///{self.mlflow_dir / 'mlflow.db'}"

    @property
    def optuna_storage(self) -> str:
        return self.optuna_url or f"sqlite:///{self.home / 'optuna.db'}"

    @property
    def dagster_home(self) -> Path:
        return self.home / "dagster_home"

    @property
    def dbt_target_dir(self) -> Path:
        """dbt's artefacts (manifest, partial parse, run results) for this home: per home,
        because the profile holds the warehouse path and a shared target would make every
        other home re-parse the project."""
        return dbt_target_dir(self.home)

    @property
    def library_output_path(self) -> Path:
        """What the libraries printed during the last quiet `alphadag run` (dbt's log)."""
        return self.home / "last_run_output.log"

    @property
    def reports_dir(self) -> Path:
        return self.home / "reports"

    @property
    def numba_cache_dir(self) -> Path:
        """vectorbt's compiled kernels depend on the installed code, not on the data: one
        cache per checkout (the tests fill it too), so a new home does not recompile."""
        return CHECKOUT / ".cache" / "numba"

    @property
    def source_spec(self) -> SourceSpec:
        return parse_source(self.source)

    def source_kind(self) -> str | None:
        """The source kind, or None when ``source`` does not parse (validate says why)."""
        try:
            return parse_source(self.source).kind
        except ValueError:
            return None

    def describe_universe(self) -> str:
        """For messages: the count (simulator), the listed symbols, or "all" in the source."""
        if isinstance(self.universe, tuple):
            return f"{len(self.universe)} listed"
        return str(self.universe) if self.source_kind() == "simulator" else "all"

    def universe_symbols(self) -> list[str] | None:
        return list(self.universe) if isinstance(self.universe, tuple) else None

    def universe_size(self) -> int | None:
        return self.universe if isinstance(self.universe, int) else None

    # -- construction -----------------------------------------------------------
    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read ``ALPHADAG_*`` variables; unset or empty ones keep their defaults."""
        env = os.environ if environ is None else environ
        settings = cls(home=home_from_env(env))
        if source := env.get("ALPHADAG_SOURCE", "").strip():
            settings = replace(settings, source=source)
        if settings.source_kind() == "sample":
            # the shipped history; the fixed default range would hold no sample bar
            settings = replace(settings, start=SAMPLE_START, end=SAMPLE_END)
        if start := env.get("ALPHADAG_START", "").strip():
            settings = replace(settings, start=_parse_date("ALPHADAG_START", start))
        if end := env.get("ALPHADAG_END", "").strip():
            settings = replace(
                settings,
                end=_parse_date("ALPHADAG_END", end),
                open_ended=end.lower() == "today",
            )
        if universe := env.get("ALPHADAG_UNIVERSE", "").strip():
            settings = replace(settings, universe=_parse_universe(universe))
        if optuna_url := env.get("ALPHADAG_OPTUNA_STORAGE", "").strip():
            settings = replace(
                settings, optuna_url=_parse_url("ALPHADAG_OPTUNA_STORAGE", optuna_url)
            )
        if mlflow_url := env.get("ALPHADAG_MLFLOW_TRACKING_URI", "").strip():
            settings = replace(
                settings, mlflow_url=_parse_url("ALPHADAG_MLFLOW_TRACKING_URI", mlflow_url)
            )
        if dagster_url := env.get("ALPHADAG_DAGSTER_STORAGE", "").strip():
            settings = replace(
                settings,
                dagster_storage_url=_parse_url(
                    "ALPHADAG_DAGSTER_STORAGE", dagster_url, schemes=POSTGRES_SCHEMES
                ),
            )
        if webhook := env.get("ALPHADAG_ALERT_WEBHOOK", "").strip():
            settings = replace(
                settings, alert_webhook=_parse_http_url("ALPHADAG_ALERT_WEBHOOK", webhook)
            )
        if ui_url := env.get("ALPHADAG_UI_URL", "").strip():
            settings = replace(settings, ui_url=_parse_http_url("ALPHADAG_UI_URL", ui_url))
        if hour := env.get("ALPHADAG_SCHEDULE_HOUR", "").strip():
            if not hour.isdigit() or int(hour) > 23:
                raise SettingsError(
                    f"ALPHADAG_SCHEDULE_HOUR must be an hour from 0 to 23, got {hour!r}"
                )
            settings = replace(settings, schedule_hour=int(hour))
        if timezone := env.get("ALPHADAG_SCHEDULE_TIMEZONE", "").strip():
            settings = replace(settings, schedule_timezone=_parse_timezone(timezone))
        if running := env.get("ALPHADAG_SCHEDULE_RUNNING", "").strip():
            settings = replace(
                settings, schedule_running=_parse_flag("ALPHADAG_SCHEDULE_RUNNING", running)
            )
        if seed := env.get("ALPHADAG_SEED", "").strip():
            if not seed.isdigit():
                raise SettingsError(f"ALPHADAG_SEED must be a non-negative integer, got {seed!r}")
            settings = replace(settings, seed=int(seed))
        settings.validate()
        return settings

    def validate(self) -> None:
        """Check everything that can be checked without touching data."""
        try:
            spec = parse_source(self.source)
        except ValueError as exc:
            raise SettingsError(f"ALPHADAG_SOURCE: {exc}") from None
        if self.end < self.start:
            raise SettingsError(
                f"ALPHADAG_END ({self.end}) is before ALPHADAG_START ({self.start})"
            )
        if spec.kind == "simulator" and isinstance(self.universe, tuple):
            raise SettingsError(
                "ALPHADAG_UNIVERSE must be a number of symbols for the simulator, "
                f"got a list ({', '.join(self.universe[:3])}, ...)"
            )
        if isinstance(self.universe, int) and self.universe < 2:
            raise SettingsError("ALPHADAG_UNIVERSE must be at least 2 symbols")

    def ensure_home(self) -> None:
        """Create the state root, or fail with one line if it cannot be written."""
        try:
            self.home.mkdir(parents=True, exist_ok=True)
            probe = self.home / ".write-probe"
            probe.write_text("ok")
            probe.unlink()
        except OSError as exc:
            raise SettingsError(
                f"ALPHADAG_HOME {self.home} is not writable: {exc.strerror or exc}"
            ) from None

    def export_env(self) -> None:
        """Publish the resolved settings to subprocesses (dbt, Feast's yaml) that read env."""
        os.environ["ALPHADAG_HOME"] = str(self.home)
        # dagster-dbt places each invocation's target under DBT_TARGET_PATH and copies
        # the partial parse from there
        os.environ["DBT_TARGET_PATH"] = str(self.dbt_target_dir)


def home_from_env(environ: Mapping[str, str] | None = None) -> Path:
    """The state root: ALPHADAG_HOME, or ./data; needs no other setting to be valid."""
    env = os.environ if environ is None else environ
    return Path(env.get("ALPHADAG_HOME", "").strip() or "data").expanduser().resolve()


def dbt_target_dir(home: Path) -> Path:
    return home / "dbt_target"


def _parse_date(name: str, text: str) -> date:
    if text.lower() == "today":
        return date.today()
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise SettingsError(
            f"{name} must be an ISO date (YYYY-MM-DD) or 'today', got {text!r}"
        ) from None


def _parse_timezone(text: str) -> str:
    try:
        ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise SettingsError(
            f"ALPHADAG_SCHEDULE_TIMEZONE must be an IANA time zone (e.g. America/New_York, "
            f"Europe/London), got {text!r}"
        ) from None
    return text


def _parse_flag(name: str, text: str) -> bool:
    value = text.lower()
    if value not in ("1", "true", "yes", "on", "0", "false", "no", "off"):
        raise SettingsError(f"{name} must be 1/true/on or 0/false/off, got {text!r}")
    return value in ("1", "true", "yes", "on")


def _parse_url(name: str, text: str, schemes: tuple[str, ...] | None = None) -> str:
    """A database URL, checked for its form only (preflight checks that it answers)."""
    scheme = text.partition("://")[0] if "://" in text else ""
    if not scheme or (schemes and scheme not in schemes):
        kinds = " or ".join(f"{s}://" for s in schemes) if schemes else "a SQLAlchemy URL"
        raise SettingsError(
            f"{name} must be {kinds} (e.g. postgresql://user@host:5432/db), "
            f"got {redact_url(text)!r}"
        )
    return text


def _parse_http_url(name: str, text: str) -> str:
    """An http(s) URL; the message never repeats it (a webhook's path is its secret)."""
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SettingsError(f"{name} must be an http:// or https:// URL")
    return text


def redact_url(url: str) -> str:
    """The URL without its password, for messages."""
    head, at, tail = url.rpartition("@")
    if not at or "://" not in head:
        return url
    scheme, _, credentials = head.partition("://")
    user, colon, _ = credentials.partition(":")
    return f"{scheme}://{user}{':***' if colon else ''}@{tail}"


def _parse_universe(text: str) -> tuple[str, ...] | int:
    if text.isdigit():
        return int(text)
    symbols = tuple(s.strip().upper() for s in text.split(",") if s.strip())
    if not symbols:
        raise SettingsError(f"ALPHADAG_UNIVERSE is empty: {text!r}")
    return symbols
