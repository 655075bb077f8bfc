"""The recursion behind TA-Lib's EMA and Wilder averages, alone and as a DuckDB function."""

from __future__ import annotations

import duckdb
import numpy as np
import pytest

from indicators.duckdb_plugin import register_functions
from indicators.recursive import recursive_average

talib = pytest.importorskip("talib")


def _average(
    series: list[np.ndarray],
    *,
    period: int,
    alpha: float,
    seed_at: int | None = None,
    running_sum: bool = False,
    first_position: list[int] | None = None,
    anchor: list[tuple[float, float]] | None = None,
) -> list[np.ndarray]:
    """recursive_average over several series with the same settings, split back per series."""
    n = len(series)
    lengths = np.array([len(s) for s in series])
    anchor = anchor or [(np.nan, np.nan)] * n
    flat = recursive_average(
        np.concatenate(series),
        lengths,
        np.array(first_position or [0] * n, dtype=float),
        alpha=np.full(n, alpha),
        seed_at=np.full(n, float(period - 1 if seed_at is None else seed_at)),
        seed_rows=np.full(n, period - 1 if running_sum else period),
        running_sum=np.full(n, running_sum),
        anchor_position=np.array([a[0] for a in anchor]),
        anchor_value=np.array([a[1] for a in anchor]),
    )
    return np.split(flat, np.cumsum(lengths)[:-1])


def test_ema_and_wilder_equal_talib_on_series_of_different_lengths() -> None:
    rng = np.random.default_rng(7)
    series = [100 + np.cumsum(rng.normal(0, 1, n)) for n in (400, 30, 11, 257)]
    for period in (12, 26):
        for expected, got in zip(
            [talib.EMA(s, period) for s in series],
            _average(series, period=period, alpha=2 / (period + 1)),
            strict=True,
        ):
            np.testing.assert_allclose(got, expected, rtol=1e-12, equal_nan=True)


def test_wilder_smoothing_equals_its_recursion() -> None:
    """Wilder's smoothing (RSI, ATR, ADX): the mean of the first n values, then
    e = e + (x - e) / n, as TA-Lib writes it; a series shorter than n never starts."""
    rng = np.random.default_rng(11)
    series = [np.abs(rng.normal(0, 1, n)) for n in (60, 13)]
    long, short = _average(series, period=14, alpha=1 / 14)
    assert np.isnan(long[:13]).all()
    expected = series[0][:14].mean()
    assert long[13] == pytest.approx(expected, rel=1e-15)
    for p in range(14, 60):
        expected = expected + (series[0][p] - expected) / 14
        assert long[p] == pytest.approx(expected, rel=1e-13)
    assert np.isnan(short).all()


def test_running_sum_is_seeded_by_the_sum_of_n_minus_1_values() -> None:
    x = np.arange(1.0, 31.0)
    (got,) = _average([x], period=14, alpha=1 / 14, seed_at=12, running_sum=True)
    assert np.isnan(got[:12]).all()
    assert got[12] == x[:13].sum()
    expected = got[12]
    for p in range(13, 30):
        expected = expected - expected / 14 + x[p]
        assert got[p] == pytest.approx(expected, rel=1e-14)


def test_an_anchor_continues_the_recursion_exactly() -> None:
    """An incremental run sees only the bars after a warm-up start and the value stored
    on the anchor bar; its averages equal those of the whole history."""
    rng = np.random.default_rng(3)
    x = 50 + np.cumsum(rng.normal(0, 1, 300))
    (whole,) = _average([x], period=26, alpha=2 / 27)
    anchor_at, list_start = 220, 180
    (tail,) = _average(
        [x[list_start:]],
        period=26,
        alpha=2 / 27,
        first_position=[list_start],
        anchor=[(anchor_at, whole[anchor_at])],
    )
    assert np.isnan(tail[: anchor_at - list_start]).all()
    np.testing.assert_allclose(tail[anchor_at - list_start :], whole[anchor_at:], rtol=1e-13)


def test_without_a_stored_value_the_average_seeds_where_it_would() -> None:
    """A symbol whose stored average is still null (too young at the anchor) seeds at its
    usual position, from the values in the list."""
    x = np.linspace(1.0, 2.0, 40)
    (whole,) = _average([x], period=26, alpha=2 / 27)
    (young,) = _average([x], period=26, alpha=2 / 27, anchor=[(20.0, np.nan)])
    np.testing.assert_array_equal(young, whole)


def test_sql_function_on_lists_with_nulls() -> None:
    connection = duckdb.connect()
    register_functions(connection)
    rows = connection.execute(
        """
        select
            symbol,
            ta_recursive_average(closes, 0, 0.5, 1, 2, false, null, null) as averages
        from (values
            ('A', [1.0, 3.0, 5.0, 7.0]),
            ('B', [2.0]),
            ('C', null::double[])
        ) as series(symbol, closes)
        order by symbol
        """
    ).fetchall()
    assert rows == [
        # seed: mean(1, 3) = 2 at position 1, then 0.5 * x + 0.5 * previous
        ("A", [None, 2.0, 3.5, 5.25]),
        ("B", [None]),
        ("C", None),
    ]
