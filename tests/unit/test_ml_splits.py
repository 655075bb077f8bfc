"""Chronological splits: order, purge gaps, sizes and errors."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest

from ml.splits import ChronologicalSplit, chronological_split, purge_gap, split_frame

DATES = pd.bdate_range("2020-01-01", periods=100)


def _positions(split: ChronologicalSplit) -> dict[str, list[int]]:
    where = {d: i for i, d in enumerate(DATES)}
    return {
        part: [where[d] for d in getattr(split, f"{part}_dates")]
        for part in ("train", "valid", "test")
    }


def test_purge_gap_is_horizon_plus_lag() -> None:
    assert purge_gap(1) == 2
    assert purge_gap(5) == 6
    assert purge_gap(5, execution_lag=0) == 5
    with pytest.raises(ValueError):
        purge_gap(0)


def test_parts_are_ordered_sorted_and_disjoint() -> None:
    # Shuffled input with duplicates, as the date column of a long frame would be.
    shuffled = pd.Series(list(DATES) * 3).sample(frac=1.0, random_state=0)
    split = chronological_split(shuffled, gap=purge_gap(5))
    for part in (split.train_dates, split.valid_dates, split.test_dates):
        assert isinstance(part, pd.DatetimeIndex)
        assert part.is_monotonic_increasing and part.is_unique and len(part) > 0
    assert split.train_dates[-1] < split.valid_dates[0]
    assert split.valid_dates[-1] < split.test_dates[0]
    assert split.test_dates[-1] == DATES[-1]  # the test part is the most recent
    assert split.train_dates[0] == DATES[0]


def test_gap_dates_are_dropped_between_parts() -> None:
    gap = purge_gap(5)
    pos = _positions(chronological_split(DATES, gap=gap))
    assert pos["valid"][0] - pos["train"][-1] - 1 == gap
    assert pos["test"][0] - pos["valid"][-1] - 1 == gap
    assert sum(len(v) for v in pos.values()) == len(DATES) - 2 * gap
    # A 5-day label at the last train date uses bars up to t + 5 + 1: all before valid.
    assert pos["train"][-1] + 5 + 1 < pos["valid"][0]
    assert pos["valid"][-1] + 5 + 1 < pos["test"][0]


def test_sizes_follow_fractions_of_usable_dates() -> None:
    split = chronological_split(DATES, valid_frac=0.2, test_frac=0.25, gap=2)
    usable = len(DATES) - 4
    assert len(split.test_dates) == round(usable * 0.25)
    assert len(split.valid_dates) == round(usable * 0.2)
    assert len(split.train_dates) == usable - len(split.test_dates) - len(split.valid_dates)


def test_zero_valid_fraction_gives_train_test_only() -> None:
    split = chronological_split(DATES, valid_frac=0.0, test_frac=0.3, gap=3)
    assert len(split.valid_dates) == 0
    pos = _positions(split)
    assert pos["test"][0] - pos["train"][-1] - 1 == 3
    assert split.describe()["valid_start"] == ""


def test_splits_compare_by_dates_and_validate_order() -> None:
    first = chronological_split(DATES, gap=3)
    assert first == chronological_split(list(reversed(DATES)), gap=3)
    assert first != chronological_split(DATES, gap=4)
    assert len({first, chronological_split(DATES, gap=3)}) == 1
    with pytest.raises(ValueError, match="after the earlier parts"):
        ChronologicalSplit(DATES[10:20], DATES[:5], DATES[30:])


def test_describe_gives_iso_bounds() -> None:
    split = chronological_split(DATES, gap=2)
    info = split.describe()
    assert set(info) == {f"{p}_{e}" for p in ("train", "valid", "test") for e in ("start", "end")}
    assert info["train_start"] == "2020-01-01"
    assert info["test_end"] == DATES[-1].date().isoformat()
    assert info["train_end"] < info["valid_start"] <= info["valid_end"] < info["test_start"]


def test_split_frame_selects_rows_by_date() -> None:
    frame = pd.DataFrame({"symbol": ["A", "B"] * len(DATES), "date": DATES.repeat(2), "x": 0.0})
    split = chronological_split(frame["date"], gap=2)
    train, valid, test = split_frame(frame, split)
    assert len(train) == 2 * len(split.train_dates)
    assert set(valid["date"]) == set(split.valid_dates)
    assert len(train) + len(valid) + len(test) == len(frame) - 2 * 2 * 2


def test_too_few_dates_raises_clear_error() -> None:
    with pytest.raises(ValueError, match="too few dates"):
        chronological_split(DATES[:14], gap=6)  # 14 - 12 = 2 usable dates for 3 parts
    with pytest.raises(ValueError, match="too few dates"):
        chronological_split([], gap=0)
    # Exactly enough: one date per part.
    split = chronological_split(DATES[:15], gap=6)
    assert (len(split.train_dates), len(split.valid_dates), len(split.test_dates)) == (1, 1, 1)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"valid_frac": 0.5, "test_frac": 0.5, "gap": 1}, "must be < 1"),
        ({"valid_frac": -0.1, "gap": 1}, r"\[0, 1\)"),
        ({"gap": -1}, "non-negative"),
        ({"gap": 1.5}, "non-negative int"),
    ],
)
def test_bad_arguments_raise(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        chronological_split(DATES, **kwargs)


def test_missing_dates_raise() -> None:
    with pytest.raises(ValueError, match="NaT"):
        chronological_split([*DATES[:50], pd.NaT], gap=1)


def test_ml_package_imports_no_orchestrator_and_no_heavy_library() -> None:
    # Domain code must not import dagster, and importing any ml module must stay cheap:
    # mlflow, lightgbm, xgboost and optuna are imported inside the functions using them.
    code = (
        "import sys\n"
        "import ml.splits, ml.metrics, ml.models, ml.tuning, ml.tracking\n"
        "heavy = {'dagster', 'mlflow', 'lightgbm', 'xgboost', 'optuna'}\n"
        "print(sorted(heavy & {m.split('.')[0] for m in sys.modules}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"
