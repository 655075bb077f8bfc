"""The promotion gate: a challenger replaces the champion only if it is better on the
same rows by a margin.

Both models score the same test rows (the challenger's held-out dates, restricted to
dates after the last label either model was fitted on, so neither has seen them); the
challenger is promoted when its mean daily rank IC beats the champion's by at least
``margin``. A margin above zero keeps the registry from flipping between equivalent
models on noise. The decision and its numbers are returned as tags, for MLflow and
the asset's metadata.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from ml.config import DEFAULT_MARGIN
from ml.metrics import daily_ic, hac_t_stat

__all__ = ["DEFAULT_MARGIN", "GateDecision", "decide"]


@dataclass(frozen=True)
class GateDecision:
    promoted: bool
    reason: str
    challenger_version: str
    champion_version: str | None
    challenger_rank_ic: float
    champion_rank_ic: float
    difference_hac_t: float
    margin: float
    n_dates: int

    def as_tags(self) -> dict[str, str]:
        return {f"gate_{k}": "" if v is None else str(v) for k, v in asdict(self).items()}


def decide(
    scored: pd.DataFrame,
    *,
    challenger_version: str,
    champion_version: str | None,
    margin: float = DEFAULT_MARGIN,
    horizon: int = 5,
) -> GateDecision:
    """Decide on ``scored``: columns date, label, challenger and (unless there is no
    champion yet) champion, one row per test (symbol, date)."""
    challenger = daily_ic(scored, "challenger", "label", method="spearman")
    common = dict(
        challenger_version=str(challenger_version),
        champion_version=champion_version,
        margin=float(margin),
        challenger_rank_ic=float(challenger.mean()) if len(challenger) else float("nan"),
    )
    if champion_version is None:
        return GateDecision(
            promoted=True,
            reason="first version: no champion to beat",
            champion_rank_ic=float("nan"),
            difference_hac_t=float("nan"),
            n_dates=len(challenger),
            **common,
        )
    champion = daily_ic(scored, "champion", "label", method="spearman")
    both = pd.concat([challenger, champion], axis=1, keys=["new", "old"]).dropna()
    if both.empty:
        return GateDecision(
            promoted=False,
            reason="no test date that both models can be scored on",
            champion_rank_ic=float("nan"),
            difference_hac_t=float("nan"),
            n_dates=0,
            **common,
        )
    new, old = float(both["new"].mean()), float(both["old"].mean())
    gain = new - old
    promoted = bool(np.isfinite(gain) and gain >= margin)
    verdict = "beats" if promoted else "does not beat"
    return GateDecision(
        promoted=promoted,
        reason=(
            f"v{challenger_version} rank IC {new:.4f} {verdict} champion "
            f"v{champion_version} {old:.4f} by the margin {margin:g} "
            f"(difference {gain:+.4f} over {len(both)} dates)"
        ),
        champion_rank_ic=old,
        difference_hac_t=hac_t_stat(both["new"] - both["old"], lags=horizon),
        n_dates=len(both),
        **{**common, "challenger_rank_ic": new},
    )
