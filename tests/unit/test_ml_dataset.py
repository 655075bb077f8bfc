"""The model steps' reading of the training set: float32 rows straight from Parquet,
the date-stratified cap on development rows, and per-date ranks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml.dataset import ParquetRows, feature_names, read_columns, read_training_rows
from ml.splits import date_stratified_sample
from ml.training import ZooConfig, round_rows
from ml.zoo import rank_within_dates


def _training_set(n_dates: int = 30, n_names: int = 12, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "symbol": np.tile([f"S{i:02d}" for i in range(n_names)], n_dates),
            "date": pd.bdate_range("2022-01-03", periods=n_dates).repeat(n_names),
        }
    )
    for name in ("f_a", "f_b", "f_c"):
        frame[name] = rng.normal(size=len(frame))
    frame.loc[rng.random(len(frame)) < 0.1, "f_b"] = np.nan
    frame["fwd_ret_5d"] = rng.normal(0, 0.02, len(frame))
    return frame


def test_float32_rows_match_the_pandas_path(tmp_path) -> None:
    frame = _training_set()
    path = tmp_path / "training_set.parquet"
    frame.to_parquet(path, row_group_size=50)
    features = feature_names(path)
    assert features == ["f_a", "f_b", "f_c"]
    rows = np.array([0, 3, 49, 50, 51, 200, len(frame) - 1])
    # batches smaller than the row groups, and rows on both sides of their edges
    read = read_training_rows(path, features, rows=rows, columns=["fwd_ret_5d"], batch_rows=17)
    expected = pd.read_parquet(path).iloc[rows].reset_index(drop=True)
    assert list(read.columns) == ["symbol", "date", *features, "fwd_ret_5d"]
    assert (read[features].dtypes == "float32").all()
    np.testing.assert_array_equal(
        read[features].to_numpy(), expected[features].astype("float32").to_numpy()
    )
    np.testing.assert_array_equal(read["fwd_ret_5d"], expected["fwd_ret_5d"])
    assert read["symbol"].tolist() == expected["symbol"].tolist()
    assert (read["date"].to_numpy() == expected["date"].to_numpy()).all()
    whole = read_training_rows(path, features)
    assert len(whole) == len(frame)
    assert (read_columns(path, ["date"])["date"].to_numpy() == frame["date"].to_numpy()).all()


def test_rows_of_a_few_row_groups_read_only_those(tmp_path, monkeypatch) -> None:
    import pyarrow.parquet as pq

    frame = _training_set()
    path = tmp_path / "training_set.parquet"
    frame.to_parquet(path, row_group_size=50)
    groups_read: list[int] = []
    iter_batches = pq.ParquetFile.iter_batches

    def spy(self, *args, row_groups=None, **kwargs):
        groups_read.extend(row_groups)
        return iter_batches(self, *args, row_groups=row_groups, **kwargs)

    monkeypatch.setattr(pq.ParquetFile, "iter_batches", spy)
    # a block of consecutive rows over the edge of the third and fourth row groups
    rows = np.arange(140, 160)
    read = read_training_rows(path, ["f_a", "f_b"], rows=rows, batch_rows=7)
    assert groups_read == [2, 3]
    np.testing.assert_array_equal(
        read["f_a"].to_numpy(), frame["f_a"].to_numpy()[rows].astype("float32")
    )
    source = ParquetRows.open(path, ["f_a", "f_b"], labels=["fwd_ret_5d"])
    assert list(source.keys.columns) == ["symbol", "date", "fwd_ret_5d"]
    assert len(source.keys) == len(frame)
    shuffled = tmp_path / "shuffled.parquet"
    frame.sample(frac=1, random_state=0).to_parquet(shuffled)
    with pytest.raises(ValueError, match=r"not in \(date, symbol\) order"):
        ParquetRows.open(shuffled, ["f_a"], labels=[])


def test_samples_with_the_same_draws_are_nested_as_the_window_grows() -> None:
    dates = np.repeat(np.arange(60), 40)
    draws = np.random.default_rng(3).random(len(dates))
    previous = None
    for n_dates in (20, 35, 50, 60):
        rows = np.flatnonzero(dates < n_dates)
        sample = rows[date_stratified_sample(dates[rows], 400, seed=0, draws=draws[rows])]
        assert len(sample) <= 400
        if previous is not None:
            # each date of the smaller window keeps a subset of what that window kept
            assert set(sample[dates[sample] <= dates[previous].max()]) <= set(previous)
        previous = sample
    with pytest.raises(ValueError, match="one value per row"):
        date_stratified_sample(dates, 10, seed=0, draws=draws[:5])


def test_the_sample_is_deterministic_and_keeps_every_date_in_proportion() -> None:
    dates = np.repeat(np.arange(40), np.r_[np.full(20, 50), np.full(20, 10)])
    first = date_stratified_sample(dates, 300, seed=7)
    assert np.array_equal(first, date_stratified_sample(dates, 300, seed=7))
    assert not np.array_equal(first, date_stratified_sample(dates, 300, seed=8))
    assert len(first) <= 300 and np.all(np.diff(first) > 0)
    kept = np.bincount(dates[first], minlength=40)
    # every date stays, each with the same share of its rows (rounded down)
    assert (kept[:20] == 12).all() and (kept[20:] == 2).all()
    assert np.array_equal(date_stratified_sample(dates, len(dates), 7), np.arange(len(dates)))


def test_below_the_cap_a_round_reads_every_row_and_above_it_every_date() -> None:
    frame = _training_set(n_dates=60, n_names=20)
    config = ZooConfig(n_folds=1, valid_dates=10, test_frac=0.25)
    whole = round_rows(frame, config)
    assert np.array_equal(whole.rows, np.arange(len(frame)))
    assert whole.n_sampled == whole.n_development
    capped = round_rows(frame, ZooConfig(n_folds=1, valid_dates=10, max_train_rows=300))
    assert capped.n_sampled <= 300 < capped.n_development
    kept = frame.iloc[capped.rows]
    assert kept["date"].nunique() == frame["date"].nunique()
    # the test dates (the last quarter) are read whole
    test = frame["date"] >= frame["date"].unique()[-15]
    assert test[capped.rows].sum() == test.sum()


@pytest.mark.parametrize("shape", [(600,), (600, 4)])
def test_ranks_within_dates_equal_pandas(shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(1)
    values = np.round(rng.normal(size=shape), 1).astype("float32")  # ties
    values[rng.random(shape) < 0.15] = np.nan
    dates = rng.integers(0, 25, shape[0])
    frame = pd.DataFrame(values.reshape(shape[0], -1).astype("float64"))
    expected = (frame.groupby(dates, sort=False).rank(pct=True) - 0.5).fillna(0.0)
    ranked = rank_within_dates(values, dates)
    assert ranked.shape == shape
    np.testing.assert_array_equal(ranked.reshape(shape[0], -1), expected.to_numpy())
