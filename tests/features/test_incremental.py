"""Incremental runs over partition windows give the features of a full build.

Four dbt runs on top of the shared build: marked slow (the default run covers the
incremental path through the end-to-end test, whose second run is incremental)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ingest.lake import write_partitions
from tests.features.conftest import dbt_build, read_table

FIRST_CUTOFF = pd.Timestamp("2013-06-28")
# A nightly-style window of one day, then the rest of history as one backfill range.
WINDOWS = [("2013-07-01", "2013-07-01"), ("2013-07-02", "2099-12-31")]
FEATURES_SQL = "select * from fct_features order by symbol, date"

pytestmark = pytest.mark.slow


def _run_window(home: Path, start: str, end: str) -> None:
    window = (date.fromisoformat(start), date.fromisoformat(end))
    dbt_build(home, command="run", window=window)


@pytest.fixture(scope="module")
def incremental_home(tmp_path_factory: pytest.TempPathFactory, feature_bars: pd.DataFrame) -> Path:
    """A full build up to the cutoff, then the later bars window by window."""
    home = tmp_path_factory.mktemp("incremental")
    dates = pd.to_datetime(feature_bars["date"])
    write_partitions(home / "lake", feature_bars[dates <= FIRST_CUTOFF])
    dbt_build(home, command="run")
    write_partitions(home / "lake", feature_bars[dates > FIRST_CUTOFF])
    for start, end in WINDOWS:
        _run_window(home, start, end)
    return home


def test_incremental_equals_full_build(feature_home: Path, incremental_home: Path) -> None:
    full = read_table(feature_home, FEATURES_SQL)
    incremental = read_table(incremental_home, FEATURES_SQL)
    assert full[["symbol", "date"]].equals(incremental[["symbol", "date"]])
    assert full.columns.equals(incremental.columns)
    features = full.columns[2:]
    want = full[features].to_numpy(dtype=float)
    got = incremental[features].to_numpy(dtype=float)
    assert np.array_equal(np.isnan(want), np.isnan(got))
    # Windows and recursions continue from stored values: equal up to rounding
    np.testing.assert_allclose(got, want, rtol=1e-7, atol=1e-9)


def test_rerunning_a_window_is_idempotent(incremental_home: Path) -> None:
    before = read_table(incremental_home, FEATURES_SQL)
    _run_window(incremental_home, *WINDOWS[0])
    after = read_table(incremental_home, FEATURES_SQL)
    pd.testing.assert_frame_equal(before, after, check_exact=True)
