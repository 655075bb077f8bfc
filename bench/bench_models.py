"""What the modeling stage costs and how much of the planted signal it finds.

- models_champion_oracle_share: the test IC of the candidate a training round registers
  over the oracle's test IC on the same rows (the oracle is the label's conditional
  expectation). Measured on the training set of a built home (``ALPHADAG_HOME``,
  default ``./data``, after ``alphadag run``) with the default ``ZooConfig``. Higher
  is better: it holds at >= 0.8, the goal of the modeling issue.
- models_stage_vs_budget: that training round's wall time (folds, baselines, both
  studies, refits, scoring; not MLflow) over the 120 s the modeling stage may take.
- models_trial_vs_lightgbm_fit: a one-trial LightGBM study (binning every fold, one
  fit per fold, scoring) over one LightGBM fit of the same parameters on all the
  development rows. Goal: at most the number of folds.
- models_two_workers_vs_one: the same enqueued trials run by two worker processes over
  one worker process (SQLite storage, one thread per fit). Goal <= 0.75, a speed-up of
  at least 1.33.

The speed rows use a synthetic panel (sizes in ``detail``), so they run without a home;
``--quick`` runs only those, on a smaller panel.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from bench.harness import BenchResult, best_of, compare

STAGE_BUDGET_SECONDS = 120.0
ORACLE_SHARE_GOAL = 0.8


def _panel(n_dates: int, n_symbols: int, n_features: int, seed: int = 0) -> pd.DataFrame:
    """Features and a 5-day label made of ten weak pairwise interactions plus noise, so
    that boosting runs for a realistic number of rounds (``n_features`` >= 20)."""
    rng = np.random.default_rng(seed)
    n = n_dates * n_symbols
    frame = pd.DataFrame(
        {
            "symbol": np.tile([f"S{i:03d}" for i in range(n_symbols)], n_dates),
            "date": pd.bdate_range("2020-01-01", periods=n_dates).repeat(n_symbols),
        }
    )
    x = rng.normal(size=(n, n_features)).astype("float32")
    for i in range(n_features):
        frame[f"f{i:03d}"] = x[:, i]
    signal = sum(np.tanh(x[:, k]) * np.sign(x[:, k + 10]) for k in range(10))
    frame["fwd_ret_5d"] = 0.01 * signal + rng.normal(0.0, 0.05, n)
    frame["fwd_ret_5d_rank"] = frame.groupby("date")["fwd_ret_5d"].rank(pct=True)
    return frame


def _problem(frame: pd.DataFrame, n_folds: int, valid_dates: int):
    from ml.splits import holdout_split, label_end_dates, walk_forward_folds
    from ml.tuning import TuningProblem

    features = [c for c in frame.columns if c.startswith("f") and not c.startswith("fwd_")]
    ends = label_end_dates(frame, 5)
    holdout = holdout_split(frame["date"], ends, test_size=frame["date"].nunique() // 4)
    dev = frame.iloc[holdout.development].reset_index(drop=True)
    folds = walk_forward_folds(
        dev["date"],
        ends.iloc[holdout.development].reset_index(drop=True),
        n_folds=n_folds,
        valid_size=valid_dates,
    )
    return dev, features, TuningProblem.from_frame(dev, folds, features, "fwd_ret_5d_rank")


def _trial_vs_fit(quick: bool) -> BenchResult:
    from ml.models import fit_lightgbm
    from ml.tuning import FIRST_TRIALS, FIXED_PARAMS, tune

    n_dates, n_symbols, n_features = (300, 50, 40) if quick else (500, 100, 100)
    dev, features, problem = _problem(_panel(n_dates, n_symbols, n_features), 3, 60)
    results = []

    def one_trial() -> None:
        results.append(tune(problem, "lightgbm", n_trials=1, threads=1, horizon=5))

    trial = best_of(one_trial, repeat=2)
    params = {**FIXED_PARAMS["lightgbm"], **FIRST_TRIALS["lightgbm"], "num_threads": 1}
    params.pop("early_stopping_rounds")
    params["n_estimators"] = results[-1].best_params["n_estimators"]
    fit = best_of(lambda: fit_lightgbm(dev, features, "fwd_ret_5d_rank", params), repeat=2)
    return compare(
        "models_trial_vs_lightgbm_fit",
        candidate_seconds=trial,
        baseline="one LightGBM fit on the development rows",
        baseline_seconds=fit,
        goal=float(len(problem.folds)),
        detail=f"{n_symbols} symbols x {n_dates} dates x {n_features} features, "
        f"{len(problem.folds)} folds, the first trial's parameters, "
        f"{params['n_estimators']} rounds, one thread; fastest of 2",
    )


def _two_workers(quick: bool) -> BenchResult:
    """The same trials (enqueued parameter sets, so both runs do the same work) by one
    worker process and by two."""
    import optuna

    from ml.tuning import FIRST_TRIALS, effective_space, study_fingerprint, tune

    n_dates, n_symbols, n_features, n_trials = (300, 50, 40, 4) if quick else (750, 100, 100, 16)
    _, _, problem = _problem(_panel(n_dates, n_symbols, n_features, seed=1), 3, 60)
    space = effective_space("lightgbm", problem.min_train_rows)
    rng = np.random.default_rng(0)
    # around the first trial: learning rate, leaves and depth vary the cost of a trial
    trials = [
        {
            **FIRST_TRIALS["lightgbm"],
            "learning_rate": float(rng.uniform(0.05, 0.2)),
            "num_leaves": int(rng.integers(4, 17)),
            "max_depth": int(rng.integers(2, 5)),
        }
        for _ in range(n_trials)
    ]
    assert all(space[k].low <= v <= space[k].high for t in trials for k, v in t.items())
    seconds, outcomes = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for workers in (1, 2):
            storage = f"sqlite:///{tmp}/optuna_{workers}.db"
            name = f"bench-{study_fingerprint(problem, 'lightgbm', 7)[:12]}"
            study = optuna.create_study(storage=storage, study_name=name, direction="maximize")
            for params in trials:
                study.enqueue_trial(params)
            started = time.perf_counter()
            result = tune(
                problem,
                "lightgbm",
                n_trials=n_trials,
                storage=storage,
                study_name=name,
                threads=1,
                n_workers=workers,
            )
            seconds[workers] = time.perf_counter() - started
            states = result.trials["state"].value_counts()
            # parallel trials start before earlier ones finish: the pruner stops fewer
            outcomes[workers] = (
                f"{states.get('COMPLETE', 0)} complete + {states.get('PRUNED', 0)} pruned, "
                f"{result.trials['seconds'].sum():.0f}s in trials"
            )
    return compare(
        "models_two_workers_vs_one",
        candidate_seconds=seconds[2],
        baseline="the same study with one worker process",
        baseline_seconds=seconds[1],
        goal=0.75,
        detail=f"the same {n_trials} enqueued LightGBM trials, {n_symbols} symbols x "
        f"{n_dates} dates x {n_features} features, 3 folds, SQLite storage, one thread per "
        "fit; two workers = this process and one spawned (its start-up included); one "
        f"worker: {outcomes[1]}; two: {outcomes[2]}; load average "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores",
    )


def _default_round() -> list[BenchResult]:
    from ingest.lake import read_oracle
    from ml.training import ZooConfig, scoring_label, train_zoo

    home = Path(os.environ.get("ALPHADAG_HOME", "data")).resolve()
    path = home / "lake" / "training" / "training_set.parquet"
    if not path.exists():
        raise SystemExit(f"{path} is missing: build the default data first (`alphadag run`)")
    frame = pd.read_parquet(path)
    features = [
        c for c in frame.columns if c not in ("symbol", "date") and not c.startswith("fwd_")
    ]
    config = ZooConfig()
    column = f"expected_{scoring_label(config.target)}"
    oracle = read_oracle(home / "lake")[["symbol", "date", column]]
    frame["date"] = pd.to_datetime(frame["date"]).astype("datetime64[ns]")
    frame = frame.merge(oracle.rename(columns={column: "oracle"}), on=["symbol", "date"])
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        outcome = train_zoo(
            frame, features, config, storage=f"sqlite:///{tmp}/optuna.db", oracle_col="oracle"
        )
        seconds = time.perf_counter() - started
    zoo = outcome.zoo.set_index("candidate")
    share = float(zoo.loc[outcome.chosen, "oracle_share"])
    size = (
        f"{frame['symbol'].nunique()} symbols x {frame['date'].nunique()} dates x "
        f"{len(features)} features"
    )
    return [
        BenchResult(
            name="models_champion_oracle_share",
            baseline="the oracle's test IC on the same rows",
            ratio=round(share, 4),
            goal=ORACLE_SHARE_GOAL,
            holds=share >= ORACLE_SHARE_GOAL,
            seconds=round(float(zoo.loc[outcome.chosen, "test_ic"]), 4),
            baseline_seconds=round(float(zoo.loc["oracle", "test_ic"]), 4),
            detail=f"higher is better; 'seconds' hold the two test ICs. {outcome.chosen} "
            f"(chosen on the folds), {size}, target {config.target}, "
            f"{len(outcome.test_frame)} test rows",
        ),
        compare(
            "models_stage_vs_budget",
            candidate_seconds=seconds,
            baseline="the modeling stage's budget",
            baseline_seconds=STAGE_BUDGET_SECONDS,
            goal=1.0,
            detail=f"train_zoo with the default ZooConfig on {size}: "
            + ", ".join(f"{k} {v:.0f}s" for k, v in outcome.timings.items())
            + f"; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores",
        ),
    ]


def run(quick: bool) -> list[BenchResult]:
    results = [] if quick else _default_round()
    return [*results, _trial_vs_fit(quick), _two_workers(quick)]
