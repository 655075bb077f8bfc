"""`alphadag run` refuses, in one line and before any work, a run that cannot succeed."""

from __future__ import annotations

import subprocess
import sys
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from orchestration.preflight import MIN_BUSINESS_DAYS, check_before_run, universe_size
from orchestration.settings import Settings, SettingsError


def _run(tmp_path: Path, **environ: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "orchestration.cli", "run"],
        env={"PATH": "/usr/bin:/bin", "ALPHADAG_HOME": str(tmp_path / "home"), **environ},
        capture_output=True,
        text=True,
        timeout=120,
    )


def _csv_folder(folder: Path, symbols: list[str]) -> Path:
    folder.mkdir()
    for symbol in symbols:
        pd.DataFrame(
            {
                "date": ["2024-01-02"],
                "open": [1.0],
                "high": [1.0],
                "low": [1.0],
                "close": [1.0],
                "volume": [1.0],
            }
        ).to_csv(folder / f"{symbol}.csv", index=False)
    return folder


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"ALPHADAG_SOURCE": "csv:/nonexistent/bars"}, "csv:/nonexistent/bars: not a directory"),
        ({"ALPHADAG_UNIVERSE": "2"}, "the universe has 2 symbol(s); the model ranks at least 3"),
        (
            {"ALPHADAG_START": "2023-06-01", "ALPHADAG_END": "2023-12-31"},
            f"holds 152 business days; the model's splits need at least {MIN_BUSINESS_DAYS}",
        ),
    ],
)
def test_run_stops_before_any_work(tmp_path: Path, environ: dict[str, str], expected: str) -> None:
    out = _run(tmp_path, **environ)
    assert out.returncode == 2
    (line,) = out.stderr.strip().splitlines()
    assert line.startswith("error: ") and expected in line
    assert out.stdout == ""  # nothing started: no header, no dbt parse
    assert not (tmp_path / "home" / "lake").exists()


def test_empty_csv_folder(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    out = _run(tmp_path, ALPHADAG_SOURCE=f"csv:{tmp_path / 'empty'}")
    assert out.returncode == 2
    assert out.stderr.strip() == f"error: ALPHADAG_SOURCE: csv:{tmp_path / 'empty'}: no *.csv files"


def test_two_symbol_csv_folder(tmp_path: Path) -> None:
    folder = _csv_folder(tmp_path / "bars", ["AAA", "BBB"])
    out = _run(tmp_path, ALPHADAG_SOURCE=f"csv:{folder}")
    assert out.returncode == 2
    assert "the universe has 2 symbol(s)" in out.stderr


def _settings(**environ: str) -> Settings:
    return Settings.from_env({"ALPHADAG_HOME": "/tmp/unused", **environ})


def test_symbols_of_a_long_table_are_counted_from_its_symbol_column(tmp_path: Path) -> None:
    folder = tmp_path / "bars"
    folder.mkdir()
    pd.DataFrame({"Ticker": ["A", "B", "C", "C"], "Date": ["2024-01-02"] * 4}).to_parquet(
        folder / "all.parquet"
    )
    assert universe_size(_settings(ALPHADAG_SOURCE=f"parquet:{folder}")) == 3


def test_listed_symbols_must_exist_in_a_file_source(tmp_path: Path) -> None:
    folder = _csv_folder(tmp_path / "bars", ["AAA", "BBB", "CCC"])
    settings = _settings(ALPHADAG_SOURCE=f"csv:{folder}", ALPHADAG_UNIVERSE="AAA,ZZZ,BBB")
    with pytest.raises(SettingsError, match=r"ALPHADAG_UNIVERSE: ZZZ not in csv:"):
        check_before_run(settings, top_k=5)


def test_a_portfolio_holding_the_whole_universe_is_pointed_out() -> None:
    # the sample source ships 5 symbols and the default portfolio holds 5
    (note,) = check_before_run(_settings(ALPHADAG_SOURCE="sample"), top_k=5)
    assert "top_k=5 names of a 5-symbol universe" in note
    assert check_before_run(_settings(ALPHADAG_UNIVERSE="6"), top_k=5) == []


def test_the_default_settings_pass() -> None:
    settings = _settings()
    assert (settings.start, settings.end) == (date(2021, 1, 1), date(2023, 12, 31))
    assert check_before_run(settings, top_k=5) == []


def test_an_unreachable_database_server_is_one_line_without_its_password(tmp_path) -> None:
    import socket

    with socket.socket() as sock:  # a port on which nothing listens
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"postgresql://alphadag:s3cret@127.0.0.1:{port}/dagster"
    out = _run(tmp_path, ALPHADAG_DAGSTER_STORAGE=url)
    assert out.returncode == 2 and "Traceback" not in out.stdout + out.stderr
    assert (
        f"ALPHADAG_DAGSTER_STORAGE: cannot connect to postgresql://alphadag:***@127.0.0.1:{port}/dagster"
        in out.stderr
    )
    assert "s3cret" not in out.stdout + out.stderr
    assert not (tmp_path / "home" / "dagster_home").exists()  # checked before anything
