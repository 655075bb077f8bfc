"""What `alphadag run` checks before any work, in about a second.

:meth:`Settings.validate` checks the values themselves; these checks look at what the
values point to (the source's folder and symbols) and at what the later stages need
(names per date for the model, more names than the portfolio holds, enough days for the
model's splits), so that a run that cannot succeed stops with one line instead of
failing minutes later inside a stage.
"""

from __future__ import annotations

import pandas as pd

from ingest.sources import DIRECTORY_KINDS, directory_symbols, read_sample
from ml.training import ZooConfig
from orchestration.settings import Settings, SettingsError

# What the model's default splits need (ml.training.ZooConfig.min_history_days): the
# test dates, three walk-forward validation blocks and training dates before them.
MIN_BUSINESS_DAYS = ZooConfig().min_history_days
# The model scores each date by a cross-sectional rank IC (ml.metrics.MIN_NAMES_PER_DATE).
MIN_SYMBOLS = 3


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
