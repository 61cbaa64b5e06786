"""The prediction log on the cluster: a Deployment with spec.predictionLog, real model
server pods and the monitor of manifests/monitor; the answers' IDs land as Parquet in the
namespace's claim, redacted, readable by pyarrow alone."""

from __future__ import annotations

import base64
import secrets
from pathlib import Path

import httpx
import pyarrow.dataset as ds
import pytest
import yaml

from tests.cluster.conftest import OperatorProcess, wait_for
from tests.cluster.test_tabular import _ok, service_url
from tests.cluster.test_training import apply, artifact_path, get, phase
from tests.conftest import REPO, kubectl

pytestmark = pytest.mark.cluster
ROW = {"sepal length (cm)": 5.1, "sepal width (cm)": 3.5, "petal length (cm)": 1.4,
       "petal width (cm)": 0.2}
EXCLUDED = "petal width (cm)"


def apply_monitor(kubeconfig: str, namespace: str) -> None:
    """manifests/monitor as a user applies it, writing every second instead of every 30."""
    token = base64.b64encode(secrets.token_bytes(32)).decode()
    kubectl(kubeconfig, "create", "secret", "generic", "mlops-monitor-token", "-n", namespace,
            f"--from-literal=token={token}")
    docs = list(yaml.safe_load_all(kubectl(kubeconfig, "kustomize",
                                           str(REPO / "manifests/monitor")).stdout))
    for doc in docs:
        if doc["kind"] == "Deployment":
            container = doc["spec"]["template"]["spec"]["containers"][0]
            container["args"] = [a if not a.startswith("--flush-interval=")
                                 else "--flush-interval=1" for a in container["args"]]
    kubectl(kubeconfig, "apply", "-n", namespace, "-f", "-", input=yaml.safe_dump_all(docs))
    kubectl(kubeconfig, "rollout", "status", "deployment/mlops-monitor", "-n", namespace,
            "--timeout=120s", timeout=130)


def test_a_deployments_predictions_land_in_the_namespaces_log(
        kubeconfig: str, namespace: str, operator: OperatorProcess) -> None:
    apply(kubeconfig, namespace, """
apiVersion: mlops.dev/v1alpha1
kind: TrainingJob
metadata: {name: iris}
spec:
  model: iris
  dataset: {uri: "sklearn://iris"}
  estimator: {name: LogisticRegression}
""")
    wait_for(lambda: phase(kubeconfig, namespace, "mv", "iris-v1") == "Approved", 120,
             "iris-v1 Approved", operator.log)
    apply_monitor(kubeconfig, namespace)  # the claim mlops-artifacts exists now
    apply(kubeconfig, namespace, f"""
apiVersion: mlops.dev/v1alpha1
kind: Deployment
metadata: {{name: iris}}
spec:
  modelVersion: iris-v1
  replicas: 1
  predictionLog: {{exclude: ["{EXCLUDED}"], flushIntervalSeconds: 0.2}}
""")
    wait_for(lambda: (get(kubeconfig, namespace, "mld", "iris").get("status") or {})
             .get("phase") == "Healthy", 120, "iris Healthy", operator.log)
    with httpx.Client(base_url=service_url(kubeconfig, namespace, "iris"), timeout=10) as client:
        first = wait_for(lambda: _ok(client, "/predict", {"instances": [ROW],
                                                          "ids": ["order-1"]}),
                         30, "an answer from the model server")
        batch = client.post("/predict", json={"instances": [ROW, ROW]},
                            headers={"X-Request-Id": "batch-2"}).json()
    assert first["ids"] == ["order-1"] and batch["ids"] == ["batch-2-0", "batch-2-1"]
    root = Path(artifact_path(kubeconfig, namespace, "pvc://mlops-artifacts/prediction-log"))
    folder = root / "predictions" / "model=iris" / "version=iris-v1"

    def logged() -> list[dict] | None:
        if not folder.exists():
            return None
        rows = ds.dataset(folder, format="parquet", partitioning="hive").to_table().to_pylist()
        return rows if len(rows) >= 3 else None

    rows = {row["id"]: row for row in wait_for(logged, 60, "three logged rows", operator.log)}
    assert set(rows) == {"order-1", "batch-2-0", "batch-2-1"}
    order = rows["order-1"]
    assert (order["namespace"], order["deployment"], order["track"]) == (namespace, "iris",
                                                                          "stable")
    assert order["prediction"] == first["predictions"][0]
    assert set(order["inputs"]) == set(ROW) - {EXCLUDED}
    assert rows["batch-2-1"]["request_id"] == "batch-2"
