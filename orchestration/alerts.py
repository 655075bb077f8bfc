"""Run-failure alerts: a log line naming the failed assets and their error, and, when
ALPHADAG_ALERT_WEBHOOK is set, a JSON POST to that URL.

The alert, its payload and the POST are plain values and functions (only
`failed_steps` and the sensor read Dagster's records), tested against a local HTTP
server. An alert must never fail the sensor that sends it: a webhook that is down, slow or
answers an error is logged (with its host only: the URL's path is usually the secret)
and the sensor moves on to the next failed run.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from urllib.parse import urlsplit

import dagster as dg

from orchestration.errors import root_cause
from orchestration.settings import Settings

ALERT_SENSOR_NAME = "run_failure_alert"
WEBHOOK_TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True)
class FailedStep:
    step: str
    # the assets the step was to materialize and did not (a dbt step may have built some)
    assets: tuple[str, ...]
    error: str


@dataclass(frozen=True)
class FailureAlert:
    run_id: str
    job: str
    failed_steps: tuple[FailedStep, ...]
    # the run's page in the Dagster UI (None: the UI's address is not known)
    run_url: str | None
    # the run failure's own message, for a run that failed outside any step
    run_error: str

    def summary(self) -> str:
        """One line for the log: the job, each failed step's assets and error."""
        parts = [
            f"{', '.join(step.assets) or step.step}: {step.error}" for step in self.failed_steps
        ]
        where = f" ({self.run_url})" if self.run_url else ""
        return (
            f"run {self.run_id} of {self.job} failed{where}: {'; '.join(parts) or self.run_error}"
        )

    def payload(self) -> dict[str, object]:
        """The JSON body posted to the webhook; `text` suits Slack-style incoming hooks."""
        return {
            "text": f"alphadag: {self.summary()}",
            "run_id": self.run_id,
            "job": self.job,
            "failed_assets": sorted({key for step in self.failed_steps for key in step.assets}),
            "failed_steps": [asdict(step) for step in self.failed_steps],
            "error": self.failed_steps[0].error if self.failed_steps else self.run_error,
            "run_url": self.run_url,
        }


def run_url(ui_url: str | None, run_id: str) -> str | None:
    return f"{ui_url.rstrip('/')}/runs/{run_id}" if ui_url else None


def webhook_host(url: str) -> str:
    """What a log may show of a webhook URL: its scheme and host, never its path or query."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or '?'}/..."


def post_alert(
    url: str, payload: dict[str, object], timeout: float = WEBHOOK_TIMEOUT_SECONDS
) -> str | None:
    """POST ``payload`` as JSON; None when the webhook answered 2xx, else why it did not."""
    request = urllib.request.Request(
        url,
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json", "User-Agent": "alphadag-alerts"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read()
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code} {exc.reason}"
    except urllib.error.URLError as exc:
        return f"cannot reach it: {exc.reason}"
    except OSError as exc:  # a timeout while reading the answer
        return f"{type(exc).__name__}: {exc}"
    except ValueError:
        # urllib's message quotes the whole URL
        return "not a valid URL"
    return None


def failed_steps(
    instance: dg.DagsterInstance, run_id: str, failures: Iterable[dg.DagsterEvent]
) -> tuple[FailedStep, ...]:
    """Each failed step with the assets it planned and did not materialize in the run."""
    planned: dict[str, set[str]] = {}
    materialized: set[str] = set()
    records = instance.all_logs(
        run_id,
        of_type={
            dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED,
            dg.DagsterEventType.ASSET_MATERIALIZATION,
        },
    )
    for record in records:
        event = record.dagster_event
        if event is None or event.asset_key is None:
            continue
        key = event.asset_key.to_user_string()
        if event.event_type == dg.DagsterEventType.ASSET_MATERIALIZATION:
            materialized.add(key)
        elif record.step_key:
            planned.setdefault(record.step_key, set()).add(key)
    return tuple(
        FailedStep(
            step=event.step_key or "",
            assets=tuple(sorted(planned.get(event.step_key or "", set()) - materialized)),
            error=root_cause(event.step_failure_data.error)
            if event.step_failure_data.error
            else "unknown error",
        )
        for event in failures
    )


def build_run_failure_sensor(settings: Settings) -> dg.SensorDefinition:
    @dg.run_failure_sensor(
        name=ALERT_SENSOR_NAME,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            "Logs each failed run of this code location (the assets that failed and the "
            "root cause of their error) and, when ALPHADAG_ALERT_WEBHOOK is set, posts "
            "it there as JSON (run_id, job, failed_assets, error, run_url)."
        ),
    )
    def run_failure_alert(context: dg.RunFailureSensorContext) -> None:
        run = context.dagster_run
        alert = FailureAlert(
            run_id=run.run_id,
            job=run.job_name,
            failed_steps=failed_steps(
                context.instance, run.run_id, context.get_step_failure_events()
            ),
            run_url=run_url(settings.ui_url, run.run_id),
            run_error=context.failure_event.message or "run failed",
        )
        context.log.error(alert.summary())
        if settings.alert_webhook is None:
            return
        target = webhook_host(settings.alert_webhook)
        problem = post_alert(settings.alert_webhook, alert.payload())
        if problem:
            context.log.warning(f"alert webhook {target} did not take the alert: {problem}")
        else:
            context.log.info(f"alert posted to {target}")

    return run_failure_alert
