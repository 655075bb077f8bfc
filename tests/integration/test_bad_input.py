"""A corpus of bad source files: each is rejected or has its rows quarantined, with a
reason, and the good symbols beside it go through.

Each kind is a small writer that puts one bad file into a ``csv:`` directory next to
good files. Outcomes:

- ``rejected``: the file is refused whole (``SourceData.rejected``, one line naming it);
- ``quarantined``: its bad rows go to quarantine with the expected reason;
- ``out_of_range``: the rows lie after the configured end and are never stored;
- ``harmless``: the oddity changes nothing stored (extra columns are dropped, unsorted
  rows sorted, a byte-order mark read as such), checked against the clean file.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import date
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from assets.market_data import build_raw_ohlcv
from ingest.ingestion import ingest_bars
from ingest.lake import read_bars
from ingest.sources import SourceSpec, load_source
from orchestration.partitions import business_day_partitions
from orchestration.settings import Settings

START, END = date(2023, 1, 2), date(2023, 3, 31)
TODAY = date(2023, 4, 3)
DAYS = pd.bdate_range(START, END)
GOOD_SYMBOLS = ("AAA", "BBB", "CCC")


def good_frame(symbol: str = "ZZZ", days: pd.DatetimeIndex = DAYS) -> pd.DataFrame:
    close = 20.0 + np.sin(np.arange(len(days)) / 5.0) + sum(map(ord, symbol)) % 7
    return pd.DataFrame(
        {
            "date": days.strftime("%Y-%m-%d"),
            "open": close,
            "high": close + 0.5,
            "low": close - 0.5,
            "close": close + 0.1,
            "volume": 10_000,
        }
    )


def _csv(folder: Path, name: str, frame: pd.DataFrame, **kwargs) -> None:
    frame.to_csv(folder / name, index=False, **kwargs)


def _with(row: int, **values: object) -> Callable[[Path], None]:
    def write(folder: Path) -> None:
        frame = good_frame().astype(object)
        for column, value in values.items():
            frame.loc[row, column] = value
        _csv(folder, "ZZZ.csv", frame)

    return write


def _text(name: str, content: bytes) -> Callable[[Path], None]:
    return lambda folder: (folder / name).write_bytes(content)


def _sparse_gigabyte(folder: Path) -> None:
    with (folder / "HUGE.csv").open("wb") as handle:
        handle.write(b"date,open,high,low,close,volume\n")
        handle.truncate(1024**3)  # a hole: costs no disk and no time


def _symlink_outside(folder: Path) -> None:
    outside = folder.parent / "outside.csv"
    _csv(folder.parent, "outside.csv", good_frame())
    (folder / "LINK.csv").symlink_to(outside)


def _jump(folder: Path) -> None:
    frame = good_frame()
    tail = frame.index >= 40
    frame.loc[tail, ["open", "high", "low", "close"]] *= 1000
    _csv(folder, "ZZZ.csv", frame)


def _duplicate_dates(folder: Path) -> None:
    frame = good_frame()
    _csv(folder, "ZZZ.csv", pd.concat([frame, frame.iloc[[5]].assign(close=21.3, high=22.0)]))


def _mixed_formats(folder: Path) -> None:
    frame = good_frame()
    frame.loc[::2, "date"] = DAYS[::2].strftime("%m/%d/%Y")
    _csv(folder, "ZZZ.csv", frame)


def _mixed_zones(folder: Path) -> None:
    frame = good_frame()
    frame["date"] = [
        f"{d}T00:00:00{'+00:00' if i % 2 else '-05:00'}" for i, d in enumerate(frame["date"])
    ]
    _csv(folder, "ZZZ.csv", frame)


def _non_utf8(folder: Path) -> None:
    text = good_frame().to_csv(index=False).replace("volume", "volumé")
    (folder / "ZZZ.csv").write_bytes(text.encode("latin-1"))


def _symbol_column(symbol: str) -> Callable[[Path], None]:
    return lambda folder: _csv(folder, "MULTI.csv", good_frame().assign(symbol=symbol))


def _named(name: str) -> Callable[[Path], None]:
    return lambda folder: _csv(folder, name, good_frame())


def _future(folder: Path) -> None:
    later = pd.bdate_range("2099-01-05", periods=3)
    _csv(folder, "ZZZ.csv", pd.concat([good_frame(), good_frame(days=later)]))


def _weekend(folder: Path) -> None:
    frame = good_frame()
    frame.loc[3, "date"] = "2023-01-07"
    _csv(folder, "ZZZ.csv", frame)


def _unsorted(folder: Path) -> None:
    _csv(folder, "ZZZ.csv", good_frame().sample(frac=1.0, random_state=3))


def _extra_columns(folder: Path) -> None:
    _csv(folder, "ZZZ.csv", good_frame().assign(dividends=0.0, splits=1.0, note="x"))


def _bom(folder: Path) -> None:
    _csv(folder, "ZZZ.csv", good_frame(), encoding="utf-8-sig")


# kind -> (writer, outcome, expected reasons of quarantined rows or a word of the rejection)
CORPUS: dict[str, tuple[Callable[[Path], None], str, str]] = {
    "empty_file": (_text("ZZZ.csv", b""), "rejected", "No columns to parse"),
    "header_only": (_text("ZZZ.csv", b"date,open,high,low,close,volume\n"), "rejected", "no rows"),
    "garbage_bytes": (
        _text("ZZZ.csv", bytes(np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8))),
        "rejected",
        "ZZZ.csv",
    ),
    "nul_bytes_in_text": (
        _text("ZZZ.csv", b"date,open\x00,high\n\x00\x00\x00\n"),
        "rejected",
        "ZZZ.csv",
    ),
    "non_utf8": (_non_utf8, "rejected", "utf-8"),
    "wrong_delimiter": (
        lambda f: _csv(f, "ZZZ.csv", good_frame(), sep=";"),
        "rejected",
        "missing required",
    ),
    "missing_columns": (
        lambda f: _csv(f, "ZZZ.csv", good_frame().drop(columns=["volume"])),
        "rejected",
        "missing required column(s) volume",
    ),
    "clashing_headers": (
        lambda f: _csv(f, "ZZZ.csv", good_frame().assign(Close=1.0)),
        "rejected",
        "all mean 'close'",
    ),
    "wrong_types": (_with(4, close="abc"), "rejected", "non-numeric"),
    "thousands_separators": (_with(4, high="1,234.5"), "rejected", "non-numeric"),
    "mixed_date_formats": (_mixed_formats, "rejected", "not dates"),
    "mixed_time_zones": (_mixed_zones, "rejected", "not dates"),
    "huge_file": (_sparse_gigabyte, "rejected", "1024 MB is over"),
    "symlink_outside": (_symlink_outside, "rejected", "links outside"),
    "nan_values": (_with(4, close=np.nan), "quarantined", "missing_value"),
    "missing_date": (_with(4, date=None), "quarantined", "missing_value"),
    "inf_values": (_with(4, high=np.inf), "quarantined", "implausible_value"),
    "zero_price": (_with(4, open=0.0), "quarantined", "non_positive_price"),
    "negative_price": (_with(4, close=-3.0), "quarantined", "non_positive_price"),
    "negative_volume": (_with(4, volume=-1), "quarantined", "negative_volume"),
    "absurd_volume": (_with(4, volume=1e20), "quarantined", "implausible_value"),
    "high_below_low": (_with(4, high=1.0), "quarantined", "high_below_max"),
    "open_outside_range": (_with(4, open=99.0), "quarantined", "high_below_max"),
    "close_outside_range": (_with(4, close=1.0), "quarantined", "low_above_min"),
    "duplicate_dates": (_duplicate_dates, "quarantined", "duplicate_key"),
    "weekend_dates": (_weekend, "quarantined", "weekend_date"),
    "price_jump_1000x": (_jump, "quarantined", "implausible_jump"),
    "sql_symbol_file_name": (_named("'; DROP TABLE x; --.csv"), "quarantined", "invalid_symbol"),
    "dotdot_file_name": (_named("..ZZZ.csv"), "quarantined", "invalid_symbol"),
    "path_in_symbol_column": (_symbol_column("../../etc/passwd"), "quarantined", "invalid_symbol"),
    "sql_in_symbol_column": (
        _symbol_column("x'); DROP TABLE fct_features; --"),
        "quarantined",
        "invalid_symbol",
    ),
    "future_dates": (_future, "out_of_range", ""),
    "unsorted_rows": (_unsorted, "harmless", ""),
    "extra_columns": (_extra_columns, "harmless", ""),
    "byte_order_mark": (_bom, "harmless", ""),
}


def _source_dir(root: Path, kind: str | None) -> Path:
    folder = root / "in"
    folder.mkdir(parents=True)
    for symbol in GOOD_SYMBOLS:
        _csv(folder, f"{symbol}.csv", good_frame(symbol))
    if kind is not None:
        CORPUS[kind][0](folder)
    return folder


def _ingest(folder: Path, home: Path):
    data = load_source(SourceSpec("csv", folder), start=START, end=END, universe=None)
    report = ingest_bars(
        data.bars,
        lake_root=home / "lake",
        quarantine_root=home / "quarantine",
        days=[d.date() for d in DAYS],
        today=TODAY,
    )
    return data, report, read_bars(home / "lake")


def test_the_corpus_has_at_least_25_kinds() -> None:
    assert len(CORPUS) >= 25


@pytest.mark.parametrize("kind", list(CORPUS))
def test_each_kind_is_contained_and_the_good_symbols_go_through(kind: str, tmp_path) -> None:
    _, outcome, expected = CORPUS[kind]
    data, report, stored = _ingest(_source_dir(tmp_path, kind), tmp_path / "home")

    good = stored[stored["symbol"].isin(GOOD_SYMBOLS)]
    assert len(good) == len(GOOD_SYMBOLS) * len(DAYS)  # every good row stored
    others = stored[~stored["symbol"].isin(GOOD_SYMBOLS)]
    if outcome == "rejected":
        (rejected,) = data.rejected
        assert expected in rejected.reason and "\n" not in rejected.reason
        assert rejected.path.name in rejected.reason
        assert others.empty
    elif outcome == "quarantined":
        assert not data.rejected
        assert expected in report.counts, report.counts
        assert len(report.split.quarantined) >= 1
        # nothing of what was quarantined reached the lake
        assert (others["symbol"].str.fullmatch(r"[A-Z]+")).all()
        assert len(others) + len(report.split.quarantined) <= len(DAYS) + 1
    else:
        assert not data.rejected and report.split.quarantined.empty
        clean_home = tmp_path / "clean"
        clean_dir = tmp_path / "clean_src"
        clean_dir.mkdir()
        for path in (tmp_path / "in").iterdir():
            path.rename(clean_dir / path.name)
        _csv(clean_dir, "ZZZ.csv", good_frame())
        expected_rows = _ingest(clean_dir, clean_home)[2]
        if outcome == "out_of_range":
            assert report.rows_written == len(expected_rows)
        pd.testing.assert_frame_equal(stored, expected_rows)


def test_every_kind_at_once_through_the_asset(tmp_path) -> None:
    """All the bad files in one directory: raw_ohlcv succeeds, stores every good bar,
    counts what it rejected and quarantined, and writes the rejected files' reasons."""
    folder = tmp_path / "in"
    folder.mkdir()
    for symbol in GOOD_SYMBOLS:
        _csv(folder, f"{symbol}.csv", good_frame(symbol))
    for kind, (write, outcome, _) in CORPUS.items():
        if outcome in ("rejected", "quarantined"):
            scratch = tmp_path / "scratch" / kind
            scratch.mkdir(parents=True)
            write(scratch)
            for path in scratch.iterdir():
                target = folder / (f"{kind}__{path.name}" if path.name == "ZZZ.csv" else path.name)
                if path.is_symlink():
                    target.symlink_to(os.readlink(path))
                else:
                    path.rename(target)
    settings = Settings.from_env(
        {
            "ALPHADAG_HOME": str(tmp_path / "home"),
            "ALPHADAG_SOURCE": f"csv:{folder}",
            "ALPHADAG_START": START.isoformat(),
            "ALPHADAG_END": END.isoformat(),
        }
    )
    partitions = business_day_partitions(START, END)
    keys = partitions.get_partition_keys()
    result = dg.materialize(
        [build_raw_ohlcv(partitions)],
        resources={"settings": settings},
        tags={ASSET_PARTITION_RANGE_START_TAG: keys[0], ASSET_PARTITION_RANGE_END_TAG: keys[-1]},
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )
    assert result.success
    (materialization,) = result.asset_materializations_for_node("raw_ohlcv")[-1:]
    metadata = materialization.metadata
    n_rejected = sum(1 for _, outcome, _ in CORPUS.values() if outcome == "rejected")
    assert metadata["files_rejected"].value == n_rejected
    assert metadata["rows_quarantined"].value > 0
    rejected = pd.read_parquet(settings.home / "rejected" / "source_files.parquet")
    assert len(rejected) == n_rejected and rejected["reason"].str.len().gt(0).all()
    stored = read_bars(settings.lake_dir)
    assert stored.groupby("symbol").size().loc[list(GOOD_SYMBOLS)].eq(len(DAYS)).all()
