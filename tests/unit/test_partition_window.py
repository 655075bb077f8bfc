"""The dbt window a partition window becomes."""

import os
from datetime import date

import dagster as dg
import pytest

from assets.transform import environment
from orchestration.partitions import business_day_partitions, partition_end, raw_days_since
from orchestration.project import dbt_cli, window_env

RAW = dg.AssetKey("raw_ohlcv")
MODELS = [dg.AssetKey("stg_ohlcv"), dg.AssetKey("fct_features")]


def test_a_fridays_partition_ends_on_sunday() -> None:
    partitions = business_day_partitions(date(2024, 1, 1), date(2024, 12, 31))
    assert partition_end(partitions, date(2024, 3, 1)) == date(2024, 3, 3)
    assert partition_end(partitions, date(2024, 3, 4)) == date(2024, 3, 4)


def _materialize(instance: dg.DagsterInstance, key: dg.AssetKey, *days: str) -> None:
    for day in days or (None,):
        instance.report_runless_asset_event(dg.AssetMaterialization(key, partition=day))


def test_the_dbt_window_spans_the_raw_days_newer_than_every_model() -> None:
    with dg.DagsterInstance.ephemeral() as instance:
        assert raw_days_since(instance, RAW, MODELS) is None
        _materialize(instance, RAW, "2024-03-01", "2024-03-04", "2024-03-05")
        # the models never ran: every stored day
        assert raw_days_since(instance, RAW, MODELS) == (date(2024, 3, 1), date(2024, 3, 5))
        _materialize(instance, MODELS[0])
        # one model ran since, the other never did: still every day
        assert raw_days_since(instance, RAW, MODELS) == (date(2024, 3, 1), date(2024, 3, 5))
        _materialize(instance, MODELS[1])
        assert raw_days_since(instance, RAW, MODELS) is None
        _materialize(instance, RAW, "2024-03-06", "2024-03-07")
        _materialize(instance, MODELS[0])
        # the oldest model decides: fct_features has not seen 03-06 and 03-07
        assert raw_days_since(instance, RAW, MODELS) == (date(2024, 3, 6), date(2024, 3, 7))
        # a re-ingested old day widens the window back to it
        _materialize(instance, RAW, "2024-03-01")
        assert raw_days_since(instance, RAW, MODELS) == (date(2024, 3, 1), date(2024, 3, 7))


def test_an_empty_window_is_refused() -> None:
    with pytest.raises(ValueError, match="empty dbt window"):
        window_env(date(2024, 3, 4), date(2024, 3, 1))


def test_environment_is_restored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALPHADAG_WINDOW_END", "2000-01-01")
    monkeypatch.delenv("ALPHADAG_WINDOW_START", raising=False)
    with environment(window_env(date(2024, 3, 1), date(2024, 3, 1))):
        assert os.environ["ALPHADAG_WINDOW_START"] == "2024-03-01"
    assert "ALPHADAG_WINDOW_START" not in os.environ
    assert os.environ["ALPHADAG_WINDOW_END"] == "2000-01-01"


def test_a_run_without_window_drops_a_stale_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALPHADAG_WINDOW_START", "2024-03-01")
    _, env = dbt_cli("run")
    assert "ALPHADAG_WINDOW_START" not in env
    _, env = dbt_cli("run", window=(date(2024, 3, 1), date(2024, 3, 2)))
    assert env["ALPHADAG_WINDOW_END"] == "2024-03-02"
