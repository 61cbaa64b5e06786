"""The audit trail on the cluster: a rollout's story, told by the JSON lines the
namespace's monitor keeps in the artifact store, outlives its Deployment and the operator
that wrote it; read with nothing but the standard library."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from mlops_operator.domain.durations import parse_rfc3339

from tests.cluster.conftest import OperatorProcess, wait_for
from tests.cluster.test_prediction_log import apply_monitor
from tests.cluster.test_training import apply, artifact_path, get, phase
from tests.conftest import kubectl
from tests.webhook import Receiver

pytestmark = pytest.mark.cluster


def _trail(kubeconfig: str, namespace: str) -> list[dict[str, Any]]:
    root = Path(artifact_path(kubeconfig, namespace, "pvc://mlops-artifacts/prediction-log"))
    files = sorted((root / "audit" / f"namespace={namespace}").glob("date=*/part-*.jsonl"))
    return [json.loads(line) for path in files for line in path.read_text().splitlines()]


def _story(trail: list[dict[str, Any]], kind: str, name: str) -> list[dict[str, Any]]:
    return [r for r in trail if r["kind"] == kind and r["name"] == name]


def _train(kubeconfig: str, namespace: str, version: str, c: float,
           operator: OperatorProcess) -> None:
    apply(kubeconfig, namespace, f"""
apiVersion: mlops.dev/v1alpha1
kind: TrainingJob
metadata: {{name: iris-{version}}}
spec:
  model: iris
  dataset: {{uri: "sklearn://iris"}}
  estimator: {{name: LogisticRegression, params: {{max_iter: 300, C: {c}}}}}
  qualityGate: {{metrics: [{{name: accuracy, min: 0.8}}]}}
""")
    wait_for(lambda: phase(kubeconfig, namespace, "mv", f"iris-{version}") == "Approved", 120,
             f"iris-{version} Approved", operator.log)


def test_a_rollouts_story_outlives_its_deployment_and_the_operator(
        kubeconfig: str, namespace: str, operator: OperatorProcess,
        receiver: Receiver) -> None:
    _train(kubeconfig, namespace, "v1", 1.0, operator)
    _train(kubeconfig, namespace, "v2", 0.5, operator)
    apply_monitor(kubeconfig, namespace)  # after the first training made the claim
    # The operator runs on this machine, so a webhook on the loopback is reachable.
    apply(kubeconfig, namespace, f"""
apiVersion: mlops.dev/v1alpha1
kind: Deployment
metadata: {{name: iris}}
spec:
  modelVersion: iris-v1
  replicas: 1
  strategy: {{steps: [{{setWeight: 50}}, {{pause: {{duration: 1s}}}}]}}
  notifications: [{{url: "{receiver.url}", events: [CanaryStarted, Promoted]}}]
""")
    wait_for(lambda: phase(kubeconfig, namespace, "mld", "iris") == "Healthy", 120,
             "iris Healthy on v1", operator.log)
    kubectl(kubeconfig, "patch", "mld", "iris", "-n", namespace, "--type=merge",
            "--field-manager=release-bot", "-p", '{"spec": {"modelVersion": "iris-v2"}}')
    wait_for(lambda: (get(kubeconfig, namespace, "mld", "iris").get("status") or {})
             .get("stableVersion") == "iris-v2", 180, "iris-v2 promoted", operator.log)
    wait_for(lambda: len(receiver.received) == 2, 30, "two notifications", operator.log)
    kubectl(kubeconfig, "delete", "mld", "iris", "-n", namespace, "--wait=true",
            "--timeout=60s", timeout=70)
    operator.stop()  # delivers what it holds before it exits
    operator.start()
    apply(kubeconfig, namespace, """
apiVersion: mlops.dev/v1alpha1
kind: Deployment
metadata: {name: iris-again}
spec: {modelVersion: iris-v2, replicas: 1}
""")
    trail = wait_for(lambda: (t := _trail(kubeconfig, namespace))
                     and _story(t, "Deployment", "iris-again") and t, 60,
                     "the restarted operator's records in the trail", operator.log)

    story = _story(trail, "Deployment", "iris")
    actions = [r["action"] for r in story]
    assert actions[0] == "Created" and actions[-1] == "Deleted", actions
    for earlier, later in zip(["Created", "SpecChanged", "CanaryStarted", "WeightSet",
                               "Promoted"],
                              ["SpecChanged", "CanaryStarted", "WeightSet", "Promoted",
                               "Deleted"], strict=True):
        assert actions.index(earlier) < actions.index(later), actions
    change = story[actions.index("SpecChanged")]
    assert change["actor"] == "release-bot", change
    assert change["changes"] == [{"path": "spec.modelVersion", "old": "iris-v1",
                                  "new": "iris-v2"}]
    weight = story[actions.index("WeightSet")]
    assert weight["details"]["currentWeight"] == 50
    assert weight["details"]["canaryVersion"] == "iris-v2"
    assert story[actions.index("Promoted")]["details"]["stableVersion"] == "iris-v2"
    times = [r["time"] for r in story]
    assert times == sorted(times)
    # The gate's verdict on each version, with its numbers, is in the trail too.
    verdict = next(r for r in _story(trail, "ModelVersion", "iris-v2")
                   if r["action"] == "Approved")
    assert verdict["details"]["trainingJob"] == "iris-v2"
    assert verdict["details"]["metrics"]["accuracy"] >= 0.8
    assert verdict["details"]["gate"], verdict
    # One record per change: the restart re-read every object and added no copies.
    assert [r["action"] for r in _story(trail, "TrainingJob", "iris-v1")].count("Created") == 1
    assert actions.count("Created") == 1
    # A deletion bumps a custom resource's generation without changing its spec: no record.
    assert actions.count("SpecChanged") == 1, actions
    # The webhook was told of the two moves it asked for, with the deciding values.
    events = [event for _, event in receiver.received]
    assert [e["type"] for e in events] == ["dev.mlops.deployment.CanaryStarted",
                                           "dev.mlops.deployment.Promoted"]
    assert events[1]["data"]["details"]["stableVersion"] == "iris-v2"
    assert events[1]["source"] == (f"/apis/mlops.dev/v1alpha1/namespaces/{namespace}"
                                   "/deployments/iris")
    # A version the operator creates and judges at once: its creation is recorded once, by
    # the operator, timed before the verdict (the records may arrive in either order).
    version = _story(trail, "ModelVersion", "iris-v2")
    (created,) = [r for r in version if r["action"] == "Created"]
    assert created["actor"] == "mlops-operator"
    assert all(parse_rfc3339(created["time"]) <= parse_rfc3339(r["time"]) for r in version)
