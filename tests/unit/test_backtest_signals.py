"""Unit tests for backtests.signals: predictions (long) -> target weights (wide)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from backtests.signals import top_k_weights


def _predictions(rows: list[tuple[str, str, float]], col: str = "prediction") -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["symbol", "date", col])
    frame["date"] = pd.to_datetime(frame["date"])
    return frame


def test_top_k_shape_sums_and_choice() -> None:
    rng = np.random.default_rng(7)
    dates = pd.bdate_range("2024-01-01", periods=4)
    symbols = ["AAA", "BBB", "CCC", "DDD", "EEE"]
    preds = pd.DataFrame(
        [(s, d, rng.normal()) for d in dates for s in symbols],
        columns=["symbol", "date", "prediction"],
    )

    weights = top_k_weights(preds, k=2)

    assert weights.shape == (4, 5)
    assert list(weights.columns) == symbols
    assert weights.index.equals(pd.DatetimeIndex(dates, name="date"))
    np.testing.assert_allclose(weights.sum(axis=1), 1.0)
    assert ((weights == 0.0) | (weights == 0.5)).all().all()
    assert (weights.gt(0).sum(axis=1) == 2).all()
    for date, day in preds.groupby("date"):
        best = set(day.nlargest(2, "prediction")["symbol"])
        assert set(weights.columns[weights.loc[date] > 0]) == best


def test_fewer_symbols_than_k_are_equal_weighted_and_empty_dates_dropped() -> None:
    preds = _predictions(
        [
            ("A", "2024-01-02", 0.3),
            ("B", "2024-01-02", np.nan),
            ("C", "2024-01-02", 0.1),
            ("A", "2024-01-03", np.nan),
            ("B", "2024-01-03", np.nan),
            ("C", "2024-01-03", np.nan),
            ("A", "2024-01-04", 0.2),
            ("B", "2024-01-04", 0.5),
            ("C", "2024-01-04", -0.1),
        ]
    )

    weights = top_k_weights(preds, k=3)

    # 2024-01-03 has no prediction at all: no row, i.e. "no new decision".
    assert list(weights.index) == list(pd.to_datetime(["2024-01-02", "2024-01-04"]))
    assert weights.loc["2024-01-02"].to_dict() == {"A": 0.5, "B": 0.0, "C": 0.5}
    np.testing.assert_allclose(weights.loc["2024-01-04"].to_numpy(), [1 / 3, 1 / 3, 1 / 3])


def test_ties_are_broken_by_symbol_regardless_of_row_order() -> None:
    rows = [
        ("ZZZ", "2024-01-02", 1.0),
        ("MMM", "2024-01-02", 1.0),
        ("AAA", "2024-01-02", 1.0),
        ("BBB", "2024-01-02", 0.5),
    ]
    preds = _predictions(rows)
    shuffled = preds.sample(frac=1.0, random_state=3).reset_index(drop=True)

    first = top_k_weights(preds, k=2)
    second = top_k_weights(shuffled, k=2)

    pd.testing.assert_frame_equal(first, second)
    assert first.loc["2024-01-02"].to_dict() == {"AAA": 0.5, "BBB": 0.0, "MMM": 0.5, "ZZZ": 0.0}


def test_custom_prediction_column() -> None:
    preds = _predictions([("A", "2024-01-02", 1.0), ("B", "2024-01-02", 2.0)], col="score")
    weights = top_k_weights(preds, k=1, prediction_col="score")
    assert weights.loc["2024-01-02"].to_dict() == {"A": 0.0, "B": 1.0}


@pytest.mark.parametrize("k", [0, -1, 1.5, True])
def test_rejects_bad_k(k: object) -> None:
    preds = _predictions([("A", "2024-01-02", 1.0)])
    with pytest.raises(ValueError, match="k must be"):
        top_k_weights(preds, k=k)  # type: ignore[arg-type]


def test_rejects_duplicates_and_missing_columns() -> None:
    dup = _predictions([("A", "2024-01-02", 1.0), ("A", "2024-01-02", 2.0)])
    with pytest.raises(ValueError, match="more than one row"):
        top_k_weights(dup, k=1)
    with pytest.raises(ValueError, match="missing column"):
        top_k_weights(dup.drop(columns="prediction"), k=1)
