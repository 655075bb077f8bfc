"""Freshness and automation on the real graph: where the policies sit, and what the
automation requests tick by tick on a real (ephemeral) instance."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest

from orchestration.automation import (
    FOLLOW_THE_MODEL,
    FRESH_DAILY,
    NIGHTLY_MARGIN,
    RETRAIN_CRON,
    cron_hours_later,
)
from orchestration.definitions import build_definitions
from orchestration.settings import Settings


def _defs(tmp_path, **env: str) -> dg.Definitions:
    return build_definitions(Settings.from_env({"ALPHADAG_HOME": str(tmp_path), **env}))


def _nodes(defs: dg.Definitions) -> dict[str, object]:
    graph = defs.resolve_asset_graph()
    return {key.to_user_string(): graph.get(key) for key in graph.get_all_asset_keys()}


def test_open_ended_ranges_expect_each_nightly_run(tmp_path) -> None:
    nodes = _nodes(_defs(tmp_path, ALPHADAG_END="today"))
    fresh = {name for name, node in nodes.items() if node.freshness_policy is not None}
    assert fresh == set(FRESH_DAILY)
    for name in FRESH_DAILY:
        policy = nodes[name].freshness_policy
        # the nightly tick is 18:00 New York time on weekdays: due two hours later, made
        # after the tick
        assert policy.deadline_cron == "0 20 * * 1-5"
        assert policy.timezone == "America/New_York"
        assert policy.lower_bound_delta == NIGHTLY_MARGIN


def test_a_fixed_range_has_no_freshness_to_fail(tmp_path) -> None:
    nodes = _nodes(_defs(tmp_path))
    assert all(node.freshness_policy is None for node in nodes.values())


def test_conditions_are_attached_and_their_sensor_is_stopped(tmp_path) -> None:
    defs = _defs(tmp_path)
    nodes = _nodes(defs)
    automated = {name for name, node in nodes.items() if node.automation_condition is not None}
    assert automated == {"model_zoo", *FOLLOW_THE_MODEL}
    assert RETRAIN_CRON in nodes["model_zoo"].automation_condition.get_label()
    assert nodes["backtest"].automation_condition.get_label() == "eager_after_checks"
    sensors = {sensor.name: sensor for sensor in defs.get_repository_def().sensor_defs}
    automation = sensors["default_automation_condition_sensor"]
    assert automation.default_status == dg.DefaultSensorStatus.STOPPED
    assert sensors["run_failure_alert"].default_status == dg.DefaultSensorStatus.RUNNING


@pytest.mark.parametrize(
    ("cron", "hours", "expected"),
    [
        ("0 0 * * 1-5", 2, "0 2 * * 1-5"),
        ("30 23 * * 1-5", 2, "30 1 * * 2,3,4,5,6"),
        ("0 22 * * 5,6", 3, "0 1 * * 0,6"),
        ("15 6 * * *", 20, "15 2 * * *"),
    ],
)
def test_the_freshness_deadline_follows_the_nightly_tick(cron, hours, expected) -> None:
    assert cron_hours_later(cron, hours) == expected


def test_a_cron_that_is_not_daily_is_refused() -> None:
    with pytest.raises(ValueError, match="daily cron"):
        cron_hours_later("0 */6 * * *", 2)


class Ticks:
    """Successive evaluations of the automation, as the daemon would make them."""

    def __init__(self, defs: dg.Definitions, instance: dg.DagsterInstance, start: datetime):
        self.defs, self.instance, self.now = defs, instance, start
        self.cursor = None

    def __call__(self, hours: float = 1) -> set[str]:
        self.now += timedelta(hours=hours)
        result = dg.evaluate_automation_conditions(
            defs=self.defs, instance=self.instance, cursor=self.cursor, evaluation_time=self.now
        )
        self.cursor = result.cursor
        return {
            node.key.to_user_string()
            for node in self.defs.resolve_asset_graph().asset_nodes
            if result.get_num_requested(node.key)
        }


def _materialized(instance: dg.DagsterInstance, defs: dg.Definitions, *names: str) -> None:
    """Materializations (and passing blocking checks) as a run of `names` would leave."""
    graph = defs.resolve_asset_graph()
    for name in names:
        key = dg.AssetKey(name)
        instance.report_runless_asset_event(dg.AssetMaterialization(key))
        for check in graph.get(key).check_keys:
            instance.report_runless_asset_event(
                dg.AssetCheckEvaluation(asset_key=key, check_name=check.name, passed=True)
            )


def test_the_followers_update_when_the_model_changes_and_the_zoo_retrains_weekly(
    tmp_path,
) -> None:
    defs = _defs(tmp_path)
    everything = [key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()]
    # the evaluations start the Friday before a Sunday tick of the retrain cron
    friday = datetime(2026, 12, 4, 12, tzinfo=UTC)
    with dg.DagsterInstance.ephemeral() as instance:
        tick = Ticks(defs, instance, friday)
        assert tick() == set()  # nothing built: every follower misses a parent

        _materialized(instance, defs, *everything)  # a full build, outside any run
        tick()
        assert tick() == set()  # and then nothing changes: nothing to do

        # a new model (the retrain job, or a promotion in the UI): everything that
        # follows it is requested in the same tick, the zoo itself is not
        _materialized(instance, defs, "model_zoo")
        assert tick() == set(FOLLOW_THE_MODEL)
        _materialized(instance, defs, *FOLLOW_THE_MODEL)
        assert tick() == set()

        # Sunday 00:00 passes: the retrain waits for a training set newer than the tick
        assert tick(hours=40) == set()
        _materialized(instance, defs, "training_set")
        assert tick() == {"model_zoo", *FOLLOW_THE_MODEL}
        _materialized(instance, defs, "model_zoo", *FOLLOW_THE_MODEL)
        assert tick() == set()


@pytest.mark.parametrize("passed", [True, False])
def test_new_labels_reach_the_backtest_only_through_passing_checks(tmp_path, passed) -> None:
    defs = _defs(tmp_path)
    everything = [key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()]
    with dg.DagsterInstance.ephemeral() as instance:
        tick = Ticks(defs, instance, datetime(2026, 12, 1, 12, tzinfo=UTC))
        tick()
        _materialized(instance, defs, *everything)
        tick()
        # new labels (a dbt build of fct_labels alone) whose uniqueness test passes or fails
        instance.report_runless_asset_event(dg.AssetMaterialization("fct_labels"))
        instance.report_runless_asset_event(
            dg.AssetCheckEvaluation(
                asset_key=dg.AssetKey("fct_labels"),
                check_name="unique_combination_of_columns_fct_labels_symbol__date",
                passed=passed,
            )
        )
        expected = {"backtest", "model_evaluation", "model_metrics"} if passed else set()
        assert tick() == expected
