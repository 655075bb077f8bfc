"""Daily IC, rank IC, ICIR and hit rate on constructed cross-sections."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from ml.metrics import daily_ic, ic_summary


def _panel(n_dates: int = 30, n_names: int = 20, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range("2021-01-04", periods=n_dates)
    frame = pd.DataFrame(
        {
            "symbol": np.tile([f"S{i:02d}" for i in range(n_names)], n_dates),
            "date": dates.repeat(n_names),
            "fwd_ret_1d": rng.normal(0.0, 0.02, n_dates * n_names),
        }
    )
    frame["noise"] = rng.normal(size=len(frame))
    return frame


def test_perfect_and_reversed_predictions() -> None:
    frame = _panel()
    frame["prediction"] = 3.0 * frame["fwd_ret_1d"] + 1.0
    for method in ("pearson", "spearman"):
        ic = daily_ic(frame, label_col="fwd_ret_1d", method=method)
        assert len(ic) == 30
        assert np.allclose(ic.to_numpy(), 1.0)
        rev = daily_ic(frame.assign(prediction=-frame["prediction"]), method=method)
        assert np.allclose(rev.to_numpy(), -1.0)
    summary = ic_summary(frame)
    assert summary["ic"] == pytest.approx(1.0)
    assert summary["rank_ic"] == pytest.approx(1.0)
    assert summary["hit_rate"] == pytest.approx(1.0)
    assert summary["n_dates"] == 30


def test_noise_has_ic_near_zero() -> None:
    frame = _panel(n_dates=200, n_names=50, seed=1)
    summary = ic_summary(frame, pred_col="noise")
    # Std error of a mean over 200 dates of ~N(0, 1/sqrt(50)) correlations is ~0.01.
    assert abs(summary["ic"]) < 0.04
    assert abs(summary["rank_ic"]) < 0.04
    assert abs(summary["icir"]) < 0.3
    assert summary["hit_rate"] == pytest.approx(0.5, abs=0.02)


def test_matches_scipy_per_date() -> None:
    frame = _panel(n_dates=5, n_names=12, seed=2)
    frame["prediction"] = frame["fwd_ret_1d"] + frame["noise"] * 0.02
    frame.loc[frame.index[::7], "prediction"] = 0.0  # ties for the rank version
    pearson = daily_ic(frame, method="pearson")
    spearman = daily_ic(frame, method="spearman")
    for date, day in frame.groupby("date"):
        assert pearson[date] == pytest.approx(stats.pearsonr(day.prediction, day.fwd_ret_1d)[0])
        assert spearman[date] == pytest.approx(stats.spearmanr(day.prediction, day.fwd_ret_1d)[0])
    assert pearson.name == "ic" and spearman.name == "rank_ic"
    assert pearson.index.is_monotonic_increasing


def test_spearman_ignores_an_outlier_that_dominates_pearson() -> None:
    date = pd.Timestamp("2022-01-03")
    label = np.arange(1.0, 11.0)
    pred = label.copy()
    pred[0] = 1000.0  # the worst name gets a huge score: one wrong outlier
    frame = pd.DataFrame({"date": date, "prediction": pred, "fwd_ret_1d": label})
    pearson = daily_ic(frame, method="pearson").iloc[0]
    spearman = daily_ic(frame, method="spearman").iloc[0]
    assert pearson < -0.2
    assert spearman == pytest.approx(stats.spearmanr(pred, label)[0])
    assert spearman > 0.4


def test_skips_small_and_constant_cross_sections_and_missing_values() -> None:
    frame = _panel(n_dates=4, n_names=6, seed=3)
    frame["prediction"] = frame["fwd_ret_1d"]
    dates = frame["date"].unique()
    # Date 0: only two names left with a label; date 1: constant prediction.
    frame.loc[(frame.date == dates[0]) & (frame.symbol > "S01"), "fwd_ret_1d"] = np.nan
    frame.loc[frame.date == dates[1], "prediction"] = 0.1
    # Date 2: one missing prediction still leaves 5 names.
    frame.loc[(frame.date == dates[2]) & (frame.symbol == "S00"), "prediction"] = np.nan
    ic = daily_ic(frame)
    assert list(ic.index) == [pd.Timestamp(dates[2]), pd.Timestamp(dates[3])]
    assert np.allclose(ic.to_numpy(), 1.0)
    assert ic_summary(frame)["n_dates"] == 2


def test_hit_rate_uses_demeaned_signs() -> None:
    date = pd.Timestamp("2022-01-03")
    # Every label is positive (an up day) and every prediction positive, but relative
    # to the day's mean the model gets names 1 and 4 right and 2 and 3 wrong.
    frame = pd.DataFrame(
        {
            "date": date,
            "fwd_ret_1d": [0.01, 0.02, 0.03, 0.04],
            "prediction": [0.1, 0.5, 0.2, 0.6],
        }
    )
    assert ic_summary(frame)["hit_rate"] == pytest.approx(0.5)
    frame["prediction"] = [0.1, 0.2, 0.3, 0.4]
    assert ic_summary(frame)["hit_rate"] == pytest.approx(1.0)


def test_icir_is_mean_over_std_not_annualized() -> None:
    frame = _panel(n_dates=40, n_names=15, seed=4)
    frame["prediction"] = frame["fwd_ret_1d"] + frame["noise"] * 0.03
    summary = ic_summary(frame)
    ic = daily_ic(frame)
    assert summary["icir"] == pytest.approx(ic.mean() / ic.std(ddof=1))
    assert summary["ic"] == pytest.approx(ic.mean())


def test_oracle_ic() -> None:
    frame = _panel(seed=5)
    frame["prediction"] = frame["noise"]
    frame["oracle"] = frame["fwd_ret_1d"] * 2
    assert ic_summary(frame, oracle_col="oracle")["oracle_ic"] == pytest.approx(1.0)
    assert math.isnan(ic_summary(frame)["oracle_ic"])
    assert math.isnan(ic_summary(frame, oracle_col="not_there")["oracle_ic"])


def test_empty_and_degenerate_inputs() -> None:
    empty = pd.DataFrame({"date": pd.to_datetime([]), "prediction": [], "fwd_ret_1d": []})
    summary = ic_summary(empty)
    assert summary["n_dates"] == 0
    assert all(math.isnan(summary[k]) for k in ("ic", "rank_ic", "icir", "hit_rate"))
    assert all(isinstance(v, float) for v in summary.values())
    with pytest.raises(KeyError, match="prediction"):
        daily_ic(empty.drop(columns="prediction"))
    with pytest.raises(ValueError, match="method"):
        daily_ic(empty, method="kendall")  # type: ignore[arg-type]
