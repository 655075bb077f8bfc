"""Evaluation of a fitted model: daily IC with its HAC t, decile returns, importance.

Pure functions on frames; the plots are PNG bytes (matplotlib's Agg backend, imported
inside the function) so the orchestrator can attach them as metadata or a report can
embed them.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pandas as pd

from ml.metrics import daily_ic, hac_t_stat

__all__ = ["decile_returns", "ic_series", "importance", "plot_png"]

TOP_FEATURES = 20


def ic_series(scored: pd.DataFrame, horizon: int) -> tuple[pd.DataFrame, float]:
    """Daily Pearson and rank IC of ``prediction`` against ``label`` (one row per date),
    and the Newey-West t-statistic of the mean daily rank IC."""
    ic = daily_ic(scored, "prediction", "label", method="pearson")
    rank_ic = daily_ic(scored, "prediction", "label", method="spearman")
    series = pd.concat([ic, rank_ic], axis=1).reset_index()
    return series, hac_t_stat(rank_ic, lags=horizon)


def decile_returns(scored: pd.DataFrame, n_buckets: int = 10) -> pd.DataFrame:
    """Mean label by prediction decile (1 = lowest predictions), deciles formed within
    each date, so a monotone staircase means the ranking holds across the book."""
    rows = scored.dropna(subset=["prediction", "label"])
    pct = rows.groupby("date")["prediction"].rank(pct=True, method="first")
    bucket = np.ceil(pct * n_buckets).clip(1, n_buckets).astype(int)
    out = rows.groupby(bucket)["label"].agg(["mean", "count"]).reset_index()
    return out.rename(columns={"prediction": "decile", "mean": "mean_label", "count": "rows"})


def importance(members: dict[str, Any], frame: pd.DataFrame, features: list[str]) -> pd.DataFrame:
    """Gain and mean |SHAP| per feature, summed over the members, top ``TOP_FEATURES``
    by SHAP. Both boosters compute exact tree SHAP values themselves (LightGBM's
    ``pred_contrib``, XGBoost's ``pred_contribs``): no shap package needed."""
    x = frame[features].astype("float32")
    gain = pd.Series(0.0, index=features)
    shap = pd.Series(0.0, index=features)
    for member in members.values():
        if type(member).__module__.startswith("xgboost"):
            import xgboost as xgb

            scores = member.get_score(importance_type="total_gain")
            gain = gain.add(pd.Series(scores, dtype="float64"), fill_value=0.0)
            contrib = member.predict(xgb.DMatrix(x, feature_names=features), pred_contribs=True)
        elif hasattr(member, "feature_importance"):
            gain += member.feature_importance(importance_type="gain")
            contrib = member.predict(x, pred_contrib=True)
        else:
            continue
        shap += np.abs(np.asarray(contrib)[:, : len(features)]).mean(axis=0)
    table = pd.DataFrame(
        {
            "feature": features,
            "gain": gain.reindex(features).to_numpy(),
            "mean_abs_shap": shap.to_numpy(),
        }
    )
    return (
        table.sort_values("mean_abs_shap", ascending=False)
        .head(TOP_FEATURES)
        .reset_index(drop=True)
    )


def plot_png(kind: str, table: pd.DataFrame, title: str) -> bytes:
    """A small PNG of one evaluation table: ``ic`` (daily rank IC and its 21-day mean),
    ``deciles`` (bars) or ``importance`` (horizontal bars of mean |SHAP|)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3.5))
    if kind == "ic":
        ax.bar(table["date"], table["rank_ic"], color="#9bb", width=1.0, label="daily rank IC")
        ax.plot(
            table["date"], table["rank_ic"].rolling(21).mean(), color="#036", label="21-day mean"
        )
        ax.axhline(0, color="black", linewidth=0.5)
        ax.legend(loc="upper left")
    elif kind == "deciles":
        ax.bar(table["decile"].astype(str), table["mean_label"], color="#369")
        ax.set_xlabel("prediction decile")
    else:
        ax.barh(table["feature"][::-1], table["mean_abs_shap"][::-1], color="#369")
        ax.set_xlabel("mean |SHAP|")
    ax.set_title(title)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80)
    plt.close(fig)
    return buffer.getvalue()
