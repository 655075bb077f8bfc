"""Cross-cutting policy applied to the assets in one place: freshness and automation.

- Freshness (with ``ALPHADAG_END=today`` only): ``raw_ohlcv``, ``fct_features`` and
  ``signals`` are expected to materialize after each nightly tick, within
  ``NIGHTLY_MARGIN`` of it. A fixed historical range never receives a new day, so there
  the policies would only paint every asset as failing.
- Automation: the weekly retrain is declarative. ``model_zoo`` runs on ``RETRAIN_CRON``
  once its training set has been rebuilt since the tick (retraining on an unchanged
  training set would give the same model), and what follows the model updates eagerly
  in the same tick, once the blocking checks of its parents have passed. The jobs that
  materialize a parent and its children together (``build_everything``, ``retrain``, the
  nightly refresh) do not trigger a second run: Dagster ignores a parent's update made by
  a run that also targeted the child.

Both act only where the Dagster daemon runs (``alphadag ui``): ``alphadag run`` executes
its job in process and is unaffected. The automation is evaluated by Dagster's
``default_automation_condition_sensor``, stopped on a new instance.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import dagster as dg

# Sunday: the next nightly run after it (Monday's, with Friday's bars) ends the week
RETRAIN_CRON = "0 0 * * 0"
RETRAIN_CRON_TIMEZONE = "UTC"
# how long after the nightly tick its run may take before the assets count as late
NIGHTLY_MARGIN = timedelta(hours=2)
FRESH_DAILY = ("raw_ohlcv", "fct_features", "signals")
# follow the model: rescored, re-evaluated and re-backtested whenever it changes
FOLLOW_THE_MODEL = (
    "champion_model",
    "predictions",
    "walk_forward_predictions",
    "model_evaluation",
    "model_metrics",
    "signals",
    "backtest",
)


def retrain_condition() -> dg.AutomationCondition:
    return dg.AutomationCondition.on_cron(RETRAIN_CRON, RETRAIN_CRON_TIMEZONE)


def follow_condition() -> dg.AutomationCondition:
    return (
        dg.AutomationCondition.eager() & dg.AutomationCondition.all_deps_blocking_checks_passed()
    ).with_label("eager_after_checks")


def automation_conditions() -> dict[str, dg.AutomationCondition]:
    return {
        "model_zoo": retrain_condition(),
        **{name: follow_condition() for name in FOLLOW_THE_MODEL},
    }


def nightly_freshness(nightly_cron: str, timezone: str) -> dg.FreshnessPolicy:
    """Fresh when materialized between a nightly tick and ``NIGHTLY_MARGIN`` after it.

    A cron policy rather than a time window: the nightly runs on business days, so the
    newest data is three calendar days old every Monday and must not count as late.
    """
    hours = int(NIGHTLY_MARGIN.total_seconds() // 3600)
    return dg.FreshnessPolicy.cron(
        deadline_cron=cron_hours_later(nightly_cron, hours),
        lower_bound_delta=NIGHTLY_MARGIN,
        timezone=timezone,
    )


def cron_hours_later(cron: str, hours: int) -> str:
    """A daily cron ``M H * * DAYS`` moved ``hours`` (0 to 23) later, across midnight too."""
    fields = cron.split()
    if len(fields) != 5 or not fields[1].isdigit() or fields[2:4] != ["*", "*"]:
        raise ValueError(f"expected a daily cron of the form 'M H * * DAYS', got {cron!r}")
    minute, hour, _, _, days = fields
    later = int(hour) + hours
    if later >= 24 and days != "*":
        days = ",".join(str(day) for day in sorted({(day + 1) % 7 for day in _weekdays(days)}))
    return f"{minute} {later % 24} * * {days}"


def _weekdays(days: str) -> list[int]:
    """The days of week (0 = Sunday) of a cron field of numbers, ranges and lists."""
    out: list[int] = []
    for part in days.split(","):
        first, _, last = part.partition("-")
        if not first.isdigit() or (last and not last.isdigit()):
            raise ValueError(f"expected days of week as numbers, got {days!r}")
        out.extend(range(int(first), int(last or first) + 1))
    return [day % 7 for day in out]


def apply_policies(
    assets: Sequence[dg.AssetsDefinition],
    freshness: dg.FreshnessPolicy | None,
) -> list[dg.AssetsDefinition]:
    """``assets`` with the automation conditions above and, when given, ``freshness`` on
    ``FRESH_DAILY`` (the dbt models included: one place for every asset's policy)."""
    conditions = automation_conditions()

    def with_policy(spec: dg.AssetSpec) -> dg.AssetSpec:
        name = spec.key.to_user_string()
        if name in conditions:
            spec = spec.replace_attributes(automation_condition=conditions[name])
        if freshness is not None and name in FRESH_DAILY:
            spec = spec.replace_attributes(freshness_policy=freshness)
        return spec

    return list(dg.map_asset_specs(with_policy, assets))
