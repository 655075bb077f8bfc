"""Sensors: an inbox file is ingested once and archived; new symbols in a source arrive."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from ingest.lake import read_bars
from orchestration.definitions import build_definitions
from orchestration.jobs import partition_range_tags
from orchestration.sensors import INGEST_JOB_NAME
from orchestration.settings import Settings


def _settings(home: Path, **env: str) -> Settings:
    return Settings.from_env(
        {
            "ALPHADAG_HOME": str(home),
            "ALPHADAG_START": "2024-01-01",
            "ALPHADAG_END": "2024-01-31",
            **env,
        }
    )


def _frame(symbol: str, scale: float = 1.0, days: str = "2024-01-08..2024-01-12") -> pd.DataFrame:
    first, last = days.split("..")
    dates = pd.bdate_range(first, last)
    close = scale * (10.0 + pd.Series(range(len(dates)), dtype="float64"))
    return pd.DataFrame(
        {
            "Symbol": symbol,
            "Date": dates.strftime("%Y-%m-%d"),
            "Open": close,
            "High": close + 1,
            "Low": close - 1,
            "Close": close,
            "Volume": 500,
        }
    )


def _settle(folder: Path) -> None:
    """Age the files in ``folder`` past the inbox's settle time."""
    for path in folder.glob("*"):
        if path.is_file():
            stamp = path.stat().st_mtime - 60
            os.utime(path, (stamp, stamp))


def _tick(defs: dg.Definitions, name: str, instance: dg.DagsterInstance) -> list:
    sensor = defs.resolve_sensor_def(name)
    with dg.build_sensor_context(instance=instance, definitions=defs) as context:
        result = sensor.evaluate_tick(context)
    return list(result.run_requests or [])


def _run(defs: dg.Definitions, request: dg.RunRequest | None, instance) -> None:
    job = defs.resolve_job_def(INGEST_JOB_NAME)
    if request is None:  # the whole range from the configured source
        keys = job.partitions_def.get_partition_keys()
        tags, run_config = partition_range_tags(keys), {}
    else:
        tags, run_config = request.tags, request.run_config
    result = job.execute_in_process(instance=instance, tags=tags, run_config=run_config)
    assert result.success


@pytest.fixture
def instance():
    with dg.DagsterInstance.ephemeral() as instance:
        yield instance


def test_inbox_file_is_ingested_once_upserted_and_archived(tmp_path, instance) -> None:
    settings = _settings(tmp_path / "home", ALPHADAG_UNIVERSE="3")
    defs = build_definitions(settings)
    _run(defs, None, instance)  # the simulator's bars
    before = read_bars(settings.lake_dir)

    inbox = settings.home / "inbox"
    inbox.mkdir()
    drop = pd.concat([_frame("NEW"), _frame("SIM0001", scale=2.0)], ignore_index=True)
    drop.loc[2, "High"] = 1.0  # one bad row: NEW on 2024-01-10
    drop.to_csv(inbox / "update.csv", index=False)
    assert _tick(defs, "inbox", instance) == []  # just written: maybe still being copied
    _settle(inbox)

    (request,) = _tick(defs, "inbox", instance)
    assert request.run_key.startswith("inbox-") and len(request.run_key) == 6 + 64
    assert not (inbox / "update.csv").exists()
    archived = list((inbox / "archive").glob("*-update.csv"))
    assert len(archived) == 1
    _run(defs, request, instance)

    after = read_bars(settings.lake_dir)
    assert not after.duplicated(["symbol", "date"]).any()
    assert sorted(after["symbol"].unique()) == ["NEW", "SIM0001", "SIM0002", "SIM0003"]
    assert len(after[after["symbol"] == "NEW"]) == 4  # the bad row stayed out
    replaced = after[
        (after["symbol"] == "SIM0001") & after["date"].between("2024-01-08", "2024-01-12")
    ]
    assert replaced["close"].tolist() == [20.0, 22.0, 24.0, 26.0, 28.0]
    untouched = before[before["symbol"] != "SIM0001"]
    pd.testing.assert_frame_equal(
        after[after["symbol"].isin(["SIM0002", "SIM0003"])].reset_index(drop=True),
        untouched.reset_index(drop=True),
    )
    quarantined = list((settings.home / "quarantine").rglob("inbox-*.parquet"))
    assert len(quarantined) == 1
    assert pd.read_parquet(quarantined[0])["reason"].tolist() == ["high_below_max"]

    # nothing left to do; the same content under another name is not ingested again
    assert _tick(defs, "inbox", instance) == []
    drop.to_csv(inbox / "again.csv", index=False)
    _settle(inbox)
    assert _tick(defs, "inbox", instance) == []
    assert not (inbox / "again.csv").exists()


def test_unreadable_or_out_of_range_files_are_rejected_with_the_reason(tmp_path, instance) -> None:
    settings = _settings(tmp_path / "home")
    defs = build_definitions(settings)
    inbox = settings.home / "inbox"
    inbox.mkdir(parents=True)
    (inbox / "broken.csv").write_text("date,open\n2024-01-02,1\n")
    _frame("OLD", days="2019-01-07..2019-01-11").to_csv(inbox / "old.csv", index=False)
    _settle(inbox)
    assert _tick(defs, "inbox", instance) == []
    broken = (inbox / "rejected" / "broken.csv.error.txt").read_text()
    assert "broken.csv" in broken and "missing required column" in broken
    assert "no bar dated inside" in (inbox / "rejected" / "old.csv.error.txt").read_text()


def test_new_symbols_in_a_csv_source_are_ingested(tmp_path, instance) -> None:
    source = tmp_path / "source"
    source.mkdir()
    _frame("AAA").drop(columns="Symbol").to_csv(source / "AAA.csv", index=False)
    settings = _settings(tmp_path / "home", ALPHADAG_SOURCE=f"csv:{source}")
    defs = build_definitions(settings)
    _run(defs, None, instance)
    assert _tick(defs, "new_symbols", instance) == []

    _frame("BBB").drop(columns="Symbol").to_csv(source / "BBB.csv", index=False)
    (request,) = _tick(defs, "new_symbols", instance)
    assert request.tags["alphadag/new_symbols"] == "BBB"
    _run(defs, request, instance)
    assert sorted(read_bars(settings.lake_dir)["symbol"].unique()) == ["AAA", "BBB"]


def test_new_symbols_skips_the_simulator(tmp_path, instance) -> None:
    defs = build_definitions(_settings(tmp_path / "home"))
    assert _tick(defs, "new_symbols", instance) == []
