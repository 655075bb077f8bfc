"""The run-failure alert on a real failed run of the graph, posted to a real HTTP server
on 127.0.0.1: what it sends, and that a webhook that is down never breaks the sensor."""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import dagster as dg
import pytest

from orchestration.alerts import ALERT_SENSOR_NAME, post_alert, webhook_host
from orchestration.definitions import build_definitions
from orchestration.sensors import INGEST_JOB_NAME
from orchestration.settings import Settings, SettingsError

SECRET_PATH = "/services/T000/B000/planted-token"


@dataclass
class Webhook:
    """A local HTTP server that records the JSON bodies posted to it."""

    url: str
    status: int = 200
    received: list[dict] = field(default_factory=list)


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            assert self.headers["Content-Type"] == "application/json"
            hook.received.append({"path": self.path, "body": json.loads(body)})
            self.send_response(hook.status)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    hook.url = f"http://127.0.0.1:{server.server_port}{SECRET_PATH}"
    try:
        yield hook
    finally:
        server.shutdown()
        server.server_close()


@dataclass(frozen=True)
class FailedRun:
    defs: dg.Definitions
    instance: dg.DagsterInstance
    result: dg.ExecuteInProcessResult


@pytest.fixture(scope="module")
def failed_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FailedRun]:
    """The ingest job of the real graph on a csv source whose folder does not exist."""
    root = tmp_path_factory.mktemp("alerts")
    settings = Settings.from_env(
        {"ALPHADAG_HOME": str(root / "home"), "ALPHADAG_SOURCE": f"csv:{root / 'missing'}"}
    )
    defs = build_definitions(settings)
    with dg.DagsterInstance.ephemeral() as instance:
        result = defs.resolve_job_def(INGEST_JOB_NAME).execute_in_process(
            instance=instance, partition_key="2021-01-04", raise_on_error=False
        )
        assert not result.success
        yield FailedRun(defs, instance, result)


class Collected(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: dict[int, list[str]] = {}

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.setdefault(record.levelno, []).append(record.getMessage())

    def everything(self) -> str:
        return "\n".join(line for lines in self.lines.values() for line in lines)


def _evaluate(failed: FailedRun, settings: Settings) -> Collected:
    """The alert sensor of definitions built on `settings`, on the failed run; its log."""
    sensor = build_definitions(settings).resolve_sensor_def(ALERT_SENSOR_NAME)
    context = dg.build_run_status_sensor_context(
        sensor_name=ALERT_SENSOR_NAME,
        dagster_event=failed.result.get_run_failure_event(),
        dagster_instance=failed.instance,
        dagster_run=failed.result.dagster_run,
    ).for_run_failure()
    collected = Collected()
    context.log.addHandler(collected)
    sensor(context)
    return collected


def _settings(tmp_path, **env: str) -> Settings:
    return Settings.from_env({"ALPHADAG_HOME": str(tmp_path), **env})


def test_the_alert_names_the_failed_asset_and_its_error(failed_run, webhook, tmp_path) -> None:
    settings = _settings(
        tmp_path, ALPHADAG_ALERT_WEBHOOK=webhook.url, ALPHADAG_UI_URL="http://ui.example:3000/"
    )
    log = _evaluate(failed_run, settings)
    assert log.lines[logging.INFO] == ["alert posted to http://127.0.0.1/..."]

    (request,) = webhook.received
    assert request["path"] == SECRET_PATH
    alert = request["body"]
    run_id = failed_run.result.run_id
    assert alert["run_id"] == run_id
    assert alert["job"] == INGEST_JOB_NAME
    assert alert["failed_assets"] == ["raw_ohlcv"]
    assert alert["error"].startswith("ValueError: ")
    assert "not a directory" in alert["error"]
    assert alert["failed_steps"] == [
        {"step": "raw_ohlcv", "assets": ["raw_ohlcv"], "error": alert["error"]}
    ]
    assert alert["run_url"] == f"http://ui.example:3000/runs/{run_id}"
    assert alert["text"].startswith(f"alphadag: run {run_id} of {INGEST_JOB_NAME} failed")


def test_without_a_webhook_the_alert_is_logged(failed_run, tmp_path) -> None:
    log = _evaluate(failed_run, _settings(tmp_path))
    (line,) = log.lines[logging.ERROR]
    assert f"of {INGEST_JOB_NAME} failed" in line
    assert "raw_ohlcv: ValueError: " in line
    assert "not a directory" in line


@pytest.mark.parametrize("status", [500, 404])
def test_a_webhook_that_refuses_is_logged_without_its_secret(
    failed_run, webhook, tmp_path, status
) -> None:
    webhook.status = status
    log = _evaluate(failed_run, _settings(tmp_path, ALPHADAG_ALERT_WEBHOOK=webhook.url))
    assert len(webhook.received) == 1
    (warning,) = log.lines[logging.WARNING]
    assert warning.startswith("alert webhook http://127.0.0.1/... did not take the alert")
    assert f"HTTP {status}" in warning
    assert "planted-token" not in log.everything()


def test_a_webhook_that_is_down_does_not_break_the_sensor(failed_run, tmp_path) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}{SECRET_PATH}"
    log = _evaluate(failed_run, _settings(tmp_path, ALPHADAG_ALERT_WEBHOOK=url))
    (warning,) = log.lines[logging.WARNING]
    assert "cannot reach it" in warning
    assert "planted-token" not in log.everything()


def test_a_slow_webhook_times_out() -> None:
    # a server that accepts the connection and never answers
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/hook"
        problem = post_alert(url, {"text": "x"}, timeout=0.2)
    assert problem is not None and "timed out" in problem


def test_the_webhook_is_a_secret_of_the_settings(tmp_path) -> None:
    url = f"https://hooks.example.com{SECRET_PATH}"
    settings = _settings(tmp_path, ALPHADAG_ALERT_WEBHOOK=url)
    assert settings.alert_webhook == url
    assert "planted-token" not in repr(settings)
    assert webhook_host(url) == "https://hooks.example.com/..."
    with pytest.raises(SettingsError) as error:
        _settings(tmp_path, ALPHADAG_ALERT_WEBHOOK="hooks.example.com/planted-token")
    assert "planted-token" not in str(error.value)
