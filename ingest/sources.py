"""Where raw bars come from: one entry point for every kind of source.

A source is named by a short string (``ALPHADAG_SOURCE``) so that the same pipeline runs
on the built-in simulator, on a folder of CSV or Parquet files, or (later) on a provider,
and everything after this module sees canonical bars (:mod:`ingest.schema`) only.

Forms: ``simulator``, ``sample``, ``yfinance``, ``csv:DIR``, ``parquet:DIR``.

File sources (``csv:DIR``, ``parquet:DIR``) read every ``*.csv`` / ``*.parquet`` file
directly in ``DIR`` (not in subfolders). A file either holds one symbol, named by the
file stem (``AAPL.csv`` -> ``AAPL``; a prefix shared by every stem is dropped:
``csvdir_daily_AAPL.csv`` -> ``AAPL``, see :func:`symbols_from_stems`), or many, in a
``symbol`` (or ``ticker``) column.
Headers are case-insensitive; columns other than the bar columns (dividends, splits,
...) are ignored. Prices are never adjusted here: when a file has an adjusted close it is
carried as its own ``adj_close`` column next to the raw ``close``, so that no adjustment
is ever applied twice (vendors often ship prices that are already split-adjusted next
to a split column that still flags the split).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow as pa

from ingest.schema import find_column, to_canonical
from ingest.simulator import SimulatorConfig, simulate_market

SOURCE_KINDS = ("simulator", "sample", "csv", "parquet", "yfinance")
DIRECTORY_KINDS = ("csv", "parquet")
DEFAULT_SIMULATOR_SYMBOLS = 50
_VALID_FORMS = "simulator, sample, yfinance, csv:DIR, parquet:DIR"
_AVAILABLE = "use simulator, sample, csv:DIR or parquet:DIR"


@dataclass(frozen=True)
class SourceSpec:
    """A parsed source: its kind and, for file sources, the directory to read."""

    kind: str
    path: Path | None = None

    def __post_init__(self) -> None:
        if self.kind not in SOURCE_KINDS:
            raise ValueError(f"unknown source kind {self.kind!r}; valid forms: {_VALID_FORMS}")
        if (self.path is None) == (self.kind in DIRECTORY_KINDS):
            needs = "needs" if self.kind in DIRECTORY_KINDS else "takes no"
            raise ValueError(
                f"source {self.kind!r} {needs} a directory; valid forms: {_VALID_FORMS}"
            )

    def __str__(self) -> str:
        return self.kind if self.path is None else f"{self.kind}:{self.path}"


@dataclass
class SourceData:
    """Canonical bars, plus the true expected returns when the source knows them."""

    bars: pd.DataFrame
    oracle: pd.DataFrame | None


def parse_source(spec: str) -> SourceSpec:
    """Parse ``simulator``, ``sample``, ``yfinance``, ``csv:DIR`` or ``parquet:DIR``.

    The kind is case-insensitive; ``DIR`` may start with ``~``. Relative directories stay
    relative (to the working directory of whoever reads them).
    """
    kind, separator, rest = spec.strip().partition(":")
    kind, rest = kind.strip().lower(), rest.strip()
    if kind in DIRECTORY_KINDS and rest:
        return SourceSpec(kind, Path(rest).expanduser())
    if kind in SOURCE_KINDS and kind not in DIRECTORY_KINDS and not separator:
        return SourceSpec(kind)
    if kind in DIRECTORY_KINDS:
        raise ValueError(
            f"source {spec!r} needs a directory ({kind}:DIR); valid forms: {_VALID_FORMS}"
        )
    raise ValueError(f"unknown source {spec!r}; valid forms: {_VALID_FORMS}")


def load_source(
    spec: SourceSpec,
    *,
    start: date,
    end: date,
    universe: list[str] | int | None,
    seed: int = 7,
) -> SourceData:
    """Load canonical bars for ``start..end`` (inclusive) from ``spec``.

    ``universe``: for the simulator, the number of symbols (``None`` means
    ``DEFAULT_SIMULATOR_SYMBOLS``); a list of names is an error there, since simulated
    symbols have generated names. For file sources and ``sample``, a list keeps those
    symbols (each must exist); a number or ``None`` keeps every symbol there is,
    because truncating a user's data to an arbitrary count would silently drop symbols.
    ``seed`` only matters for the simulator.
    """
    if end < start:
        raise ValueError(f"end ({end}) is before start ({start})")
    if spec.kind == "simulator":
        return _load_simulator(start=start, end=end, universe=universe, seed=seed)
    if spec.kind in DIRECTORY_KINDS and spec.path is not None:
        bars = _read_directory(spec.path, spec.kind)
    elif spec.kind == "sample":
        bars = read_sample()
    else:
        raise ValueError(f"source {spec.kind!r} is not available yet; {_AVAILABLE}")
    if isinstance(universe, list | tuple):
        missing = sorted(set(universe) - set(bars["symbol"].unique()))
        if missing:
            raise ValueError(f"{spec}: no bars for symbol(s) {', '.join(missing)}")
        bars = bars[bars["symbol"].isin(universe)]
    in_range = bars["date"].between(pd.Timestamp(start), pd.Timestamp(end))
    return SourceData(bars=bars[in_range].reset_index(drop=True), oracle=None)


def read_sample() -> pd.DataFrame:
    """Real daily bars shipped inside the ``bokeh-sampledata`` wheel (no download).

    Quandl WIKI prices (public domain) of AAPL, IBM, MSFT (2000-03-01 .. 2013-03-01),
    GOOG (from 2004-08-19) and FB (from 2012-05-18). Open, high, low, close and volume
    are as traded, unadjusted: AAPL's close halves on 2005-02-28 (a 2:1 split). The
    ``Adj Close`` column is the vendor's split- and dividend-adjusted close and becomes
    ``adj_close``; ``stg_ohlcv`` rescales the whole bar by ``adj_close / close``, so
    features see a continuous series and the split is applied exactly once. The file is
    read directly, without importing the package's ``stocks`` module, which would parse
    it into dicts first.
    """
    from bokeh_sampledata import package_path

    path = package_path("stocks.csv.gz")
    try:
        raw = pd.read_csv(path)
    except OSError as exc:
        raise ValueError(f"sample: cannot read {path} ({exc})") from None
    return to_canonical(raw, source=str(path))


def _load_simulator(
    *, start: date, end: date, universe: list[str] | int | None, seed: int
) -> SourceData:
    if isinstance(universe, list | tuple):
        shown = ", ".join(universe[:3]) + (", ..." if len(universe) > 3 else "")
        raise ValueError(
            f"the simulator takes a number of symbols as its universe, not names ({shown})"
        )
    n_symbols = DEFAULT_SIMULATOR_SYMBOLS if universe is None else universe
    if n_symbols < 1:
        raise ValueError(f"the simulator needs at least 1 symbol, got {n_symbols}")
    market = simulate_market(SimulatorConfig(n_symbols=n_symbols, start=start, end=end, seed=seed))
    return SourceData(bars=market.bars, oracle=market.oracle)


def _read_directory(directory: Path, kind: str) -> pd.DataFrame:
    if not directory.is_dir():
        raise ValueError(f"{kind}:{directory}: not a directory")
    suffix = f".{kind}"
    files = sorted(p for p in directory.iterdir() if p.is_file() and p.suffix.lower() == suffix)
    if not files:
        raise ValueError(f"{kind}:{directory}: no *{suffix} files")
    names = symbols_from_stems([path.stem for path in files])
    frames = [_read_file(path, kind, name) for path, name in zip(files, names, strict=True)]
    bars = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    return bars.sort_values(["symbol", "date"], kind="stable", ignore_index=True)


def symbols_from_stems(stems: list[str]) -> list[str]:
    """The symbol each file stands for: its stem, minus a prefix that every stem shares.

    Vendors export one file per symbol with a fixed prefix (``csvdir_daily_AAPL.csv``,
    ``csvdir_daily_IBM.csv``): the shared prefix, cut after its last ``_`` or ``-``,
    carries no information, so ``AAPL`` and ``IBM`` are the symbols. A lone file, or
    stems without such a shared prefix, keep their whole stem. Files with a ``symbol``
    column ignore their name altogether.
    """
    if len(stems) < 2:
        return list(stems)
    shared = os.path.commonprefix(stems)  # noqa: RUF071 (a text prefix, not a path)
    cut = max(shared.rfind("_"), shared.rfind("-")) + 1
    if cut == 0 or any(len(stem) == cut for stem in stems):
        return list(stems)
    return [stem[cut:] for stem in stems]


def read_bars_file(path: Path, symbol: str | None = None) -> pd.DataFrame:
    """Read one ``.csv`` or ``.parquet`` file (by suffix) into canonical bars.

    ``symbol`` names the rows of a file without a symbol column (default: the stem).
    """
    kind = Path(path).suffix.lower().lstrip(".")
    if kind not in DIRECTORY_KINDS:
        raise ValueError(f"{path}: not a .csv or .parquet file")
    return _read_file(Path(path), kind, symbol or Path(path).stem)


def _read_file(path: Path, kind: str, symbol: str) -> pd.DataFrame:
    """Read one file into canonical bars; any problem is a ValueError naming the file."""
    try:
        raw = pd.read_csv(path) if kind == "csv" else pd.read_parquet(path)
    except (OSError, ValueError, NotImplementedError, pa.ArrowException) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"{path}: cannot read {kind} file ({reason})") from None
    if any(name is not None for name in raw.index.names):
        raw = raw.reset_index()
    if find_column(raw, "symbol") is None:
        raw = raw.assign(symbol=symbol)
    return to_canonical(raw, source=str(path))
