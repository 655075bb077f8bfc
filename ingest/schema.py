"""The canonical shape of daily bars, shared by every source and by the raw lake.

Sources disagree on spelling ("Adj Close", "adj_close", "AdjClose", "Date" as index or
column) and on types (volume as int, dates as strings or tz-aware timestamps). Everything
downstream (lake, dbt staging, quality checks) is written against one shape instead, so
the differences are absorbed here, once:

- columns ``symbol, date, open, high, low, close, volume`` and ``adj_close`` only when the
  source has it; any other column (dividend, split, ...) is dropped, never applied;
- ``date`` is ``datetime64[ns]``, tz-naive, at midnight (a daily bar has no time of day);
- ``symbol`` is ``str``; prices and volume are ``float64`` (volume may be fractional for
  some assets, and a single float dtype keeps Parquet and DuckDB schemas stable);
- rows sorted by ``(symbol, date)`` with a fresh ``RangeIndex``.

Values are converted strictly: a cell that is not a number or not a date is an error
naming the source, not a silent NaN, because a coerced NaN would lose the original value
before the quality checks could quarantine it with a reason.
"""

from __future__ import annotations

import re

import pandas as pd

BAR_COLUMNS = ["symbol", "date", "open", "high", "low", "close", "volume"]
"""Required columns of a canonical bar frame, in order."""

ADJ_CLOSE = "adj_close"
"""Optional column: the source's adjusted close, carried as is and never re-applied."""

PRICE_COLUMNS = ["open", "high", "low", "close"]

# Header spellings accepted for each canonical column, compared after lower-casing and
# removing spaces, underscores, hyphens and dots ("Adj Close" -> "adjclose").
_ALIASES: dict[str, tuple[str, ...]] = {
    "symbol": ("symbol", "ticker"),
    "date": ("date", "datetime", "timestamp"),
    "open": ("open",),
    "high": ("high",),
    "low": ("low",),
    "close": ("close",),
    "volume": ("volume",),
    ADJ_CLOSE: ("adjclose", "adjustedclose"),
}
_HEADER_TO_CANONICAL = {alias: name for name, aliases in _ALIASES.items() for alias in aliases}


def _header_key(header: object) -> str:
    return re.sub(r"[\s_\-.]+", "", str(header)).lower()


def find_column(df: pd.DataFrame, name: str) -> object | None:
    """The header of ``df`` that means canonical column ``name`` (any accepted spelling)."""
    aliases = _ALIASES[name]
    return next((header for header in df.columns if _header_key(header) in aliases), None)


def _label(source: str) -> str:
    return source or "bars"


def _to_dates(values: pd.Series, source: str) -> pd.Series:
    try:
        dates = pd.to_datetime(values)
    except (ValueError, TypeError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ValueError(
            f"{_label(source)}: column 'date' has values that are not dates ({reason})"
        ) from None
    if not pd.api.types.is_datetime64_any_dtype(dates):
        # e.g. several UTC offsets in one column: pandas returns plain objects
        example = next((v for v in dates if not isinstance(v, pd.Timestamp)), dates.iloc[0])
        raise ValueError(
            f"{_label(source)}: column 'date' has values that are not dates of one time zone "
            f"(e.g. {example!r})"
        )
    if dates.dt.tz is not None:
        # Keep the wall-clock date of the exchange: converting to UTC first could move a
        # bar stamped at local midnight to the previous day.
        dates = dates.dt.tz_localize(None)
    return dates.dt.normalize().astype("datetime64[ns]")


def _to_float(values: pd.Series, column: str, source: str) -> pd.Series:
    try:
        return pd.to_numeric(values, errors="raise").astype("float64")
    except (ValueError, TypeError):
        numeric = pd.to_numeric(values, errors="coerce")
        bad = values[numeric.isna() & values.notna()]
        example = bad.iloc[0] if len(bad) else values.iloc[0]
        raise ValueError(
            f"{_label(source)}: column {column!r} has {len(bad)} non-numeric value(s), "
            f"e.g. {example!r}"
        ) from None


def to_canonical(df: pd.DataFrame, *, source: str = "") -> pd.DataFrame:
    """Return ``df`` as a canonical bar frame (see the module docstring).

    ``source`` names where the rows came from (a file, a provider) and only appears in
    error messages, so that a user with hundreds of files knows which one to fix.
    A named index (``Date`` from a provider's time series) is treated as a column.
    """
    if any(name is not None for name in df.index.names):
        df = df.reset_index()

    mapping: dict[object, str] = {}
    for header in df.columns:
        name = _HEADER_TO_CANONICAL.get(_header_key(header))
        if name is None:
            continue
        if name in mapping.values():
            clashing = [str(h) for h, n in mapping.items() if n == name] + [str(header)]
            raise ValueError(
                f"{_label(source)}: columns {', '.join(map(repr, clashing))} all mean {name!r}"
            )
        mapping[header] = name

    missing = [column for column in BAR_COLUMNS if column not in mapping.values()]
    if missing:
        raise ValueError(
            f"{_label(source)}: missing required column(s) {', '.join(missing)} "
            f"(found: {', '.join(map(str, df.columns)) or 'none'})"
        )

    renamed = df[list(mapping)].rename(columns=mapping)
    columns = BAR_COLUMNS + ([ADJ_CLOSE] if ADJ_CLOSE in renamed.columns else [])
    out = pd.DataFrame(
        {
            "symbol": renamed["symbol"].astype(str),
            "date": _to_dates(renamed["date"], source),
            **{
                column: _to_float(renamed[column], column, source)
                for column in columns
                if column not in ("symbol", "date")
            },
        },
        columns=columns,
    )
    return out.sort_values(["symbol", "date"], kind="stable", ignore_index=True)


def empty_bars(*, with_adj_close: bool = False) -> pd.DataFrame:
    """A zero-row canonical frame, so empty results still carry the right dtypes."""
    columns = BAR_COLUMNS + ([ADJ_CLOSE] if with_adj_close else [])
    frame = pd.DataFrame({column: pd.Series(dtype="float64") for column in columns})
    frame["symbol"] = frame["symbol"].astype(object)
    frame["date"] = frame["date"].astype("datetime64[ns]")
    return frame
