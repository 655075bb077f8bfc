"""Where raw bars come from: one entry point for every kind of source.

A source is named by a short string (``ALPHADAG_SOURCE``) so that the same pipeline runs
on the built-in simulator, on a folder of CSV or Parquet files, or on Yahoo Finance (the
optional ``yfinance`` extra), and everything after this module sees canonical bars (:mod:`ingest.schema`) only.

Forms: ``simulator``, ``sample``, ``yfinance``, ``csv:DIR``, ``parquet:DIR``.

File sources (``csv:DIR``, ``parquet:DIR``) read every ``*.csv`` / ``*.parquet`` file
directly in ``DIR`` (not in subfolders). A file either holds one symbol, named by the
file stem (``AAPL.csv`` -> ``AAPL``; a prefix shared by every stem is dropped:
``csvdir_daily_AAPL.csv`` -> ``AAPL``, see :func:`symbols_from_stems`), or many, in a
``symbol`` (or ``ticker``) column.
Headers are case-insensitive; columns other than the bar columns (dividends, splits,
...) are ignored.

One bad file never sinks the others: a file that cannot be read as bars (garbage bytes,
wrong encoding or delimiter, missing columns, values that are not numbers or dates, no
rows) is rejected with a one-line reason (:class:`RejectedFile`, in
``SourceData.rejected``) and the other files are read. So is a file that is not what it
claims to be: a symlink resolving outside ``DIR``, or a file larger than
``max_file_bytes``, which is refused before a byte of it is read. Only when no file is
left is the source an error.

Prices are never adjusted here: when a file has an adjusted close it is carried as its
own ``adj_close`` column next to the raw ``close``, so that no adjustment is ever applied
twice (vendors often ship prices that are already split-adjusted next
to a split column that still flags the split).
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa

from ingest.schema import empty_bars, find_column, to_canonical
from ingest.simulator import SimulatorConfig, simulate_market
from ingest.source_spec import DIRECTORY_KINDS, SourceSpec

DEFAULT_SIMULATOR_SYMBOLS = 100
_YFINANCE_EXTRA = "uv sync --extra yfinance"


MAX_FILE_BYTES = 256 * 1024**2
"""Larger source files are refused unread: daily bars of one symbol over decades take a
few megabytes, so a file this big is not daily bars (or would not fit in memory)."""


@dataclass(frozen=True)
class RejectedFile:
    """A source file that was not ingested, why (one line), and the symbol its name
    stands for."""

    path: Path
    reason: str
    symbol: str


@dataclass
class SourceData:
    """Canonical bars, plus the oracle (each label's conditional expectation) when the
    source knows it, and the files of a directory source that were rejected."""

    bars: pd.DataFrame
    oracle: pd.DataFrame | None
    rejected: list[RejectedFile] = field(default_factory=list)


def load_source(
    spec: SourceSpec,
    *,
    start: date,
    end: date,
    universe: list[str] | int | None,
    seed: int = 7,
    max_file_bytes: int = MAX_FILE_BYTES,
    oracle_from: date | None = None,
) -> SourceData:
    """Load canonical bars for ``start..end`` (inclusive) from ``spec``.

    ``universe``: for the simulator, the number of symbols (``None`` means
    ``DEFAULT_SIMULATOR_SYMBOLS``); a list of names is an error there, since simulated
    symbols have generated names. For file sources and ``sample``, a list keeps those
    symbols (each must exist); a number or ``None`` keeps every symbol there is,
    because truncating a user's data to an arbitrary count would silently drop symbols.
    For ``yfinance`` the universe must be a list (Yahoo has no "every symbol"), and each
    symbol must come back with bars (see :func:`read_yfinance`).
    ``seed`` and ``oracle_from`` (the first day that needs oracle rows; default: every
    day) only matter for the simulator. A listed symbol whose file was rejected is not an
    error: the rejection says why it is missing.
    """
    if end < start:
        raise ValueError(f"end ({end}) is before start ({start})")
    if spec.kind == "simulator":
        return _load_simulator(
            start=start, end=end, universe=universe, seed=seed, oracle_from=oracle_from
        )
    if spec.kind == "yfinance":
        return SourceData(bars=read_yfinance(universe, start=start, end=end), oracle=None)
    rejected: list[RejectedFile] = []
    if spec.kind in DIRECTORY_KINDS and spec.path is not None:
        bars, rejected = _read_directory(spec.path, spec.kind, max_file_bytes)
    else:
        bars = read_sample()
    if isinstance(universe, list | tuple):
        explained = {item.symbol for item in rejected}
        missing = sorted(set(universe) - set(bars["symbol"].unique()) - explained)
        if missing:
            raise ValueError(f"{spec}: no bars for symbol(s) {', '.join(missing)}")
        bars = bars[bars["symbol"].isin(universe)]
    # a row without a date stays: the quality gates quarantine it with its reason
    in_range = bars["date"].between(pd.Timestamp(start), pd.Timestamp(end)) | bars["date"].isna()
    return SourceData(bars=bars[in_range].reset_index(drop=True), oracle=None, rejected=rejected)


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


def read_yfinance(universe: list[str] | int | None, *, start: date, end: date) -> pd.DataFrame:
    """Daily bars of the ``universe`` symbols for ``start..end`` from Yahoo Finance.

    Needs the optional ``yfinance`` package (``uv sync --extra yfinance``) and internet.
    One ``yfinance.download`` call fetches every symbol, with ``auto_adjust=False``: open,
    high, low, close and volume come back as traded, and Yahoo's ``Adj Close`` (split-
    and dividend-adjusted) becomes ``adj_close``, so ``stg_ohlcv`` applies the adjustment
    exactly once, as for every other source. Both column layouts of the returned frame
    are accepted ((field, ticker) and (ticker, field)), as is a tz-aware index (the
    exchange's calendar date is kept). Rows without a close (days a symbol did not
    trade in a multi-symbol download) are dropped. Symbols are upper-cased, as Yahoo
    does. Every symbol must come back with at least one bar; otherwise, as on a network
    failure, the error is one line naming the symbols.
    """
    if not isinstance(universe, list | tuple) or not universe:
        raise ValueError(
            "yfinance: the universe must list the symbols to download "
            f"(ALPHADAG_UNIVERSE=AAPL,MSFT,...), got {universe!r}"
        )
    try:
        import yfinance
    except ImportError:
        raise ValueError(
            "yfinance: the yfinance package is not installed; "
            f"install the optional extra with `{_YFINANCE_EXTRA}`"
        ) from None
    symbols = list(dict.fromkeys(str(symbol).strip().upper() for symbol in universe))
    named = ", ".join(symbols)
    span = f"{start}..{end}"
    reasons = _ErrorRecords()
    logger = logging.getLogger("yfinance")
    logger.addHandler(reasons)
    try:
        raw = yfinance.download(
            symbols,
            start=start.isoformat(),
            end=(end + timedelta(days=1)).isoformat(),  # yfinance's end is exclusive
            interval="1d",
            auto_adjust=False,
            actions=False,
            group_by="column",
            progress=False,
            threads=True,
        )
    except Exception as exc:
        raise ValueError(
            f"yfinance: download of {named} ({span}) failed: {_one_line(exc)}"
        ) from None
    finally:
        logger.removeHandler(reasons)
    bars = _yfinance_to_bars(raw, symbols)
    missing = [symbol for symbol in symbols if symbol not in set(bars["symbol"])]
    if missing:
        why = f": {reasons.first}" if reasons.first else " (unknown symbol or no network?)"
        raise ValueError(f"yfinance: no bars for {', '.join(missing)} ({span}){why}")
    in_range = bars["date"].between(pd.Timestamp(start), pd.Timestamp(end))
    return bars[in_range].reset_index(drop=True)


class _ErrorRecords(logging.Handler):
    """Keeps the first error yfinance logs (it logs failed symbols instead of raising)."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.first = ""

    def emit(self, record: logging.LogRecord) -> None:
        # yfinance prefixes its reasons with the symbols ("['XYZ']: ...", "$XYZ: ...")
        text = re.sub(r"^(\[[^\]]*\]|\$\S+):\s*", "", _one_line(record.getMessage()))
        if text and not self.first and "failed download" not in text.lower():
            self.first = text


def _one_line(error: object) -> str:
    lines = [" ".join(line.split()) for line in str(error).strip().splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__


def _yfinance_to_bars(raw: pd.DataFrame | None, symbols: list[str]) -> pd.DataFrame:
    """Long canonical bars from the wide frame ``yfinance.download`` returns."""
    if raw is None or raw.empty:
        return empty_bars(with_adj_close=True)
    columns = raw.columns
    if isinstance(columns, pd.MultiIndex):
        if "Ticker" in columns.names:
            ticker_level = columns.names.index("Ticker")
        else:  # unnamed levels: the one holding "Close" is the field level
            ticker_level = 1 if "Close" in columns.get_level_values(0) else 0
        wide = raw.copy()
        wide.columns = wide.columns.set_names(
            ["symbol" if level == ticker_level else "field" for level in range(2)]
        )
        long = wide.stack(level="symbol", future_stack=True)
        long.index = long.index.set_names(["date", "symbol"])
        long = long.reset_index()
    elif len(symbols) == 1:  # one symbol, flat columns (multi_level_index=False)
        long = raw.rename_axis("date").reset_index().assign(symbol=symbols[0])
    else:
        raise ValueError(
            f"yfinance: unexpected flat columns for {len(symbols)} symbols "
            f"({', '.join(map(str, columns))})"
        )
    long.columns = [str(column) for column in long.columns]
    close = find_column(long, "close")
    if close is None:
        raise ValueError(f"yfinance: no Close column in the download ({', '.join(long.columns)})")
    long = long[long[close].notna()]
    return to_canonical(long, source="yfinance")


def _load_simulator(
    *,
    start: date,
    end: date,
    universe: list[str] | int | None,
    seed: int,
    oracle_from: date | None,
) -> SourceData:
    if isinstance(universe, list | tuple):
        shown = ", ".join(universe[:3]) + (", ..." if len(universe) > 3 else "")
        raise ValueError(
            f"the simulator takes a number of symbols as its universe, not names ({shown})"
        )
    n_symbols = DEFAULT_SIMULATOR_SYMBOLS if universe is None else universe
    if n_symbols < 1:
        raise ValueError(f"the simulator needs at least 1 symbol, got {n_symbols}")
    market = simulate_market(
        SimulatorConfig(n_symbols=n_symbols, start=start, end=end, seed=seed),
        oracle_from=oracle_from,
    )
    return SourceData(bars=market.bars, oracle=market.oracle)


def _read_directory(
    directory: Path, kind: str, max_file_bytes: int
) -> tuple[pd.DataFrame, list[RejectedFile]]:
    files = source_files(directory, kind)
    names = symbols_from_stems([path.stem for path in files])
    frames, rejected = [], []
    for path, name in zip(files, names, strict=True):
        try:
            _check_file(path, directory, max_file_bytes)
            frame = _read_file(path, kind, name)
        except ValueError as exc:
            rejected.append(RejectedFile(path, _one_line(exc), name))
            continue
        if frame.empty:
            rejected.append(RejectedFile(path, f"{path}: no rows", name))
            continue
        frames.append(frame)
    if not frames:
        reasons = "; ".join(item.reason for item in rejected[:3])
        more = f" (and {len(rejected) - 3} more)" if len(rejected) > 3 else ""
        raise ValueError(f"{kind}:{directory}: every file was rejected: {reasons}{more}")
    bars = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    return bars.sort_values(["symbol", "date"], kind="stable", ignore_index=True), rejected


def _check_file(path: Path, directory: Path, max_file_bytes: int) -> None:
    """Refuse, unread, a file that leaves ``directory`` (symlink) or is too large."""
    if not path.resolve().is_relative_to(directory.resolve()):
        raise ValueError(f"{path}: links outside {directory} (to {path.resolve()})")
    size = path.stat().st_size
    if size > max_file_bytes:
        raise ValueError(
            f"{path}: {size / 1024**2:.0f} MB is over the {max_file_bytes / 1024**2:.0f} MB "
            "limit for one source file"
        )


def source_files(directory: Path, kind: str) -> list[Path]:
    """The ``*.csv`` / ``*.parquet`` files directly in ``directory``, sorted; a ValueError
    when the folder is missing, unreadable or holds none."""
    if not directory.is_dir():
        raise ValueError(f"{kind}:{directory}: not a directory")
    suffix = f".{kind}"
    try:
        files = sorted(p for p in directory.iterdir() if p.is_file() and p.suffix.lower() == suffix)
    except OSError as exc:
        raise ValueError(f"{kind}:{directory}: cannot list ({exc.strerror or exc})") from None
    if not files:
        raise ValueError(f"{kind}:{directory}: no *{suffix} files")
    unreadable = [p.name for p in files if not os.access(p, os.R_OK)]
    if unreadable:
        raise ValueError(f"{kind}:{directory}: cannot read {', '.join(unreadable[:3])}")
    return files


def directory_symbols(directory: Path, kind: str) -> set[str]:
    """The symbols a file source holds, without reading its bars: each file's stem (see
    :func:`symbols_from_stems`), or the values of its symbol column when it has one (only
    that column is read)."""
    files = source_files(directory, kind)
    symbols: set[str] = set()
    for path, stem_symbol in zip(files, symbols_from_stems([p.stem for p in files]), strict=True):
        try:
            if kind == "csv":
                header = pd.read_csv(path, nrows=0).columns
            else:
                import pyarrow.parquet as pq

                header = pd.Index(pq.read_schema(path).names)
            column = find_column(pd.DataFrame(columns=header), "symbol")
            if column is None:
                symbols.add(stem_symbol)
                continue
            values = (
                pd.read_csv(path, usecols=[column])[column]
                if kind == "csv"
                else pd.read_parquet(path, columns=[column])[column]
            )
        except (OSError, ValueError, pa.ArrowException) as exc:
            raise ValueError(f"{path}: cannot read {kind} file ({_one_line(exc)})") from None
        symbols.update(values.dropna().astype(str))
    return symbols


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


def read_bars_file(
    path: Path, symbol: str | None = None, *, max_file_bytes: int = MAX_FILE_BYTES
) -> pd.DataFrame:
    """Read one ``.csv`` or ``.parquet`` file (by suffix) into canonical bars.

    Refused unread, like a file of a directory source: a symlink that leaves the file's
    folder, and a file over ``max_file_bytes``.

    ``symbol`` names the rows of a file without a symbol column (default: the stem).
    """
    kind = Path(path).suffix.lower().lstrip(".")
    if kind not in DIRECTORY_KINDS:
        raise ValueError(f"{path}: not a .csv or .parquet file")
    _check_file(Path(path), Path(path).parent, max_file_bytes)
    return _read_file(Path(path), kind, symbol or Path(path).stem)


def _read_file(path: Path, kind: str, symbol: str) -> pd.DataFrame:
    """Read one file into canonical bars; any problem is a ValueError naming the file."""
    try:
        # utf-8-sig: a byte-order mark (spreadsheet exports) is not part of the first header
        raw = pd.read_csv(path, encoding="utf-8-sig") if kind == "csv" else pd.read_parquet(path)
    except (OSError, ValueError, NotImplementedError, pa.ArrowException) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"{path}: cannot read {kind} file ({reason})") from None
    if any(name is not None for name in raw.index.names):
        raw = raw.reset_index()
    if find_column(raw, "symbol") is None:
        raw = raw.assign(symbol=symbol)
    return to_canonical(raw, source=str(path))
