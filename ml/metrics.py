"""Cross-sectional signal metrics: daily IC, rank IC, ICIR and hit rate.

A ranking model is judged on how well it orders names *within* a date, not on how well
it predicts the market's overall level, so every metric here works date by date on
the cross-section and then aggregates over dates. These numbers fill the
``model_metrics`` table (ic, rank_ic, icir, hit_rate, oracle_ic); the definitions follow
Qlib's so results can be compared with published baselines.

The computations are vectorised with ``groupby`` sums rather than a Python loop per
date, so scoring a few thousand dates stays in the milliseconds. Only numpy and pandas
are imported: this module is loaded by the asset definitions and must stay cheap.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

__all__ = ["MIN_NAMES_PER_DATE", "daily_ic", "hac_t_stat", "ic_summary"]

MIN_NAMES_PER_DATE = 3
"""A date needs at least this many scored names to have a meaningful correlation."""


def _require_columns(frame: pd.DataFrame, columns: list[str]) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise KeyError(f"columns {missing} not in frame (has {list(frame.columns)})")


def _valid_cross_sections(
    frame: pd.DataFrame, pred_col: str, label_col: str, date_col: str
) -> pd.DataFrame:
    """Rows usable for scoring: both values finite, on dates that have enough names and
    a non-constant prediction and label.

    Constant columns are detected with max == min (exact) rather than a variance
    threshold, because demeaning identical floats can leave rounding noise that would
    otherwise produce a meaningless correlation.
    """
    _require_columns(frame, [date_col, pred_col, label_col])
    data = pd.DataFrame(
        {
            "date": frame[date_col].to_numpy(),
            "x": pd.to_numeric(frame[pred_col], errors="raise").to_numpy(dtype="float64"),
            "y": pd.to_numeric(frame[label_col], errors="raise").to_numpy(dtype="float64"),
        }
    )
    data = data[np.isfinite(data["x"]) & np.isfinite(data["y"])]
    grouped = data.groupby("date", sort=True)
    keep = (
        (grouped["x"].transform("size") >= MIN_NAMES_PER_DATE)
        & (grouped["x"].transform("max") > grouped["x"].transform("min"))
        & (grouped["y"].transform("max") > grouped["y"].transform("min"))
    )
    return data[keep]


def _pearson_by_date(data: pd.DataFrame, x: str, y: str) -> pd.Series:
    grouped = data.groupby("date", sort=True)
    dx = data[x] - grouped[x].transform("mean")
    dy = data[y] - grouped[y].transform("mean")
    sums = pd.DataFrame({"xy": dx * dy, "xx": dx * dx, "yy": dy * dy, "date": data["date"]})
    agg = sums.groupby("date", sort=True).sum()
    return agg["xy"] / np.sqrt(agg["xx"] * agg["yy"])


def daily_ic(
    frame: pd.DataFrame,
    pred_col: str = "prediction",
    label_col: str = "fwd_ret_1d",
    method: Literal["pearson", "spearman"] = "pearson",
    date_col: str = "date",
) -> pd.Series:
    """Correlation between prediction and label across names, one value per date.

    ``spearman`` ranks within each date (ties get the average rank, as in
    ``scipy.stats.spearmanr``) and takes the Pearson correlation of the ranks, so it is
    insensitive to outliers in either column. Rows with a missing prediction or label
    are ignored; dates left with fewer than ``MIN_NAMES_PER_DATE`` names, or with a
    constant prediction or label, are skipped (their correlation is undefined).

    Returns a float Series indexed by date (sorted), named ``ic`` or ``rank_ic``.
    """
    if method not in ("pearson", "spearman"):
        raise ValueError(f"method must be 'pearson' or 'spearman', got {method!r}")
    data = _valid_cross_sections(frame, pred_col, label_col, date_col)
    if method == "spearman":
        grouped = data.groupby("date", sort=False)
        data = data.assign(
            x=grouped["x"].rank(method="average"), y=grouped["y"].rank(method="average")
        )
    ic = _pearson_by_date(data, "x", "y").clip(-1.0, 1.0)
    ic.index = pd.DatetimeIndex(ic.index, name=date_col) if len(ic) else ic.index
    ic.name = "ic" if method == "pearson" else "rank_ic"
    return ic.astype("float64")


def _hit_rate(frame: pd.DataFrame, pred_col: str, label_col: str, date_col: str) -> float:
    """Share of rows whose demeaned prediction has the sign of the demeaned label.

    Demeaning per date removes the market move, so a hit means the model called the
    name's direction *relative to its peers*. Only rows on dates that are scored for IC
    count, and rows sitting exactly on the date mean (sign 0) carry no call and are
    left out.
    """
    data = _valid_cross_sections(frame, pred_col, label_col, date_col)
    grouped = data.groupby("date", sort=False)
    sx = np.sign(data["x"] - grouped["x"].transform("mean"))
    sy = np.sign(data["y"] - grouped["y"].transform("mean"))
    called = (sx != 0) & (sy != 0)
    if not called.any():
        return float("nan")
    return float((sx[called] == sy[called]).mean())


def _mean(series: pd.Series) -> float:
    return float(series.mean()) if len(series) else float("nan")


def ic_summary(
    frame: pd.DataFrame,
    pred_col: str = "prediction",
    label_col: str = "fwd_ret_1d",
    oracle_col: str | None = None,
    date_col: str = "date",
) -> dict[str, float]:
    """The ``model_metrics`` numbers for one set of out-of-sample predictions.

    Keys:
    - ``ic``: mean daily Pearson IC;
    - ``rank_ic``: mean daily Spearman IC;
    - ``icir``: mean daily IC / std (ddof=1) of daily IC, not annualised (as Qlib
      reports it); NaN with fewer than two dates or a constant IC;
    - ``hit_rate``: see ``_hit_rate``;
    - ``oracle_ic``: mean daily Pearson IC of ``oracle_col`` against the label: the
      label's conditional expectation given the simulator's state, the best any model
      does on average (not a bound on one sample); NaN when no oracle column is given
      or the frame does not have it;
    - ``n_dates``: number of dates with a defined daily IC (a float, like the rest).

    Every value is a plain float, so the dict can go straight to MLflow or DuckDB.
    """
    ic = daily_ic(frame, pred_col, label_col, "pearson", date_col)
    rank_ic = daily_ic(frame, pred_col, label_col, "spearman", date_col)
    std = float(ic.std(ddof=1)) if len(ic) >= 2 else float("nan")
    icir = _mean(ic) / std if np.isfinite(std) and std > 0 else float("nan")
    oracle_ic = float("nan")
    if oracle_col is not None and oracle_col in frame.columns:
        oracle_ic = _mean(daily_ic(frame, oracle_col, label_col, "pearson", date_col))
    return {
        "ic": _mean(ic),
        "rank_ic": _mean(rank_ic),
        "icir": float(icir),
        "hit_rate": _hit_rate(frame, pred_col, label_col, date_col),
        "oracle_ic": oracle_ic,
        "n_dates": float(len(ic)),
    }


def hac_t_stat(values: pd.Series | np.ndarray, lags: int | None = None) -> float:
    """Newey-West (HAC) t-statistic of the mean of a daily series such as the daily IC.

    Overlapping multi-day labels make consecutive daily ICs strongly correlated (a
    5-day label shares four of its days with the next one), so the plain t-statistic
    overstates significance. The long-run variance is the Bartlett-weighted sum of
    autocovariances up to ``lags`` (default: Newey and West's rule
    ``floor(4 (T/100)^(2/9))``); pass at least the label horizon minus one for
    overlapping labels. NaN values are dropped; NaN with fewer than three values or a
    zero variance.
    """
    x = np.asarray(values, dtype="float64")
    x = x[np.isfinite(x)]
    n = len(x)
    if n < 3:
        return float("nan")
    if lags is None:
        lags = int(np.floor(4 * (n / 100) ** (2 / 9)))
    lags = max(0, min(int(lags), n - 1))
    centred = x - x.mean()
    long_run = centred @ centred / n
    for lag in range(1, lags + 1):
        weight = 1 - lag / (lags + 1)
        long_run += 2 * weight * (centred[lag:] @ centred[:-lag]) / n
    if long_run <= 0:
        return float("nan")
    return float(x.mean() / np.sqrt(long_run / n))
