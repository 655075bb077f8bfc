"""Purged splits: label end dates from the data, holdout, walk-forward and K-fold."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from ml.splits import holdout_split, label_end_dates, purged_kfold, walk_forward_folds

DATES = pd.bdate_range("2021-01-04", periods=120)


def _bars_with_gaps() -> pd.DataFrame:
    """Three symbols; B misses ten bars (a halt), C lists late: the rows of fct_labels."""
    rows = []
    for symbol in ("A", "B", "C"):
        dates = DATES
        if symbol == "B":
            dates = dates[(np.arange(len(DATES)) < 55) | (np.arange(len(DATES)) >= 65)]
        if symbol == "C":
            dates = dates[30:]
        rows.append(pd.DataFrame({"symbol": symbol, "date": dates}))
    frame = pd.concat(rows, ignore_index=True)
    rng = np.random.default_rng(0)
    frame["close"] = 100 * np.exp(rng.normal(0, 0.01, len(frame)).cumsum())
    # fct_labels: close(t+6) / close(t+1) - 1 by row offset within the symbol
    grouped = frame.groupby("symbol")["close"]
    frame["fwd_ret_5d"] = grouped.shift(-6) / grouped.shift(-1) - 1
    return frame.sample(frac=1.0, random_state=1)  # any row order


def _label_span(frame: pd.DataFrame, positions: np.ndarray) -> pd.DataFrame:
    """Each row's label as the [first, last] date of the bars it uses (t+1 .. t+6)."""
    ordered = frame.sort_values(["symbol", "date"])
    first = ordered.groupby("symbol")["date"].shift(-1)
    last = ordered.groupby("symbol")["date"].shift(-6)
    spans = pd.DataFrame({"start": first, "end": last}).reindex(frame.index)
    return spans.iloc[positions]


def test_label_end_is_the_bar_six_rows_later_in_the_symbols_own_series() -> None:
    frame = _bars_with_gaps()
    ends = label_end_dates(frame, horizon=5)
    assert ends.index.equals(frame.index)
    # the label is missing exactly where there is no end
    assert (ends.isna() == frame["fwd_ret_5d"].isna()).all()
    b = frame[frame["symbol"] == "B"].sort_values("date")
    b_end = ends.loc[b.index]
    # 54 is B's last bar before the halt: six rows later is six market dates plus ten
    before_halt = b.index[b["date"] == DATES[54]][0]
    assert b_end.loc[before_halt] == DATES[54 + 6 + 10]
    a = frame[(frame["symbol"] == "A") & (frame["date"] == DATES[54])].index[0]
    assert ends.loc[a] == DATES[60]
    with pytest.raises(ValueError, match="duplicate"):
        label_end_dates(pd.concat([frame, frame.head(1)]), horizon=5)


@pytest.mark.parametrize("scheme", ["expanding", "rolling"])
def test_walk_forward_training_labels_never_reach_validation(scheme: str) -> None:
    frame = _bars_with_gaps()
    ends = label_end_dates(frame, horizon=5)
    folds = walk_forward_folds(
        frame["date"], ends, n_folds=3, valid_size=15, scheme=scheme, train_size=40
    )
    assert len(folds) == 3
    for fold in folds:
        valid_dates = frame["date"].iloc[fold.valid]
        assert valid_dates.min() == fold.valid_start and valid_dates.max() <= fold.valid_end
        spans = _label_span(frame, fold.train)
        # no training label uses a price of the validation period (or later)
        assert (spans["end"] < fold.valid_start).all()
        assert frame["fwd_ret_5d"].iloc[fold.train].notna().all()
        assert frame["fwd_ret_5d"].iloc[fold.valid].notna().all()
        if scheme == "rolling":
            assert frame["date"].iloc[fold.train].nunique() <= 40
    # consecutive blocks at the end, expanding training
    assert folds[0].valid_end < folds[1].valid_start
    if scheme == "expanding":
        assert len(folds[0].train) < len(folds[1].train) < len(folds[2].train)


def test_a_gap_counted_in_dates_would_leak_where_the_data_purge_does_not() -> None:
    frame = _bars_with_gaps()
    ends = label_end_dates(frame, horizon=5)
    # validation starts right after B's halt: B's last rows before it end inside
    (fold,) = walk_forward_folds(frame["date"], ends, n_folds=1, valid_size=len(DATES) - 57)
    start = fold.valid_start
    naive_train = np.flatnonzero(frame["date"] < DATES[DATES.get_loc(start) - 6])
    naive_ends = _label_span(frame, naive_train)["end"]
    assert (naive_ends >= start).any()  # a fixed six-date gap leaks B's labels
    assert (_label_span(frame, fold.train)["end"] < start).all()


def test_purged_kfold_purges_both_sides_and_embargoes() -> None:
    frame = _bars_with_gaps()
    ends = label_end_dates(frame, horizon=5)
    folds = purged_kfold(frame["date"], ends, n_splits=4, embargo=3)
    assert len(folds) == 4
    for fold in folds:
        valid_spans = _label_span(frame, fold.valid)
        valid_last = valid_spans["end"].max()
        train = _label_span(frame, fold.train).assign(date=frame["date"].iloc[fold.train])
        before = train["date"] < fold.valid_start
        assert (train.loc[before, "end"] < fold.valid_start).all()
        after = train.loc[~before, "date"]
        if len(after):
            # starts after the last validation label, plus three embargoed dates
            assert after.min() > valid_last
            assert DATES.get_loc(after.min()) - DATES.get_loc(valid_last) > 3
    with pytest.raises(ValueError):
        purged_kfold(frame["date"], ends, n_splits=1)


def test_holdout_purges_development_and_keeps_unlabelled_test_rows() -> None:
    frame = _bars_with_gaps()
    ends = label_end_dates(frame, horizon=5)
    holdout = holdout_split(frame["date"], ends, test_size=20)
    assert holdout.test_start == DATES[-20] and holdout.test_end == DATES[-1]
    assert (_label_span(frame, holdout.development)["end"] < holdout.test_start).all()
    test = frame.iloc[holdout.test]
    assert test["fwd_ret_5d"].isna().any()  # the newest dates: tomorrow's signal
    assert set(holdout.development).isdisjoint(holdout.test)
    with pytest.raises(ValueError):
        holdout_split(frame["date"], ends, test_size=len(DATES))


def test_bad_fold_arguments_raise() -> None:
    frame = _bars_with_gaps()
    ends = label_end_dates(frame, horizon=5)
    with pytest.raises(ValueError, match="no earlier date"):
        walk_forward_folds(frame["date"], ends, n_folds=10, valid_size=12)
    with pytest.raises(ValueError, match="rolling"):
        walk_forward_folds(frame["date"], ends, n_folds=2, valid_size=10, scheme="rolling")
    with pytest.raises(ValueError, match="scheme"):
        walk_forward_folds(frame["date"], ends, n_folds=2, valid_size=10, scheme="sideways")


def test_ml_package_imports_no_orchestrator_and_no_heavy_library() -> None:
    code = (
        "import sys, ml.splits, ml.metrics, ml.models, ml.tuning, ml.tracking, ml.zoo, "
        "ml.training, ml.gate, ml.monitoring, ml.evaluation\n"
        "heavy = {'dagster', 'lightgbm', 'xgboost', 'mlflow', 'optuna', 'matplotlib'}\n"
        "print(sorted(heavy & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
