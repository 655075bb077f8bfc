"""Training targets and the settings of a training round and of the promotion gate.

Plain values apart from the modules that use them (:mod:`ml.training`, :mod:`ml.gate`),
so that the Dagster definitions take their defaults without importing pandas or numpy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

LABEL_HORIZONS = {"fwd_ret_1d": 1, "fwd_ret_5d": 5, "fwd_ret_1d_rank": 1, "fwd_ret_5d_rank": 5}


def scoring_label(target: str) -> str:
    """The raw forward return a target stands for: what a portfolio earns."""
    return target.removesuffix("_rank")


@dataclass(frozen=True)
class ZooConfig:
    """Settings of a training round (the asset exposes them as run configuration)."""

    target: str = "fwd_ret_5d_rank"
    n_trials: int = 8
    n_folds: int = 3
    valid_dates: int = 80
    test_frac: float = 0.25
    scheme: Literal["expanding", "rolling"] = "expanding"
    rolling_train_dates: int = 250
    seed: int = 7
    threads: int = 1
    n_workers: int = 1
    max_train_rows: int = 500_000
    """Development rows (training and validation) above which they are sampled by date
    (``date_stratified_sample``): memory then stops growing with the universe."""

    @property
    def horizon(self) -> int:
        return LABEL_HORIZONS[self.target]

    @property
    def min_history_days(self) -> int:
        """Business days a history needs for these splits: the test share at the end,
        then the validation blocks of the folds and at least one block's worth of
        training dates before them, with room for the labels' horizon and the purges."""
        development = (self.n_folds + 1) * self.valid_dates
        return math.ceil(development / (1 - self.test_frac)) + 3 * (self.horizon + 1)


DEFAULT_MARGIN = 0.005
"""Rank IC the challenger must add over the champion to be promoted."""
