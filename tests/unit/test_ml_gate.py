"""The promotion gate, both ways, on scored test rows."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ml.gate import decide


def _scored(champion_skill: float, challenger_skill: float) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    dates = pd.bdate_range("2023-01-02", periods=120).repeat(30)
    label = rng.normal(size=len(dates))
    return pd.DataFrame(
        {
            "date": dates,
            "label": label,
            "champion": champion_skill * label + rng.normal(size=len(dates)),
            "challenger": challenger_skill * label + rng.normal(size=len(dates)),
        }
    )


def test_first_version_becomes_champion() -> None:
    decision = decide(_scored(0.0, 0.2), challenger_version="1", champion_version=None)
    assert decision.promoted and "first version" in decision.reason
    assert decision.as_tags()["gate_promoted"] == "True"


def test_a_better_challenger_is_promoted() -> None:
    decision = decide(_scored(0.05, 0.3), challenger_version="2", champion_version="1", margin=0.01)
    assert decision.promoted
    assert decision.challenger_rank_ic > decision.champion_rank_ic + 0.01
    assert decision.difference_hac_t > 2 and decision.n_dates == 120
    assert "beats champion v1" in decision.reason


def test_a_challenger_within_the_margin_is_not_promoted() -> None:
    scored = _scored(0.2, 0.2)
    scored["challenger"] = scored["champion"] + 1e-9 * np.arange(len(scored))  # same ranks
    decision = decide(scored, challenger_version="3", champion_version="2", margin=0.005)
    assert not decision.promoted
    assert "does not beat" in decision.reason
    assert decision.as_tags()["gate_champion_version"] == "2"
