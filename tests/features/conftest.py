"""A real dbt build of the feature layer on a temporary warehouse, shared per session."""

from __future__ import annotations

import subprocess
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from ingest.lake import write_partitions
from ingest.sources import read_sample
from orchestration.project import dbt_cli

# Long enough that a closed form with weights q^(-i) would overflow for a 12-bar EMA.
LONG_SERIES_BARS = 4600


def random_bars(
    symbols: list[str], n_bars: int, seed: int, start: str = "2005-01-03"
) -> pd.DataFrame:
    """Random-walk OHLCV bars with consistent highs and lows, on business days."""
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range(start, periods=n_bars)
    frames = []
    for symbol in symbols:
        close = 50 * np.exp(np.cumsum(rng.normal(0, 0.02, n_bars)))
        open_ = close * np.exp(rng.normal(0, 0.005, n_bars))
        high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0, 0.01, n_bars)))
        low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0, 0.01, n_bars)))
        volume = rng.integers(100_000, 10_000_000, n_bars).astype(float)
        frames.append(
            pd.DataFrame(
                {
                    "symbol": symbol,
                    "date": dates,
                    "open": open_,
                    "high": high,
                    "low": low,
                    "close": close,
                    "volume": volume,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def reference_bars(reference_dir: Path) -> pd.DataFrame:
    """TA-Lib's 252-bar regression series (symbol TAREF, dated on business days from
    2012-01-03) and the real daily bars of AAPL, IBM, KO and MSFT."""
    talib_bars = pd.read_csv(reference_dir / "indicators" / "talib_ref_252bars.csv")
    talib_bars["date"] = pd.bdate_range("2012-01-03", periods=len(talib_bars))
    talib_bars["symbol"] = "TAREF"
    frames = [talib_bars.drop(columns="bar")]
    for path in sorted((reference_dir / "prices").glob("csvdir_daily_*.csv")):
        prices = pd.read_csv(path, parse_dates=["date"])
        prices["symbol"] = path.stem.removeprefix("csvdir_daily_")
        frames.append(prices[["symbol", "date", "open", "high", "low", "close", "volume"]])
    return pd.concat(frames, ignore_index=True)


def dbt_build(
    home: Path,
    *args: str,
    command: str = "build",
    window: tuple[date, date] | None = None,
    target: Path | None = None,
) -> str:
    """`dbt build` (models, data tests and unit tests), or another dbt `command`, against
    the warehouse in `home`, over the partition `window` (default: everything), with its
    artifacts in `target` (default: home/dbt_target); returns dbt's output."""
    target = home / "dbt_target" if target is None else target
    argv, env = dbt_cli(command, "--target-path", str(target), *args, home=home, window=window)
    completed = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    assert completed.returncode == 0, completed.stdout[-4000:]
    return completed.stdout


def read_table(home: Path, sql: str) -> pd.DataFrame:
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        return con.execute(sql).df()


def sample_bars() -> pd.DataFrame:
    """Real daily bars of the `sample` source (AAPL, GOOG, IBM, MSFT) from mid-2008 to the
    end of 2011: the crash's volatility, dividends in `adj_close`, and no overlap with the
    reference files' 2012-2014 bars of the same symbols."""
    bars = read_sample()
    in_range = bars["date"].between(pd.Timestamp("2008-07-01"), pd.Timestamp("2011-12-30"))
    return bars[in_range].reset_index(drop=True)


@pytest.fixture(scope="session")
def feature_bars(optional_reference_dir: Path | None) -> pd.DataFrame:
    """The bars every feature test builds from: real prices and random walks, plus the
    external reference series where that folder is present (the tests that compare with
    its values skip without it; every other feature test runs either way)."""
    frames = [
        sample_bars(),
        random_bars(["RND1"], LONG_SERIES_BARS, seed=1),
        random_bars(["RND2", "RND3"], 900, seed=2, start="2011-06-01"),
    ]
    if optional_reference_dir is not None:
        frames.append(reference_bars(optional_reference_dir))
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="session")
def feature_home(tmp_path_factory: pytest.TempPathFactory, feature_bars: pd.DataFrame) -> Path:
    """A temporary ALPHADAG_HOME with those bars in the lake and the dbt project built."""
    home = tmp_path_factory.mktemp("features")
    write_partitions(home / "lake", feature_bars)
    dbt_build(home)
    return home


@pytest.fixture(scope="session")
def features(feature_home: Path) -> pd.DataFrame:
    """fct_features with each bar's OHLCV beside it, ordered by symbol and date."""
    return read_table(
        feature_home,
        "select f.*, b.open, b.high, b.low, b.close, b.volume "
        "from fct_features f join stg_ohlcv b using (symbol, date) order by symbol, date",
    )
