"""Training sets in date batches: the ranges, and the atomic append of the batches."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from feature_repo.files import feature_service_of, write_feature_batches
from feature_repo.training import date_batches


def _counts(*rows: int) -> pd.Series:
    return pd.Series(rows, index=pd.bdate_range("2024-01-01", periods=len(rows)))


def test_date_batches_cover_every_date_once_without_splitting_one() -> None:
    counts = _counts(3, 3, 3, 10, 1, 1)
    ranges = date_batches(counts, max_rows=5)
    days = counts.index
    assert ranges == [(days[0], days[1]), (days[2], days[3]), (days[4], days[5])]


def test_date_batches_of_a_small_set_is_one_range() -> None:
    counts = _counts(3, 3)
    assert date_batches(counts, max_rows=100) == [(counts.index[0], counts.index[-1])]


def test_date_batches_refuse_a_non_positive_size() -> None:
    with pytest.raises(ValueError, match="max_rows"):
        date_batches(_counts(1), max_rows=0)


def _frame(first: int, n: int) -> pd.DataFrame:
    return pd.DataFrame({"symbol": [f"S{i}" for i in range(first, first + n)], "x": 1.0})


def test_batches_append_to_one_file_tagged_with_the_service(tmp_path: Path) -> None:
    path = tmp_path / "set.parquet"
    written = write_feature_batches([_frame(0, 3), _frame(3, 2)], path, "svc_a")
    assert written.rows == 5
    assert list(pd.read_parquet(path)["symbol"]) == ["S0", "S1", "S2", "S3", "S4"]
    assert feature_service_of(path) == "svc_a"


def test_a_failing_batch_leaves_the_stored_file_and_no_temp_file(tmp_path: Path) -> None:
    path = tmp_path / "set.parquet"
    before = write_feature_batches([_frame(0, 2)], path, "svc_a")

    def failing():
        yield _frame(0, 3)
        raise RuntimeError("join failed")

    with pytest.raises(RuntimeError, match="join failed"):
        write_feature_batches(failing(), path, "svc_b")
    assert feature_service_of(path) == "svc_a"
    assert len(pd.read_parquet(path)) == before.rows
    assert [p.name for p in tmp_path.iterdir()] == ["set.parquet"]
