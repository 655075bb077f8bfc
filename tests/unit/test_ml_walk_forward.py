"""Walk-forward predictions on a small panel with a planted signal: every date after the
burn-in predicted once, by models whose training labels end before their block."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml.dataset import FrameRows, ParquetRows
from ml.metrics import daily_ic
from ml.splits import label_end_dates
from ml.walk_forward import (
    WalkForwardConfig,
    block_rank_ic,
    walk_forward_blocks,
    walk_forward_predictions,
)

FEATURES = ["f_signal", "f_noise", "f_volatility"]
HORIZON = 5
CONFIG = WalkForwardConfig(step=50, min_train_dates=200)
PARAMS = {
    "lightgbm": {
        "objective": "regression",
        "learning_rate": 0.1,
        "num_leaves": 4,
        "min_data_in_leaf": 50,
        "max_bin": 31,
        "n_estimators": 40,
    },
    "xgboost": {
        "objective": "reg:squarederror",
        "tree_method": "hist",
        "eta": 0.1,
        "max_depth": 2,
        "min_child_weight": 50.0,
        "max_bin": 31,
        "n_estimators": 40,
    },
}


def _panel(n_dates: int = 400, n_names: int = 6) -> pd.DataFrame:
    rng = np.random.default_rng(11)
    frame = pd.DataFrame(
        {
            "symbol": np.tile([f"S{i}" for i in range(n_names)], n_dates),
            "date": pd.bdate_range("2021-01-04", periods=n_dates).repeat(n_names),
        }
    )
    n = len(frame)
    for name in FEATURES:
        frame[name] = rng.normal(size=n)
    expected = 0.01 * frame["f_signal"] * np.where(frame["f_volatility"] > 0, 0.5, 1.0)
    frame["oracle"] = expected
    label = expected + rng.normal(0.0, 0.01, n)
    # the newest rows of each symbol have no label yet (their prices are in the future)
    label[frame["date"] > frame["date"].unique()[-HORIZON - 2]] = np.nan
    frame["fwd_ret_5d"] = label
    frame["fwd_ret_5d_rank"] = frame.groupby("date")["fwd_ret_5d"].rank(pct=True)
    # a halt: S0 misses 10 bars before the second block, so its last labels before the
    # halt end 10 market dates later than a count of dates says
    halt = frame["date"].isin(frame["date"].unique()[235:245]) & (frame["symbol"] == "S0")
    return frame[~halt].reset_index(drop=True)


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    return _panel()


@pytest.fixture(scope="module")
def run(panel) -> tuple[pd.DataFrame, list[str]]:
    lines: list[str] = []
    out = walk_forward_predictions(
        FrameRows(panel.drop(columns="oracle"), FEATURES),
        candidate="ensemble",
        params=PARAMS,
        target="fwd_ret_5d_rank",
        horizon=HORIZON,
        config=CONFIG,
        log=lines.append,
    )
    return out, lines


def test_every_date_after_the_burn_in_is_predicted_once_by_each_candidate(panel, run) -> None:
    out, lines = run
    dates = np.sort(panel["date"].unique())
    assert set(out["candidate"]) == {"ensemble", "best_single_feature", "ridge"}
    for _, rows in out.groupby("candidate"):
        assert not rows.duplicated(["symbol", "date"]).any()
        # every row from the first out-of-sample date, unlabelled ones included
        expected = panel[panel["date"] >= dates[CONFIG.min_train_dates]]
        assert len(rows) == len(expected)
        assert set(rows["date"]) == set(dates[CONFIG.min_train_dates :])
    # blocks are contiguous in time and a date belongs to one block
    per_date = out.groupby("date")["block"].agg(["min", "max"])
    assert (per_date["min"] == per_date["max"]).all()
    assert per_date["min"].is_monotonic_increasing
    assert per_date["min"].value_counts().sort_index().tolist() == [50, 50, 50, 50]
    assert lines[0].startswith("walk-forward: read the 2054 training rows of 4 blocks")
    assert len(lines) == 5 and all("walk-forward block" in line for line in lines[1:])


def test_no_training_label_reaches_into_its_block(panel) -> None:
    frame = panel.sort_values(["date", "symbol"], kind="stable").reset_index(drop=True)
    ends = label_end_dates(frame, HORIZON)
    blocks = walk_forward_blocks(frame["date"], ends, step=50, min_train_dates=200)
    assert [b.index for b in blocks] == [0, 1, 2, 3]
    for block in blocks:
        assert (ends.iloc[block.train] < block.start).all()
        # the window expands: every labelled row that ends before the block trains
        assert len(block.train) == int((ends < block.start).sum())
    # the halt: S0's label just before it ends after the halt, so it is purged longer
    # than the other symbols' labels of the same date
    second = blocks[1]
    trained = frame.iloc[second.train]
    last_s0 = trained.loc[trained["symbol"] == "S0", "date"].max()
    last_other = trained.loc[trained["symbol"] != "S0", "date"].max()
    assert last_s0 < last_other


def test_the_model_trains_on_the_purged_rows_it_reports(panel, run) -> None:
    _, lines = run
    frame = panel.sort_values(["date", "symbol"], kind="stable").reset_index(drop=True)
    ends = label_end_dates(frame, HORIZON)
    blocks = walk_forward_blocks(frame["date"], ends, step=50, min_train_dates=200)
    for block, line in zip(blocks, lines[1:], strict=True):
        labelled = block.train[frame["fwd_ret_5d_rank"].iloc[block.train].notna().to_numpy()]
        last = frame["date"].iloc[labelled].max().date()
        assert f"trained on {len(labelled)} rows up to {last}" in line


def test_predictions_are_deterministic(panel, run) -> None:
    again = walk_forward_predictions(
        FrameRows(panel.drop(columns="oracle"), FEATURES),
        candidate="ensemble",
        params=PARAMS,
        target="fwd_ret_5d_rank",
        horizon=HORIZON,
        config=CONFIG,
    )
    pd.testing.assert_frame_equal(run[0], again)


def test_the_planted_signal_is_found_out_of_sample(panel, run) -> None:
    out, _ = run
    noise = panel[["symbol", "date", "f_noise"]].rename(columns={"f_noise": "prediction"})
    noise = noise.merge(out[["symbol", "date", "block"]].drop_duplicates(), on=["symbol", "date"])
    both = pd.concat([out, noise.assign(candidate="noise")], ignore_index=True)
    per_block, overall = block_rank_ic(
        both, panel[["symbol", "date", "fwd_ret_5d", "oracle"]], "fwd_ret_5d", HORIZON
    )
    ic = overall.set_index("candidate")["rank_ic"]
    assert ic["ensemble"] > 0.5
    assert abs(ic["noise"]) < 0.1
    assert ic["oracle"] >= ic["ensemble"] - 0.05
    assert list(per_block.columns[:3]) == ["block", "start", "end"]
    assert len(per_block) == 4 and (per_block["ensemble"] > 0.3).all()
    # a block of unlabelled dates only keeps its row, without IC
    newest = out[out["date"] > panel["date"].unique()[-HORIZON - 2]].assign(block=4)
    per_block_with_newest, _ = block_rank_ic(
        pd.concat([out[out["date"] <= newest["date"].min() - pd.Timedelta(days=1)], newest]),
        panel[["symbol", "date", "fwd_ret_5d"]],
        "fwd_ret_5d",
        HORIZON,
    )
    assert per_block_with_newest["block"].tolist() == [0, 1, 2, 3, 4]
    assert per_block_with_newest["ensemble"].isna().tolist() == [False] * 4 + [True]
    # the newest dates have no label: scored dates stop before the last prediction
    assert overall.set_index("candidate").loc["ensemble", "n_dates"] == 200 - HORIZON - 1


def test_single_booster_and_bad_settings(panel) -> None:
    out = walk_forward_predictions(
        FrameRows(panel, FEATURES),
        candidate="lightgbm",
        params={"lightgbm": PARAMS["lightgbm"]},
        target="fwd_ret_5d_rank",
        horizon=HORIZON,
        config=WalkForwardConfig(step=100, min_train_dates=300),
    )
    assert set(out["candidate"]) == {"lightgbm", "best_single_feature", "ridge"}
    assert out["block"].nunique() == 1
    with pytest.raises(ValueError, match="hyperparameters of"):
        walk_forward_predictions(
            FrameRows(panel, FEATURES),
            candidate="ensemble",
            params={"lightgbm": PARAMS["lightgbm"]},
            target="fwd_ret_5d_rank",
            horizon=HORIZON,
        )
    with pytest.raises(ValueError, match="leaves no date to predict"):
        walk_forward_predictions(
            FrameRows(panel, FEATURES),
            candidate="lightgbm",
            params=PARAMS,
            target="fwd_ret_5d_rank",
            horizon=HORIZON,
            config=WalkForwardConfig(min_train_dates=400),
        )


def test_a_capped_walk_forward_reads_one_sample_then_each_block(panel, tmp_path) -> None:
    frame = panel.drop(columns="oracle").sort_values(["date", "symbol"], kind="stable")
    path = tmp_path / "training_set.parquet"
    frame.to_parquet(path, index=False, row_group_size=300)
    reads: list[np.ndarray] = []

    class CountedRows(ParquetRows):
        def read(self, rows: np.ndarray) -> pd.DataFrame:
            reads.append(rows)
            return super().read(rows)

    source = CountedRows.open(path, FEATURES, labels=["fwd_ret_5d_rank"])
    capped = WalkForwardConfig(step=50, min_train_dates=200, max_train_rows=1200)
    lines: list[str] = []
    out = walk_forward_predictions(
        source,
        candidate="lightgbm",
        params={"lightgbm": PARAMS["lightgbm"]},
        target="fwd_ret_5d_rank",
        horizon=HORIZON,
        config=capped,
        log=lines.append,
    )
    # every block trains on at most the cap
    trained = [int(line.split(" trained on ")[1].split()[0]) for line in lines[1:]]
    assert len(trained) == 4 and max(trained) <= 1200
    # one read of the union of the (nested) samples, then each block's own rows
    pool, *blocks = reads
    assert len(pool) < sum(trained) and len(pool) < len(frame)
    assert [len(b) for b in blocks] == out.groupby("block").size().div(3).astype(int).tolist()
    # the same rows in memory give the same predictions
    in_memory = walk_forward_predictions(
        FrameRows(frame, FEATURES),
        candidate="lightgbm",
        params={"lightgbm": PARAMS["lightgbm"]},
        target="fwd_ret_5d_rank",
        horizon=HORIZON,
        config=capped,
    )
    pd.testing.assert_frame_equal(out, in_memory)


def test_block_rank_ic_scores_each_candidate_on_the_rows_a_pivot_would_match() -> None:
    rng = np.random.default_rng(3)
    dates = pd.bdate_range("2020-01-01", periods=30)
    grid = pd.MultiIndex.from_product([[f"S{i:02d}" for i in range(20)], dates]).to_frame(
        index=False, name=["symbol", "date"]
    )
    labels = grid.sample(frac=0.9, random_state=0).assign(y=lambda f: rng.normal(size=len(f)))
    # candidates predict different rows, some of a symbol that has no label at all
    parts = []
    for seed, name in enumerate(["a", "b"]):
        keys = pd.concat([grid, grid.assign(symbol=grid["symbol"] + "_unlabelled")]).sample(
            frac=0.8, random_state=seed
        )
        keys = keys[keys["date"] >= dates[5]]
        parts.append(keys.assign(candidate=name, block=0, prediction=rng.normal(size=len(keys))))
    predictions = pd.concat(parts, ignore_index=True)
    _, overall = block_rank_ic(predictions, labels, "y", HORIZON)

    pivot = predictions.pivot(index=["symbol", "date"], columns="candidate", values="prediction")
    scored = pivot.reset_index().merge(labels, on=["symbol", "date"])
    for name in ["a", "b"]:
        expected = daily_ic(scored, name, "y", method="spearman").mean()
        assert overall.set_index("candidate").loc[name, "rank_ic"] == pytest.approx(expected)
