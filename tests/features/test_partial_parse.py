"""Nightly runs reuse dbt's partial parse: a new partition window is no reason to re-parse."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from tests.features.conftest import dbt_build

REPARSED = "Unable to do partial parsing"


def test_a_new_window_keeps_the_partial_parse(tmp_path: Path) -> None:
    target = tmp_path / "target"
    dbt_build(tmp_path, command="parse", target=target)
    for day in (date(2024, 3, 1), date(2024, 3, 4)):
        listed = dbt_build(
            tmp_path, "--select", "int_bars", command="ls", window=(day, day), target=target
        )
        assert "alphadag.intermediate.int_bars" in listed
        assert REPARSED not in listed
    # the check can fail: another warehouse path is another profile, and dbt re-parses
    elsewhere = tmp_path / "elsewhere"
    assert REPARSED in dbt_build(elsewhere, "--select", "int_bars", command="ls", target=target)
