"""Alpha158 factors against Qlib's definitions, recomputed here with pandas rolling windows
(min_periods=1, as Qlib) on the same bars."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

EPS = 1e-12


def _rolling(series: pd.Series, d: int) -> pd.core.window.Rolling:
    return series.rolling(d, min_periods=1)


def _slope(y: np.ndarray) -> float:
    return np.polyfit(np.arange(1, len(y) + 1), y, 1)[0] if len(y) > 1 else np.nan


def _rsquare(y: np.ndarray) -> float:
    return np.corrcoef(np.arange(len(y)), y)[0, 1] ** 2 if len(y) > 1 else np.nan


def _resi(y: np.ndarray) -> float:
    if len(y) < 2:
        return np.nan
    x = np.arange(1, len(y) + 1)
    slope, intercept = np.polyfit(x, y, 1)
    return y[-1] - (slope * x[-1] + intercept)


def qlib_factors(bars: pd.DataFrame) -> dict[str, pd.Series]:
    """A sample of Alpha158, written from Qlib's expressions ($close etc. are columns)."""
    o, h, lo, c, v = (bars[k] for k in ["open", "high", "low", "close", "volume"])
    c1, v1 = c.shift(1), v.shift(1)
    change = c - c1
    weighted = (c / c1 - 1).abs() * v
    return {
        "kmid": (c - o) / o,
        "kup2": (h - np.maximum(o, c)) / (h - lo + EPS),
        "klow2": (np.minimum(o, c) - lo) / (h - lo + EPS),
        "ksft": (2 * c - h - lo) / o,
        "high0": h / c,
        "roc5": c.shift(5) / c,
        "ma10": _rolling(c, 10).mean() / c,
        "std20": _rolling(c, 20).std() / c,
        "beta30": _rolling(c, 30).apply(_slope, raw=True) / c,
        "rsqr10": _rolling(c, 10).apply(_rsquare, raw=True),
        "resi5": _rolling(c, 5).apply(_resi, raw=True) / c,
        "max5": _rolling(h, 5).max() / c,
        "min60": _rolling(lo, 60).min() / c,
        "qtlu20": _rolling(c, 20).quantile(0.8) / c,
        "qtld5": _rolling(c, 5).quantile(0.2) / c,
        "rank10": _rolling(c, 10).rank(pct=True),
        "rank60": _rolling(c, 60).rank(pct=True),
        "rsv30": (c - _rolling(lo, 30).min())
        / (_rolling(h, 30).max() - _rolling(lo, 30).min() + EPS),
        "imax10": _rolling(h, 10).apply(lambda x: np.nanargmax(x) + 1, raw=True) / 10,
        "imin60": _rolling(lo, 60).apply(lambda x: np.nanargmin(x) + 1, raw=True) / 60,
        "corr20": _rolling(c, 20).corr(np.log(v + 1)),
        "cord10": _rolling(c / c1, 10).corr(np.log(v / v1 + 1)),
        "cntp5": _rolling((c > c1).astype(float), 5).mean(),
        "cntd30": _rolling((c > c1).astype(float), 30).mean()
        - _rolling((c < c1).astype(float), 30).mean(),
        "sump20": _rolling(np.maximum(change, 0), 20).sum()
        / (_rolling(change.abs(), 20).sum() + EPS),
        "sumd60": (
            _rolling(np.maximum(change, 0), 60).sum() - _rolling(np.maximum(-change, 0), 60).sum()
        )
        / (_rolling(change.abs(), 60).sum() + EPS),
        "vma5": _rolling(v, 5).mean() / (v + EPS),
        "vstd20": _rolling(v, 20).std() / (v + EPS),
        "wvma10": _rolling(weighted, 10).std() / (_rolling(weighted, 10).mean() + EPS),
        "vsumn30": _rolling(np.maximum(v1 - v, 0), 30).sum()
        / (_rolling((v - v1).abs(), 30).sum() + EPS),
    }


# the factor names of the sample, read off a two-bar frame
SAMPLE = list(
    qlib_factors(
        pd.DataFrame({key: [1.0, 2.0] for key in ["open", "high", "low", "close", "volume"]})
    )
)


@pytest.fixture(scope="module")
def expected(features: pd.DataFrame) -> dict[str, dict[str, pd.Series]]:
    return {
        symbol: qlib_factors(bars.reset_index(drop=True))
        for symbol, bars in features.groupby("symbol")
    }


@pytest.mark.parametrize("column", SAMPLE)
def test_matches_qlib_definition(features: pd.DataFrame, expected, column: str) -> None:
    for symbol, bars in features.groupby("symbol"):
        want = expected[symbol][column].to_numpy(dtype=float)
        got = bars[column].to_numpy(dtype=float)
        # Qlib leaves a factor undefined where pandas has no value; so do we
        assert np.array_equal(np.isnan(got), np.isnan(want)), (symbol, column)
        ok = ~np.isnan(want)
        np.testing.assert_allclose(
            got[ok], want[ok], rtol=1e-7, atol=1e-9, err_msg=f"{symbol} {column}"
        )


def test_alpha158_is_complete(features: pd.DataFrame, reference_dir: Path) -> None:
    names = pd.read_csv(reference_dir / "qlib_alpha158_features.csv")["name"].str.lower()
    assert len(names) == 158
    assert set(names) <= set(features.columns)


def test_hand_computed_window(features: pd.DataFrame) -> None:
    """Bar 2 of a series: windows are partial, IdxMax is 1-based from the oldest bar."""
    bars = features[features["symbol"] == "RND2"].reset_index(drop=True)
    h, c = bars["high"], bars["close"]
    row = bars.iloc[2]
    assert row["ma5"] == pytest.approx(c[:3].mean() / c[2], rel=1e-12)
    assert row["imax5"] == pytest.approx((int(np.argmax(h[:3])) + 1) / 5)
    assert row["roc5"] != row["roc5"]  # Ref($close, 5) does not exist yet: NaN, not partial
