"""The local cluster and the CRDs: what every other feature stands on."""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
import time
from pathlib import Path

import pytest
from kubernetes import client, config
from mlops_dev.node.images import RUNTIME_IMAGE
from mlops_dev.node.layout import POD_SUBNET

from tests.cluster.conftest import OperatorProcess, wait_for
from tests.conftest import kubectl

pytestmark = pytest.mark.cluster


def test_api_server_ready_and_node_ready(kubeconfig: str) -> None:
    assert kubectl(kubeconfig, "get", "--raw", "/readyz").stdout.strip() == "ok"
    nodes = json.loads(kubectl(kubeconfig, "get", "nodes", "-o", "json").stdout)["items"]
    assert len(nodes) >= 1
    ready = [c for c in nodes[0]["status"]["conditions"] if c["type"] == "Ready"]
    assert ready and ready[0]["status"] == "True"


def test_crds_are_established_and_listed_in_the_mlops_category(
    kubeconfig: str, crds: None, namespace: str
) -> None:
    names = kubectl(kubeconfig, "get", "crd", "-o", "name").stdout.split()
    for crd in ("trainingjobs.mlops.dev", "modelversions.mlops.dev", "deployments.mlops.dev"):
        assert f"customresourcedefinition.apiextensions.k8s.io/{crd}" in names
    # Discovery can lag the Established condition by a moment.
    wait_for(
        lambda: kubectl(kubeconfig, "get", "mlops", "-n", namespace, check=False).returncode == 0,
        30,
        "kubectl get mlops",
    )


@pytest.mark.parametrize("value", ["", "Iris-V2", "iris_v2", "-iris"])
def test_a_deployment_naming_no_valid_model_version_is_refused_at_admission(
        kubeconfig: str, crds: None, namespace: str, value: str) -> None:
    manifest = json.dumps({"apiVersion": "mlops.dev/v1alpha1", "kind": "Deployment",
                           "metadata": {"name": "refused", "namespace": namespace},
                           "spec": {"modelVersion": value}})
    result = kubectl(kubeconfig, "apply", "--dry-run=server", "-f", "-", input=manifest,
                     check=False)
    assert result.returncode != 0
    assert "spec.modelVersion" in result.stderr


MODEL_VERSION = """
apiVersion: mlops.dev/v1alpha1
kind: ModelVersion
metadata: {name: demo-v1}
spec:
  model: demo
  version: 1
  artifact:
    uri: file:///tmp/does-not-matter/model.onnx
    sha256: "%s"
""" % ("0" * 64)

TRAINING_JOB = """
apiVersion: mlops.dev/v1alpha1
kind: TrainingJob
metadata: {name: iris}
spec:
  model: iris
  dataset: {uri: "sklearn://iris"}
  estimator: {name: LogisticRegression}
"""

DEPLOYMENT = """
apiVersion: mlops.dev/v1alpha1
kind: Deployment
metadata: {name: iris}
spec:
  modelVersion: iris-v1
"""


@pytest.mark.parametrize(
    ("manifest", "plural", "name", "short"),
    [
        (TRAINING_JOB, "trainingjobs", "iris", "tj"),
        (MODEL_VERSION, "modelversions", "demo-v1", "mv"),
        (DEPLOYMENT, "deployments", "iris", "mld"),
    ],
)
def test_each_kind_round_trips_through_kubectl_and_the_python_client(
    kubeconfig: str,
    crds: None,
    namespace: str,
    manifest: str,
    plural: str,
    name: str,
    short: str,
) -> None:
    kubectl(kubeconfig, "apply", "-n", namespace, "-f", "-", input=manifest)
    via_kubectl = json.loads(
        kubectl(kubeconfig, "get", short, name, "-n", namespace, "-o", "json").stdout
    )
    api = client.CustomObjectsApi(config.new_client_from_config(kubeconfig))
    via_python = api.get_namespaced_custom_object("mlops.dev", "v1alpha1", namespace, plural, name)
    assert via_python["spec"] == via_kubectl["spec"]
    assert via_python["metadata"]["uid"] == via_kubectl["metadata"]["uid"]


def test_a_job_running_a_project_entry_point_succeeds_with_its_termination_message(
    kubeconfig: str,
    namespace: str,
) -> None:
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "hello"},
        "spec": {
            "backoffLimit": 0,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [
                        {
                            "name": "main",
                            "image": RUNTIME_IMAGE,
                            "command": ["mlops-runtime", "version"],
                            "env": [
                                {
                                    "name": "POD_NAME",
                                    "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}},
                                },
                                {
                                    "name": "POD_IP",
                                    "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}},
                                },
                            ],
                        }
                    ],
                }
            },
        },
    }
    kubectl(kubeconfig, "apply", "-n", namespace, "-f", "-", input=json.dumps(job))
    kubectl(
        kubeconfig,
        "wait",
        "-n",
        namespace,
        "--for=condition=Complete",
        "job/hello",
        "--timeout=60s",
    )
    pods = json.loads(
        kubectl(
            kubeconfig, "get", "pods", "-n", namespace, "-l", "job-name=hello", "-o", "json"
        ).stdout
    )["items"]
    assert len(pods) == 1
    pod = pods[0]
    assert pod["status"]["phase"] == "Succeeded"
    terminated = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    assert terminated["exitCode"] == 0
    message = json.loads(terminated["message"])
    assert message["pod"] == pod["metadata"]["name"]  # downward API reached the process
    assert message["podIP"] == pod["status"]["podIP"]
    assert ipaddress.ip_address(pod["status"]["podIP"]) in ipaddress.ip_network(POD_SUBNET)
    logs = kubectl(kubeconfig, "logs", "-n", namespace, pod["metadata"]["name"]).stdout
    assert '"runtime"' in logs


@pytest.mark.parametrize(
    ("policy", "reasons"),
    [("Never", {"ErrImageNeverPull"}), ("IfNotPresent", {"ErrImagePull", "ImagePullBackOff"})],
)
def test_an_image_that_was_not_loaded_reports_a_clear_waiting_reason(
    kubeconfig: str, namespace: str, policy: str, reasons: set[str],
) -> None:
    """Not loaded into the node, and its registry (on loopback: nothing leaves this machine)
    does not answer."""
    image = "localhost/acme/web:1.25"
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web"},
        "spec": {"containers": [{"name": "web", "image": image, "imagePullPolicy": policy}]},
    }
    kubectl(kubeconfig, "apply", "-n", namespace, "-f", "-", input=json.dumps(pod))

    def waiting() -> dict | None:
        status = json.loads(
            kubectl(kubeconfig, "get", "pod", "web", "-n", namespace, "-o", "json").stdout
        )["status"]
        statuses = status.get("containerStatuses") or []
        return statuses[0]["state"].get("waiting") if statuses else None

    state = wait_for(lambda: (w := waiting()) and w.get("reason") in reasons and w, 60,
                     f"the pod to wait with {reasons}")
    assert image in state["message"]


def test_configmap_env_and_a_claim_of_the_default_storage_class(
    kubeconfig: str, namespace: str
) -> None:
    """Env from a ConfigMap, and a PersistentVolumeClaim of the default StorageClass that
    gets a volume when its first pod is scheduled (as on kind)."""
    manifest = [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "settings"},
            "data": {"greeting": "hello"},
        },
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": "data"},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "1Gi"}},
            },
        },
    ]
    for item in manifest:
        kubectl(kubeconfig, "apply", "-n", namespace, "-f", "-", input=json.dumps(item))
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "vols"},
        "spec": {
            "backoffLimit": 0,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "volumes": [
                        {"name": "cfg", "configMap": {"name": "settings"}},
                        {"name": "data", "persistentVolumeClaim": {"claimName": "data"}},
                    ],
                    "containers": [
                        {
                            "name": "main",
                            "image": RUNTIME_IMAGE,
                            "command": ["mlops-runtime", "version"],
                            "terminationMessagePath": "/data/result.json",
                            "env": [
                                # The runtime writes its message where the pod reads it.
                                {"name": "MLOPS_TERMINATION_LOG", "value": "/data/result.json"},
                                {
                                    "name": "POD_NAME",
                                    "valueFrom": {
                                        "configMapKeyRef": {"name": "settings", "key": "greeting"}
                                    },
                                }
                            ],
                            "volumeMounts": [
                                {"name": "cfg", "mountPath": "/etc/cfg"},
                                {"name": "data", "mountPath": "/data"},
                            ],
                        }
                    ],
                }
            },
        },
    }
    kubectl(kubeconfig, "apply", "-n", namespace, "-f", "-", input=json.dumps(job))
    kubectl(
        kubeconfig, "wait", "-n", namespace, "--for=condition=Complete", "job/vols", "--timeout=60s"
    )
    pod = json.loads(
        kubectl(
            kubeconfig, "get", "pods", "-n", namespace, "-l", "job-name=vols", "-o", "json"
        ).stdout
    )["items"][0]
    message = json.loads(pod["status"]["containerStatuses"][0]["state"]["terminated"]["message"])
    assert message["pod"] == "hello"  # env from the ConfigMap
    claim = json.loads(kubectl(kubeconfig, "get", "pvc", "data", "-n", namespace, "-o",
                               "json").stdout)
    assert claim["status"]["phase"] == "Bound"
    assert claim["spec"]["storageClassName"] == "standard"


def test_a_kopf_operator_from_the_package_sees_a_training_job_and_writes_status(
    kubeconfig: str, crds: None, namespace: str, tmp_path: Path,
) -> None:
    with OperatorProcess(kubeconfig, namespace, tmp_path / "operator.log") as operator:
        kubectl(kubeconfig, "apply", "-n", namespace, "-f", "-", input=TRAINING_JOB)

        def phase() -> str:
            return kubectl(kubeconfig, "get", "tj", "iris", "-n", namespace, "-o",
                           "jsonpath={.status.phase}").stdout

        assert wait_for(phase, 60, "the operator to write status.phase", operator.log)


def test_readiness_probe_logs_and_graceful_deletion_of_a_serving_pod(
    kubeconfig: str, namespace: str, tmp_path: Path,
) -> None:
    """A model server pod becomes Ready through its probe; deleting it stops the process."""
    out = tmp_path / "model"
    spec = {"model": "iris", "dataset": {"uri": "sklearn://iris"},
            "estimator": {"name": "LogisticRegression", "params": {"max_iter": 300}}}
    subprocess.run(["mlops-runtime", "train", "--spec-json", json.dumps(spec),
                    "--output-uri", f"file://{out}"], check=True, capture_output=True,
                   env={**os.environ, "MLOPS_TERMINATION_LOG": str(tmp_path / "message")})
    result = json.loads((tmp_path / "message").read_text())
    tmp_path.chmod(0o755)
    pod = {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "server"},
        "spec": {
            "terminationGracePeriodSeconds": 20,
            "containers": [{
                "name": "server", "image": RUNTIME_IMAGE,
                "command": ["mlops-runtime", "serve"],
                "args": ["--model-uri", result["artifacts"]["onnx"]["uri"],
                         "--sha256", result["artifacts"]["onnx"]["sha256"]],
                "env": [{"name": "POD_IP",
                         "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}],
                "ports": [{"name": "http", "containerPort": 8080}],
                "readinessProbe": {"httpGet": {"path": "/readyz", "port": "http"},
                                   "periodSeconds": 1},
                # The model trained on this machine, where the pod expects it.
                "volumeMounts": [{"name": "model", "mountPath": str(out), "readOnly": True}],
            }],
            "volumes": [{"name": "model", "hostPath": {"path": str(out), "type": "Directory"}}],
        },
    }
    kubectl(kubeconfig, "apply", "-n", namespace, "-f", "-", input=json.dumps(pod))
    kubectl(kubeconfig, "wait", "-n", namespace, "--for=condition=Ready", "pod/server",
            "--timeout=60s")
    status = json.loads(kubectl(kubeconfig, "get", "pod", "server", "-n", namespace, "-o",
                                "json").stdout)["status"]
    assert status["containerStatuses"][0]["started"], status
    logs = kubectl(kubeconfig, "logs", "-n", namespace, "server").stdout
    assert "Uvicorn running" in logs or "Application startup complete" in logs
    started = time.monotonic()
    kubectl(kubeconfig, "delete", "pod", "server", "-n", namespace, "--timeout=30s")
    # SIGTERM: the server drains and exits long before the 20 s grace period (kubectl
    # returns once the kubelet has seen the container stop and the pod object is gone).
    assert time.monotonic() - started < 15
