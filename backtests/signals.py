"""Turn model predictions into target portfolio weights.

Predictions arrive as a long frame (one row per symbol and date, as stored in the
``predictions`` table); the portfolio simulator wants a wide frame of target weights
(one row per decision date, one column per symbol). The functions here only decide
*what* to hold; *when* it is traded (the bar after the decision) is the business of
:func:`backtests.portfolio.run_backtest`, so a weight row dated ``t`` always means
"decided after the close of ``t``".
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["DEFAULT_TOP_K", "top_k_weights"]

# Names the default portfolio holds each day (the backtest's `top_k` setting).
DEFAULT_TOP_K = 5


def top_k_weights(
    predictions: pd.DataFrame,
    k: int,
    prediction_col: str = "prediction",
) -> pd.DataFrame:
    """Equal-weight, long-only portfolio of the ``k`` highest predictions of each date.

    Each date, the ``k`` symbols with the highest prediction get weight ``1 / k``; when
    fewer than ``k`` symbols have a (non-null) prediction that date, each of the ``n``
    available symbols gets ``1 / n``, so every row sums to 1 (fully invested) and the
    strategy never levers up or shorts.

    Ties are broken by symbol name (ascending), so the same predictions always give
    the same portfolio: a backtest must be reproducible bit for bit, and a sort that
    depends on row order would make it depend on how the warehouse returned the rows.

    Dates on which no symbol has a prediction are left out rather than emitted as rows
    of zeros: a missing row means "no new decision, keep the current positions" to the
    simulator, whereas a row of zeros would mean "sell everything".

    Args:
        predictions: long frame with columns ``symbol``, ``date`` and ``prediction_col``.
        k: number of symbols to hold, at least 1.
        prediction_col: name of the score column (higher means more attractive).

    Returns:
        Wide frame indexed by ``date`` (sorted, datetime64) with one float column per
        symbol seen in ``predictions`` (sorted by name), holding target weights in
        [0, 1] that sum to 1 on every row.

    Raises:
        ValueError: if ``k < 1``, a required column is missing, or a (symbol, date)
            pair appears more than once (the prediction to use would be ambiguous).
    """
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    missing = [c for c in ("symbol", "date", prediction_col) if c not in predictions.columns]
    if missing:
        raise ValueError(f"predictions is missing column(s) {missing}")

    frame = predictions[["symbol", "date", prediction_col]].copy()
    frame["symbol"] = frame["symbol"].astype(str)
    frame["date"] = pd.to_datetime(frame["date"])
    frame[prediction_col] = pd.to_numeric(frame[prediction_col], errors="coerce")

    duplicated = frame.duplicated(subset=["symbol", "date"], keep=False)
    if duplicated.any():
        example = frame.loc[duplicated, ["symbol", "date"]].iloc[0]
        raise ValueError(
            "predictions has more than one row per (symbol, date), e.g. "
            f"({example['symbol']}, {example['date'].date()}); filter to one model version first"
        )

    symbols = sorted(frame["symbol"].unique())
    valid = frame.dropna(subset=[prediction_col])
    if valid.empty:
        empty = pd.DataFrame(
            index=pd.DatetimeIndex([], name="date"),
            columns=pd.Index(symbols, name="symbol"),
            dtype=float,
        )
        return empty

    ranked = valid.sort_values(
        ["date", prediction_col, "symbol"], ascending=[True, False, True], kind="mergesort"
    )
    ranked["rank"] = ranked.groupby("date", sort=False).cumcount()
    chosen = ranked[ranked["rank"] < k].copy()
    n_chosen = chosen.groupby("date")["symbol"].transform("size")
    chosen["weight"] = 1.0 / n_chosen.astype(float)

    weights = chosen.pivot(index="date", columns="symbol", values="weight")
    weights = weights.reindex(columns=pd.Index(symbols, name="symbol")).fillna(0.0)
    weights.index.name = "date"
    return weights.sort_index().astype(float)
