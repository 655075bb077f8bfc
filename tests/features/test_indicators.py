"""fct_features against TA-Lib: its C suite's own values and the TA-Lib Python package."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.features.conftest import LONG_SERIES_BARS

talib = pytest.importorskip("talib")

# TA-Lib's regression suite names outputs per function; our columns for the same settings.
SPOT_COLUMNS = {
    ("RSI", "timeperiod=14", "real"): "rsi_14",
    ("ATR", "timeperiod=14", "real"): "atr_14",
    ("NATR", "timeperiod=14", "real"): "natr_14",
    ("ADX", "timeperiod=14", "real"): "adx_14",
    ("PLUS_DI", "timeperiod=14", "real"): "plus_di_14",
    ("MINUS_DI", "timeperiod=14", "real"): "minus_di_14",
    ("WILLR", "timeperiod=14", "real"): "willr_14",
    ("MFI", "timeperiod=14", "real"): "mfi_14",
    ("MACD", "fast=12,slow=26,signal=9", "macd"): "macd",
    ("MACD", "fast=12,slow=26,signal=9", "macdsignal"): "macd_signal",
    ("MACD", "fast=12,slow=26,signal=9", "macdhist"): "macd_hist",
    ("BBANDS", "timeperiod=20,nbdevup=2,nbdevdn=2,matype=SMA", "upperband"): "bb_upper_20",
    ("BBANDS", "timeperiod=20,nbdevup=2,nbdevdn=2,matype=SMA", "middleband"): "bb_middle_20",
    ("BBANDS", "timeperiod=20,nbdevup=2,nbdevdn=2,matype=SMA", "lowerband"): "bb_lower_20",
}

RELATIVE_TOLERANCE = 1e-6


def talib_features(bars: pd.DataFrame) -> dict[str, np.ndarray]:
    """Every TA-Lib indicator of fct_features, computed by the TA-Lib package on one series."""
    h, lo, c, v = (bars[k].to_numpy(dtype=float) for k in ["high", "low", "close", "volume"])
    macd, macd_signal, macd_hist = talib.MACD(c, 12, 26, 9)
    upper, middle, lower = talib.BBANDS(c, 20, 2, 2)
    stoch_k, stoch_d = talib.STOCH(h, lo, c, 14, 3, 0, 3, 0)
    return {
        "sma_5": talib.SMA(c, 5),
        "sma_10": talib.SMA(c, 10),
        "sma_20": talib.SMA(c, 20),
        "sma_50": talib.SMA(c, 50),
        "sma_200": talib.SMA(c, 200),
        "ema_12": talib.EMA(c, 12),
        "ema_26": talib.EMA(c, 26),
        "ema_50": talib.EMA(c, 50),
        "wma_20": talib.WMA(c, 20),
        "rsi_14": talib.RSI(c, 14),
        "macd": macd,
        "macd_signal": macd_signal,
        "macd_hist": macd_hist,
        "bb_upper_20": upper,
        "bb_middle_20": middle,
        "bb_lower_20": lower,
        "atr_14": talib.ATR(h, lo, c, 14),
        "natr_14": talib.NATR(h, lo, c, 14),
        "adx_14": talib.ADX(h, lo, c, 14),
        "plus_di_14": talib.PLUS_DI(h, lo, c, 14),
        "minus_di_14": talib.MINUS_DI(h, lo, c, 14),
        "stoch_k": stoch_k,
        "stoch_d": stoch_d,
        "willr_14": talib.WILLR(h, lo, c, 14),
        "cci_14": talib.CCI(h, lo, c, 14),
        "mfi_14": talib.MFI(*without_typical_price_ties(h, lo, c), v, 14),
        "obv": talib.OBV(c, v),
        "roc_10": talib.ROC(c, 10),
        "mom_10": talib.MOM(c, 10),
    }


def without_typical_price_ties(
    high: np.ndarray, low: np.ndarray, close: np.ndarray, tolerance: float = 1e-8
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The bars with each typical-price move under `tolerance` made exactly zero (the bar
    takes the previous bar's high, low and close). Such moves are rounding: prices scaled
    by adj_close / close turn an unchanged typical price into a move of about 1e-13, and
    TA-Lib's MFI counts it as money flow by the sign of the rounding in its own
    arithmetic, which no other implementation reproduces; int_volume counts it as no
    move. Only MFI reads the typical price's direction."""
    high, low, close = high.copy(), low.copy(), close.copy()
    for i in range(1, len(close)):
        move = (high[i] + low[i] + close[i]) / 3 - (high[i - 1] + low[i - 1] + close[i - 1]) / 3
        if abs(move) < tolerance:
            high[i], low[i], close[i] = high[i - 1], low[i - 1], close[i - 1]
    return high, low, close


def max_relative_error(got: np.ndarray, expected: np.ndarray) -> float:
    """Largest |got - expected| / |expected| where TA-Lib has a value (an absolute error
    where it is 0, as for an oscillator at its bound)."""
    has_value = ~np.isnan(expected)
    if not has_value.any():
        return 0.0
    expected = expected[has_value]
    errors = np.abs(got[has_value] - expected)
    relative = errors / np.where(expected == 0, 1.0, np.abs(expected))
    return float(np.max(relative))


TALIB_COLUMNS = [
    "sma_5",
    "sma_10",
    "sma_20",
    "sma_50",
    "sma_200",
    "ema_12",
    "ema_26",
    "ema_50",
    "wma_20",
    "rsi_14",
    "macd",
    "macd_signal",
    "macd_hist",
    "bb_upper_20",
    "bb_middle_20",
    "bb_lower_20",
    "atr_14",
    "natr_14",
    "adx_14",
    "plus_di_14",
    "minus_di_14",
    "stoch_k",
    "stoch_d",
    "willr_14",
    "cci_14",
    "mfi_14",
    "obv",
    "roc_10",
    "mom_10",
]


def test_talib_columns_are_features(features: pd.DataFrame) -> None:
    assert set(TALIB_COLUMNS) <= set(features.columns)
    assert set(talib_features(features.head(300))) == set(TALIB_COLUMNS)


@pytest.mark.parametrize("column", TALIB_COLUMNS)
def test_equals_talib_package(features: pd.DataFrame, column: str) -> None:
    """Random walks (one longer than a naive closed form survives) and real prices:
    exact after TA-Lib's lookback, and null exactly where TA-Lib has no value."""
    for symbol, bars in features.groupby("symbol"):
        expected = talib_features(bars)[column]
        got = bars[column].to_numpy(dtype=float)
        assert np.array_equal(np.isnan(got), np.isnan(expected)), (symbol, column)
        error = max_relative_error(got, expected)
        assert error <= RELATIVE_TOLERANCE, (symbol, column, error)


def test_long_series_is_finite(features: pd.DataFrame) -> None:
    """Exponential averages stay finite past the length where weights q^(-i) overflow."""
    long_series = features[features["symbol"] == "RND1"]
    assert len(long_series) == LONG_SERIES_BARS
    tail = long_series.tail(100)[["ema_12", "ema_50", "rsi_14", "atr_14", "adx_14", "macd_signal"]]
    assert np.isfinite(tail.to_numpy()).all()


def test_equals_talib_regression_values(features: pd.DataFrame, reference_dir: Path) -> None:
    """TA-Lib's C regression suite: its expected values on its own 252-bar series."""
    spots = pd.read_csv(reference_dir / "indicators" / "talib_expected_spotvalues.csv")
    series = features[features["symbol"] == "TAREF"].reset_index(drop=True)
    checked = 0
    for spot in spots.itertuples():
        column = SPOT_COLUMNS.get((spot.function, spot.params, spot.output))
        if column is None or spot.compat != "DEFAULT":
            continue
        got = series.loc[spot.bar_index, column]
        assert abs(got - spot.expected) <= spot.abs_tolerance, (
            column,
            spot.bar_index,
            got,
            spot.expected,
        )
        checked += 1
    assert checked >= 35
