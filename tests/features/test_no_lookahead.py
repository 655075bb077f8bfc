"""No feature looks ahead: garbage after a cutoff leaves every earlier feature bit-identical."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ingest.lake import write_partitions
from tests.features.conftest import dbt_build, read_table

CUTOFF = pd.Timestamp("2013-06-28")
FEATURES_SQL = "select * from fct_features order by symbol, date"


@pytest.fixture(scope="module")
def garbled_home(tmp_path_factory: pytest.TempPathFactory, feature_bars: pd.DataFrame) -> Path:
    """The same bars, but every bar after the cutoff replaced by positive random noise on
    another scale (highs below lows included), then rebuilt from scratch."""
    rng = np.random.default_rng(99)
    bars = feature_bars.copy()
    later = pd.to_datetime(bars["date"]) > CUTOFF
    for column in ["open", "high", "low", "close"]:
        bars.loc[later, column] = rng.uniform(1e-3, 1e6, later.sum())
    bars.loc[later, "volume"] = rng.integers(0, 10**12, later.sum()).astype(float)
    home = tmp_path_factory.mktemp("garbled")
    write_partitions(home / "lake", bars)
    dbt_build(home)
    return home


def test_features_up_to_cutoff_are_bit_identical(feature_home: Path, garbled_home: Path) -> None:
    clean = read_table(feature_home, FEATURES_SQL)
    garbled = read_table(garbled_home, FEATURES_SQL)
    assert clean.shape == garbled.shape
    before = clean["date"] <= CUTOFF
    assert before.sum() > 3000 and (~before).sum() > 3000
    pd.testing.assert_frame_equal(
        clean[before].reset_index(drop=True),
        garbled[garbled["date"] <= CUTOFF].reset_index(drop=True),
        check_exact=True,
    )
    # the garbage did reach the later rows, so the comparison above is not vacuous
    assert not clean[~before]["ret_1d"].equals(garbled[~before]["ret_1d"])
