"""What `alphadag run` checks before any work, in about a second.

:meth:`Settings.validate` checks the values themselves; these checks look at what the
values point to (the source's folder and symbols) and at what the later stages need
(names per date for the model, more names than the portfolio holds, enough days for the
model's splits), so that a run that cannot succeed stops with one line instead of
failing minutes later inside a stage. :func:`check_servers` connects to the database
servers the settings name, so an unreachable one is a line, not a traceback.
"""

from __future__ import annotations

import importlib.util

import pandas as pd

from ingest.sources import DIRECTORY_KINDS, directory_symbols, read_sample
from ml.training import ZooConfig
from orchestration.settings import Settings, SettingsError, redact_url

# What the model's default splits need (ml.training.ZooConfig.min_history_days): the
# test dates, three walk-forward validation blocks and training dates before them.
MIN_BUSINESS_DAYS = ZooConfig().min_history_days
# The model scores each date by a cross-sectional rank IC (ml.metrics.MIN_NAMES_PER_DATE).
MIN_SYMBOLS = 3
# How long a database server may take to accept a connection before the check gives up.
CONNECT_TIMEOUT_SECONDS = 5


def check_before_run(settings: Settings, top_k: int) -> list[str]:
    """Raise :class:`SettingsError` for a run that cannot succeed; return notes about a run
    that will succeed but mislead (the portfolio holding the whole universe)."""
    n_days = len(pd.bdate_range(settings.start, settings.end))
    if n_days < MIN_BUSINESS_DAYS:
        raise SettingsError(
            f"ALPHADAG_START..ALPHADAG_END ({settings.start}..{settings.end}) holds "
            f"{n_days} business days; the model's splits need at least {MIN_BUSINESS_DAYS}"
        )
    n_symbols = universe_size(settings)
    if n_symbols is not None and n_symbols < MIN_SYMBOLS:
        raise SettingsError(
            f"the universe has {n_symbols} symbol(s); the model ranks at least "
            f"{MIN_SYMBOLS} names per date (ALPHADAG_UNIVERSE)"
        )
    if n_symbols is not None and n_symbols <= top_k:
        return [
            f"the backtest holds top_k={top_k} names of a {n_symbols}-symbol universe, "
            "so its strategy is the equal-weight benchmark; use a larger universe"
        ]
    return []


def universe_size(settings: Settings) -> int | None:
    """How many symbols the run will build, or None where only the download knows
    (yfinance, whose symbols are listed). Listed symbols must exist in a file source."""
    spec = settings.source_spec
    listed = settings.universe_symbols()
    if spec.kind == "simulator":
        return settings.universe_size()
    if spec.kind == "yfinance":
        return len(listed) if listed else None
    if spec.kind in DIRECTORY_KINDS and spec.path is not None:
        try:
            available = directory_symbols(spec.path, spec.kind)
        except ValueError as exc:
            raise SettingsError(f"ALPHADAG_SOURCE: {exc}") from None
    else:
        available = set(read_sample()["symbol"].unique())
    if listed is None:
        return len(available)
    missing = sorted(set(listed) - available)
    if missing:
        raise SettingsError(
            f"ALPHADAG_UNIVERSE: {', '.join(missing)} not in {spec} "
            f"(it holds {', '.join(sorted(available)[:8])}{', ...' if len(available) > 8 else ''})"
        )
    return len(listed)


def check_servers(settings: Settings) -> None:
    """Connect once to each database server the settings name (SQLite files need none;
    an MLflow tracking server over HTTP is MLflow's to reach)."""
    if settings.dagster_storage_url and importlib.util.find_spec("dagster_postgres") is None:
        raise SettingsError(
            "ALPHADAG_DAGSTER_STORAGE needs dagster-postgres: install alphadag[postgres]"
        )
    for name, url in (
        ("ALPHADAG_DAGSTER_STORAGE", settings.dagster_storage_url),
        ("ALPHADAG_OPTUNA_STORAGE", settings.optuna_url),
        ("ALPHADAG_MLFLOW_TRACKING_URI", settings.mlflow_url),
    ):
        if url and not url.startswith(("sqlite:", "http:", "https:", "file:")):
            _check_connects(name, url)


def _check_connects(name: str, url: str) -> None:
    import sqlalchemy

    postgres = url.startswith("postgresql")
    try:
        engine = sqlalchemy.create_engine(
            url, connect_args={"connect_timeout": CONNECT_TIMEOUT_SECONDS} if postgres else {}
        )
    except ImportError as exc:
        extra = " (install alphadag[postgres])" if postgres else ""
        raise SettingsError(
            f"{name}: no database driver for {redact_url(url)}: {exc}{extra}"
        ) from None
    except sqlalchemy.exc.ArgumentError:
        # the library's message quotes the URL with its password
        raise SettingsError(f"{name}: {redact_url(url)} is not a database URL") from None
    try:
        with engine.connect():
            pass
    except sqlalchemy.exc.DBAPIError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise SettingsError(f"{name}: cannot connect to {redact_url(url)}: {reason}") from None
    finally:
        engine.dispose()
