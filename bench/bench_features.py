"""The feature layer: a full dbt build against pandas, and one partition against a full build.

1. The 29 TA-Lib indicators for N symbols x Y years: the dbt models that compute them
   (`dbt run --select +int_trend +int_momentum +int_volatility +int_volume`, a full
   refresh, dbt start-up included) against the `ta` library (pandas, symbol by symbol)
   computing exactly the same 29 columns in the same run. Both read the bars from the
   same Parquet lake. Goal: 10x faster. The full
   build of every feature column (about 240) is timed too and reported as a detail.
2. One incremental partition (the last business day, with its warm-up) against the full
   build of the same warehouse. Goal: at most 5% of the full build's time.

Each dbt timing is the wall time of the `dbt run` process. Each measure is reported a
second time for the models' span alone (first start to last end in dbt's
run_results.json): dbt's start-up (importing dbt, loading the partial parse, about 4 s
here) is the same for any amount of data, and at this size it is most of a nightly run.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import time
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from bench.harness import BenchResult, compare


def _bars(n_symbols: int, n_days: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range("2015-01-02", periods=n_days)
    close = 50 * np.exp(np.cumsum(rng.normal(0, 0.02, (n_days, n_symbols)), axis=0))
    open_ = close * np.exp(rng.normal(0, 0.005, close.shape))
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0, 0.01, close.shape)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0, 0.01, close.shape)))
    volume = rng.integers(100_000, 10_000_000, close.shape).astype(float)
    return pd.DataFrame(
        {
            "symbol": np.tile([f"S{i:04d}" for i in range(n_symbols)], n_days),
            "date": np.repeat(dates, n_symbols),
            "open": open_.ravel(),
            "high": high.ravel(),
            "low": low.ravel(),
            "close": close.ravel(),
            "volume": volume.ravel(),
        }
    )


# The models that compute the 29 TA-Lib indicator columns, with their parents.
INDICATOR_MODELS = ("+int_trend", "+int_momentum", "+int_volatility", "+int_volume")


def _dbt_run(
    home: Path,
    *args: str,
    select: tuple[str, ...] = ("+fct_features",),
    window: tuple[date, date] | None = None,
) -> tuple[float, float]:
    """Run dbt; return the process's wall time and the time its models took."""
    from orchestration.project import dbt_cli

    argv, env = dbt_cli(
        "run",
        "--select",
        *select,
        "--target-path",
        str(home / "dbt_target"),
        *args,
        home=home,
        window=window,
    )
    started = time.perf_counter()
    subprocess.run(argv, env=env, check=True, capture_output=True)
    wall = time.perf_counter() - started
    # the models' span: first model start to last model end (dbt runs up to `threads`
    # models at once, so the sum of their execution times would overcount)
    results = json.loads((home / "dbt_target" / "run_results.json").read_text())["results"]
    stamps = [
        t[key] for r in results for t in r["timing"] for key in ("started_at", "completed_at")
    ]
    span = (
        datetime.fromisoformat(max(stamps).rstrip("Z"))
        - datetime.fromisoformat(min(stamps).rstrip("Z"))
    ).total_seconds()
    return wall, span


def _ta_baseline(lake_root: Path) -> float:
    """The 29 TA-Lib indicator columns of fct_features with the `ta` library, one symbol at
    a time, from the same lake the dbt models read."""
    import ta

    from ingest.lake import read_bars

    started = time.perf_counter()
    bars = read_bars(lake_root).sort_values(["symbol", "date"])
    for _, g in bars.groupby("symbol", sort=False):
        h, lo, c, v = g["high"], g["low"], g["close"], g["volume"]
        for n in (5, 10, 20, 50, 200):
            ta.trend.sma_indicator(c, n)
        for n in (12, 26, 50):
            ta.trend.ema_indicator(c, n)
        ta.trend.wma_indicator(c, 20)
        ta.momentum.rsi(c, 14)
        macd = ta.trend.MACD(c, 26, 12, 9)
        macd.macd(), macd.macd_signal(), macd.macd_diff()
        bands = ta.volatility.BollingerBands(c, 20, 2)
        bands.bollinger_hband(), bands.bollinger_mavg(), bands.bollinger_lband()
        atr = ta.volatility.average_true_range(h, lo, c, 14)
        100 * atr / c
        adx = ta.trend.ADXIndicator(h, lo, c, 14)
        adx.adx(), adx.adx_pos(), adx.adx_neg()
        stoch = ta.momentum.StochasticOscillator(h, lo, c, 14, 3)
        slow_k = stoch.stoch_signal()
        slow_k.rolling(3).mean()
        ta.momentum.williams_r(h, lo, c, 14)
        ta.trend.cci(h, lo, c, 14)
        ta.volume.money_flow_index(h, lo, c, v, 14)
        ta.volume.on_balance_volume(c, v)
        ta.momentum.roc(c, 10)
        c.diff(10)
    return time.perf_counter() - started


def run(quick: bool) -> list[BenchResult]:
    from ingest.lake import write_partitions

    n_symbols, n_days = (20, 260) if quick else (500, 2520)
    size = f"{n_symbols} symbols x {n_days} days"
    bars = _bars(n_symbols, n_days)
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        write_partitions(home / "lake", bars)
        # a first full build warms the OS cache and dbt's partial parse
        full, full_models = _dbt_run(home)
        baseline = _ta_baseline(home / "lake")
        indicators, indicator_models = _dbt_run(home, "--full-refresh", select=INDICATOR_MODELS)
        last_day = bars["date"].max().date()
        partition, partition_models = _dbt_run(home, window=(last_day, last_day))
        full_again, full_again_models = _dbt_run(home, "--full-refresh")
    if full_again < full:
        full, full_models = full_again, full_again_models
    return [
        compare(
            "features_ta_lib_indicators_vs_ta_pandas",
            candidate_seconds=indicators,
            baseline="ta library (pandas) per symbol, the same 29 TA-Lib indicators",
            baseline_seconds=baseline,
            goal=0.1,
            detail=(
                f"{size}; dbt run {' '.join(INDICATOR_MODELS)} --full-refresh: models "
                f"{indicator_models:.2f}s + dbt start-up {indicators - indicator_models:.2f}s; "
                f"full build of every feature column (dbt run +fct_features) {full:.2f}s, "
                f"models {full_models:.2f}s"
            ),
        ),
        compare(
            "features_ta_lib_indicators_models_only_vs_ta_pandas",
            candidate_seconds=indicator_models,
            baseline="ta library (pandas) per symbol, the same 29 TA-Lib indicators",
            baseline_seconds=baseline,
            goal=0.1,
            detail=f"{size}; the dbt models' span alone, without dbt's start-up",
        ),
        compare(
            "features_one_partition_vs_full_build",
            candidate_seconds=partition,
            baseline="full dbt run of the same models",
            baseline_seconds=full,
            goal=0.05,
            detail=(
                f"{size}; incremental run of {last_day} with warm-up: models "
                f"{partition_models:.2f}s + dbt start-up {partition - partition_models:.2f}s"
            ),
        ),
        compare(
            "features_one_partition_models_only_vs_full_build",
            candidate_seconds=partition_models,
            baseline="full dbt run of the same models, models' span alone",
            baseline_seconds=full_models,
            goal=0.05,
            detail=f"{size}; both without dbt's start-up, which is the same for any window",
        ),
    ]
