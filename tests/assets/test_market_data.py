"""raw_ohlcv in Dagster: checks, quarantine metadata, the oracle, and failures that stop."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from assets.market_data import build_raw_ohlcv
from ingest.checks import ERROR_CHECKS, WARNING_CHECKS
from ingest.lake import BARS_FILE, partition_dir, read_bars, read_oracle
from orchestration.partitions import business_day_partitions
from orchestration.settings import Settings


def _settings(home: Path, **env: str) -> Settings:
    return Settings.from_env(
        {
            "ALPHADAG_HOME": str(home),
            "ALPHADAG_START": START.isoformat(),
            "ALPHADAG_END": END.isoformat(),
            **env,
        }
    )


START, END = date(2024, 1, 1), date(2024, 1, 31)
PARTITIONS = business_day_partitions(START, END)


@dg.asset(
    deps=["raw_ohlcv"], partitions_def=PARTITIONS, backfill_policy=dg.BackfillPolicy.single_run()
)
def downstream_probe() -> None:
    """Stands for the features: it must not run when a blocking check fails."""


def _materialize(settings: Settings, *, probe: bool = False, run_config=None):
    keys = PARTITIONS.get_partition_keys()
    return dg.materialize(
        [build_raw_ohlcv(PARTITIONS), *([downstream_probe] if probe else [])],
        resources={"settings": settings},
        tags={ASSET_PARTITION_RANGE_START_TAG: keys[0], ASSET_PARTITION_RANGE_END_TAG: keys[-1]},
        run_config=run_config,
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )


def _write_csvs(folder: Path, bad_high_on: str | None = None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    dates = pd.bdate_range("2024-01-01", "2024-01-31")
    for k, symbol in enumerate(("AAA", "BBB")):
        close = 10.0 * (k + 1) + pd.Series(range(len(dates)), dtype="float64") * 0.1
        frame = pd.DataFrame(
            {
                "Date": dates.strftime("%Y-%m-%d"),
                "Open": close,
                "High": close + 0.2,
                "Low": close - 0.2,
                "Close": close,
                "Volume": 1000,
            }
        )
        if bad_high_on and symbol == "BBB":
            frame.loc[frame["Date"] == bad_high_on, "High"] = 1.0
        frame.to_csv(folder / f"{symbol}.csv", index=False)


def _checks(result) -> dict[str, bool]:
    return {e.check_name: e.passed for e in result.get_asset_check_evaluations()}


def test_bad_rows_are_quarantined_and_good_rows_proceed(tmp_path) -> None:
    _write_csvs(tmp_path / "in", bad_high_on="2024-01-10")
    settings = _settings(tmp_path / "home", ALPHADAG_SOURCE=f"csv:{tmp_path / 'in'}")
    result = _materialize(settings, probe=True)
    assert result.success
    assert _checks(result) == dict.fromkeys([*ERROR_CHECKS, *WARNING_CHECKS], True)
    meta = result.asset_materializations_for_node("raw_ohlcv")[0].metadata
    assert meta["rows_quarantined"].value == 1
    assert meta["quarantine_reasons"].data == {"high_below_max": 1}
    assert meta["quality_score"].value == pytest.approx(45 / 46)
    quarantined = pd.read_parquet(
        settings.home / "quarantine" / "raw_ohlcv" / "date=2024-01-10" / "source.parquet"
    )
    assert quarantined[["symbol", "reason"]].values.tolist() == [["BBB", "high_below_max"]]
    stored = read_bars(settings.lake_dir)
    assert len(stored) == 45 and not stored.duplicated(["symbol", "date"]).any()
    assert read_oracle(settings.lake_dir).empty  # files have no oracle

    again = _materialize(settings)
    assert again.success
    pd.testing.assert_frame_equal(read_bars(settings.lake_dir), stored)


def test_the_data_version_of_raw_bars_is_their_content(tmp_path) -> None:
    _write_csvs(tmp_path / "in")
    settings = _settings(tmp_path / "home", ALPHADAG_SOURCE=f"csv:{tmp_path / 'in'}")

    def data_versions() -> set[str]:
        result = _materialize(settings)
        assert result.success
        return {
            m.tags["dagster/data_version"]
            for m in result.asset_materializations_for_node("raw_ohlcv")
        }

    first = data_versions()
    assert len(first) == 1  # one run, one version for its days
    assert data_versions() == first  # the same bars again: downstream stays up to date
    # a bad delivery is quarantined and the stored bar kept: nothing changed
    _write_csvs(tmp_path / "in", bad_high_on="2024-01-10")
    assert data_versions() == first
    corrected = pd.read_csv(tmp_path / "in" / "AAA.csv")
    corrected.loc[corrected["Date"] == "2024-01-10", "Volume"] = 2000
    corrected.to_csv(tmp_path / "in" / "AAA.csv", index=False)
    assert data_versions() != first  # a bar changed: what was built from it is stale


def test_an_unreadable_file_is_rejected_and_the_others_ingested(tmp_path) -> None:
    _write_csvs(tmp_path / "in")
    (tmp_path / "in" / "CCC.csv").write_text(
        "date,open,high,low,close,volume\n2024-01-02,1,x,1,1,1\n"
    )
    settings = _settings(tmp_path / "home", ALPHADAG_SOURCE=f"csv:{tmp_path / 'in'}")
    result = _materialize(settings)
    assert result.success
    (materialization,) = result.asset_materializations_for_node("raw_ohlcv")[-1:]
    assert materialization.metadata["files_rejected"].value == 1
    assert "CCC.csv" in materialization.metadata["rejected_files"].value
    assert set(read_bars(settings.lake_dir)["symbol"]) == {"AAA", "BBB"}
    rejected = pd.read_parquet(settings.home / "rejected" / "source_files.parquet")
    assert rejected["symbol"].tolist() == ["CCC"] and "'high'" in rejected["reason"].iloc[0]


def test_blocking_check_stops_downstream_on_bad_stored_rows(tmp_path) -> None:
    _write_csvs(tmp_path / "in", bad_high_on="2024-01-10")
    settings = _settings(tmp_path / "home", ALPHADAG_SOURCE=f"csv:{tmp_path / 'in'}")
    # a file stored before the gates existed, with a bar that breaks a rule: the new
    # delivery's row for it is bad too, so the stored row is kept, and must be caught
    legacy = pd.DataFrame(
        {
            "symbol": ["BBB"],
            "date": [pd.Timestamp("2024-01-10")],
            "open": [5.0],
            "high": [4.0],
            "low": [3.0],
            "close": [5.0],
            "volume": [1.0],
        }
    )
    target = partition_dir(settings.lake_dir, date(2024, 1, 10)) / BARS_FILE
    target.parent.mkdir(parents=True)
    legacy.assign(date=legacy["date"].dt.date).to_parquet(target)
    result = _materialize(settings, probe=True)
    checks = _checks(result)
    assert checks["high_is_highest"] is False
    assert result.asset_materializations_for_node("downstream_probe") == []


def test_simulator_writes_the_oracle_beside_the_bars(tmp_path) -> None:
    settings = _settings(tmp_path / "home", ALPHADAG_UNIVERSE="3")
    assert _materialize(settings).success
    oracle = read_oracle(settings.lake_dir)
    bars = read_bars(settings.lake_dir)
    assert len(oracle) == len(bars) > 0
    assert oracle[["symbol", "date"]].equals(bars[["symbol", "date"]])
    assert (settings.lake_dir / "raw" / "oracle" / "date=2024-01-02" / "oracle.parquet").exists()
