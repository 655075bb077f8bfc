"""The Kubernetes deployment's instance configuration, checked without a cluster: Dagster's
instance schema, the run launcher's and run coordinator's own schemas, and a run
launcher built from it (it reads a kubeconfig, and contacts nothing until a run starts)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from dagster._config import process_config
from dagster._core.instance.config import dagster_instance_config
from dagster._serdes.config_class import class_from_code_pointer

from orchestration.cli import POSTGRES_STORAGE

DEPLOY_DIR = Path(__file__).resolve().parents[2] / "deploy" / "kubernetes"
# Only read by the kubernetes client when the launcher is built; nothing listens there.
KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters: [{name: none, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: none, user: {token: none}}]
contexts: [{name: none, context: {cluster: none, user: none}}]
current-context: none
"""


@pytest.fixture
def instance_config(monkeypatch) -> dict:
    monkeypatch.setenv("ALPHADAG_DAGSTER_STORAGE", "postgresql://alphadag@db.example/dagster")
    config, custom_class = dagster_instance_config(str(DEPLOY_DIR))
    assert custom_class is None
    return dict(config)


def test_the_instance_config_matches_dagsters_schema(instance_config) -> None:
    assert set(instance_config) >= {"storage", "run_launcher", "run_coordinator", "concurrency"}
    # the same storage block as the one `alphadag` writes for ALPHADAG_DAGSTER_STORAGE
    assert (
        yaml.safe_load((DEPLOY_DIR / "dagster.yaml").read_text())["storage"]
        == (yaml.safe_load(POSTGRES_STORAGE)["storage"])
    )


@pytest.mark.parametrize("section", ["run_launcher", "run_coordinator"])
def test_each_configurable_class_accepts_its_config(instance_config, section) -> None:
    data = instance_config[section]
    configurable = class_from_code_pointer(data["module"], data["class"])
    result = process_config(configurable.config_type(), data.get("config", {}))
    assert result.success, result.errors


def test_the_k8s_run_launcher_is_built_from_it(instance_config, tmp_path) -> None:
    from dagster_k8s import K8sRunLauncher

    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(KUBECONFIG)
    config = {
        **instance_config["run_launcher"]["config"],
        # outside a cluster: the kubeconfig above instead of the pod's service account
        "load_incluster_config": False,
        "kubeconfig_file": str(kubeconfig),
    }
    processed = process_config(K8sRunLauncher.config_type(), config)
    assert processed.success, processed.errors
    launcher = K8sRunLauncher.from_config_value(None, processed.value)
    assert launcher.job_namespace == "alphadag"
    assert launcher.env_secrets == ["alphadag-settings"]
    assert launcher.volume_mounts[0]["mountPath"] == "/var/lib/alphadag"
