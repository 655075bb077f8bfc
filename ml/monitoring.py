"""Signals that a model should be retrained: feature drift and decaying live skill.

- *PSI* (population stability index) of each feature between a reference window (the
  training dates) and a recent window, on the reference's deciles. Rules of thumb:
  below 0.1 stable, above 0.25 a shift.
- *Live IC*: the champion's mean daily rank IC over its most recent labelled dates,
  which only exist after the model was trained (its predictions of the test period
  and later).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ml.metrics import daily_ic

__all__ = ["feature_psi", "rolling_live_ic"]


def _psi(reference: np.ndarray, recent: np.ndarray, n_bins: int) -> float:
    reference = reference[np.isfinite(reference)]
    recent = recent[np.isfinite(recent)]
    if len(reference) < n_bins or len(recent) == 0:
        return float("nan")
    edges = np.unique(np.quantile(reference, np.linspace(0, 1, n_bins + 1)[1:-1]))
    expected = np.bincount(np.searchsorted(edges, reference), minlength=len(edges) + 1)
    actual = np.bincount(np.searchsorted(edges, recent), minlength=len(edges) + 1)
    # a floor keeps an empty bin from making the index infinite
    p = np.maximum(expected / expected.sum(), 1e-4)
    q = np.maximum(actual / actual.sum(), 1e-4)
    return float(np.sum((q - p) * np.log(q / p)))


def feature_psi(
    reference: pd.DataFrame, recent: pd.DataFrame, features: list[str], n_bins: int = 10
) -> pd.Series:
    """PSI of each feature, recent window against reference window, largest first."""
    values = {
        f: _psi(reference[f].to_numpy(dtype="float64"), recent[f].to_numpy(dtype="float64"), n_bins)
        for f in features
    }
    return pd.Series(values, name="psi").sort_values(ascending=False)


def rolling_live_ic(scored: pd.DataFrame, window: int) -> tuple[float, int]:
    """Mean daily rank IC of ``prediction`` against ``label`` over the last ``window``
    dates that have labels, and how many dates that is."""
    ic = daily_ic(scored, "prediction", "label", method="spearman")
    recent = ic.tail(window)
    return (float(recent.mean()) if len(recent) else float("nan")), len(recent)
