"""The prometheus-operator alternative of manifests/monitoring: its PrometheusRule is
rules.yml's rules (generated, and current), and its PodMonitors select the pods and ports
the operator and the manifests really give model servers, the operator and the monitors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from mlops_operator import builders

from tests import prometheus_rules
from tests.conftest import REPO

FOLDER = REPO / "manifests" / "monitoring" / "prometheus-operator"


def documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def monitors() -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in documents(FOLDER / "podmonitors.yaml")}


def test_the_prometheus_rule_is_generated_from_rules_yml_and_current() -> None:
    assert prometheus_rules.PROMETHEUS_RULE.read_text() == prometheus_rules.rendered()
    (rule,) = documents(prometheus_rules.PROMETHEUS_RULE)
    assert rule["spec"]["groups"] == yaml.safe_load(prometheus_rules.RULES.read_text())["groups"]


def test_the_kustomization_lists_every_file() -> None:
    (kustomization,) = documents(FOLDER / "kustomization.yaml")
    listed = set(kustomization["resources"])
    assert listed == {p.name for p in FOLDER.glob("*.yaml")} - {"kustomization.yaml"}


def selects(monitor: dict[str, Any], pod_labels: dict[str, str], ports: list[str]) -> bool:
    wanted = monitor["spec"]["selector"]["matchLabels"]
    endpoints = monitor["spec"]["podMetricsEndpoints"]
    return wanted.items() <= pod_labels.items() and all(e["port"] in ports for e in endpoints)


def test_the_model_server_monitor_selects_the_pods_the_operator_builds() -> None:
    deployment = {"apiVersion": "mlops.dev/v1alpha1", "kind": "Deployment",
                  "metadata": {"name": "iris", "namespace": "ml", "uid": "u"},
                  "spec": {"modelVersion": "iris-v1", "replicas": 1}}
    version = {"metadata": {"name": "iris-v1", "namespace": "ml"},
               "spec": {"model": "iris", "artifact": {
                   "uri": "pvc://mlops-artifacts/ml/iris/iris-v1/model.onnx",
                   "sha256": "a" * 64, "format": "onnx"}}}
    pod = builders.build_server_workload(deployment, "stable", version, 1, "img")[
        "spec"]["template"]
    ports = [p["name"] for c in pod["spec"]["containers"] for p in c.get("ports", [])]
    monitor = monitors()["mlops-model-servers"]
    assert selects(monitor, pod["metadata"]["labels"], ports)
    assert monitor["spec"]["namespaceSelector"] == {"any": True}
    # Their own namespace/deployment labels win over the target's.
    assert all(e["honorLabels"] for e in monitor["spec"]["podMetricsEndpoints"])


def test_the_operator_and_monitor_monitors_select_their_pods() -> None:
    for name, manifest in (("mlops-operator", REPO / "manifests/operator/deployment.yaml"),
                           ("mlops-monitor", REPO / "manifests/monitor/monitor.yaml")):
        (workload,) = [d for d in documents(manifest) if d["kind"] == "Deployment"]
        template = workload["spec"]["template"]
        ports = [p["name"] for c in template["spec"]["containers"] for p in c.get("ports", [])]
        assert selects(monitors()[name], template["metadata"]["labels"], ports), name
