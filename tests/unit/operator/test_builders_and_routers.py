"""Pure builders of child objects and the routers' traffic plans."""

from __future__ import annotations

import json

import pytest
from mlops_operator import builders
from mlops_operator.routers.gateway import GatewayAPIRouter, build_http_route
from mlops_operator.routers.replicas import ReplicaRouter, replica_split

DEPLOYMENT = {
    "apiVersion": "mlops.dev/v1alpha1", "kind": "Deployment",
    "metadata": {"name": "iris", "namespace": "ns", "uid": "u-1"},
    "spec": {"modelVersion": "iris-v2", "replicas": 4, "port": 80,
             "router": {"type": "gatewayAPI", "gatewayAPI": {"parentRefs": [{"name": "gw"}]}}},
}
VERSION = {
    "metadata": {"name": "iris-v2", "annotations": {}},
    "spec": {"model": "iris", "artifact": {"uri": "pvc://mlops-artifacts/ns/iris/m.onnx",
                                           "sha256": "a" * 64, "format": "onnx"},
             "inputSchema": {"features": [{"name": "x", "type": "float"}]}},
}
TRAINING_JOB = {
    "apiVersion": "mlops.dev/v1alpha1", "kind": "TrainingJob",
    "metadata": {"name": "iris-logreg", "namespace": "ns", "uid": "0123456789abcdef"},
    "spec": {"model": "iris", "dataset": {"uri": "sklearn://iris"},
             "estimator": {"name": "LogisticRegression"}, "backoffLimit": 2},
}


def assert_restricted(pod_spec: dict) -> None:
    assert pod_spec["securityContext"]["runAsNonRoot"] is True
    for container in pod_spec["containers"]:
        context = container["securityContext"]
        assert context["allowPrivilegeEscalation"] is False
        assert context["capabilities"] == {"drop": ["ALL"]}
        assert context["seccompProfile"] == {"type": "RuntimeDefault"}


def test_training_job_is_owned_restricted_and_carries_the_trainer_spec() -> None:
    job = builders.build_training_job(TRAINING_JOB, "mlops-operator/runtime:0.1.0", "claim")
    assert job["metadata"]["name"] == "iris-logreg-train"
    assert job["metadata"]["ownerReferences"][0]["uid"] == "0123456789abcdef"
    assert job["spec"]["backoffLimit"] == 2
    pod_spec = job["spec"]["template"]["spec"]
    assert_restricted(pod_spec)
    env = {e["name"]: e.get("value") for e in pod_spec["containers"][0]["env"]}
    assert json.loads(env["MLOPS_TRAINING_SPEC"])["estimator"] == {"name": "LogisticRegression"}
    assert env["MLOPS_OUTPUT_URI"] == "pvc://claim/ns/iris/iris-logreg-01234567"


def test_server_workload_mounts_the_claim_read_only_and_passes_the_checksum() -> None:
    workload = builders.build_server_workload(DEPLOYMENT, "canary", VERSION, 3, "img")
    assert workload["metadata"]["name"] == "iris-canary"
    assert workload["spec"]["replicas"] == 3
    template = workload["spec"]["template"]
    assert template["metadata"]["annotations"]["prometheus.io/scrape"] == "true"
    assert template["metadata"]["labels"]["mlops.dev/track"] == "canary"
    assert_restricted(template["spec"])
    container = template["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["MLOPS_MODEL_SHA256"] == "a" * 64 and env["MLOPS_TRACK"] == "canary"
    assert "MLOPS_FAULT_ERROR_RATE" not in env
    mount = next(m for m in container["volumeMounts"] if m["name"] == "artifacts")
    assert mount["readOnly"] is True and mount["mountPath"] == "/mnt/pvc/mlops-artifacts"


@pytest.mark.parametrize(
    ("weight", "replicas", "split"),
    [(25, 4, (3, 1)), (50, 4, (2, 2)), (75, 4, (1, 3)), (10, 4, (3, 1)), (99, 4, (1, 3)),
     (25, 1, (1, 1)), (20, 10, (8, 2))],
)
def test_replica_split(weight: int, replicas: int, split: tuple[int, int]) -> None:
    assert replica_split(weight, replicas) == split


def test_replica_router_selects_one_track_at_the_ends_and_both_between() -> None:
    router = ReplicaRouter()
    assert router.plan(0, 4, 4, 1).tracks_in_service == ("stable",)
    assert router.plan(100, 4, 4, 4).tracks_in_service == ("canary",)
    between = router.plan(25, 4, 4, 1)
    assert between.tracks_in_service == ("stable", "canary")
    assert (between.stable_replicas, between.canary_replicas) == (3, 1)
    # While a promotion scales the canary up, the plan never holds it below the decision.
    assert router.plan(50, 4, 4, 4).canary_replicas == 4


def test_http_route_weights() -> None:
    route = build_http_route(DEPLOYMENT, 30, 80)
    backends = route["spec"]["rules"][0]["backendRefs"]
    assert [(b["name"], b["weight"]) for b in backends] == [("iris-stable", 70),
                                                            ("iris-canary", 30)]
    assert route["spec"]["parentRefs"] == [{"name": "gw"}]
    only_stable = build_http_route(DEPLOYMENT, 0, 80)["spec"]["rules"][0]["backendRefs"]
    assert [(b["name"], b["weight"]) for b in only_stable] == [("iris-stable", 100)]
    plan = GatewayAPIRouter().plan(30, 4, 4, 2)
    assert (plan.stable_replicas, plan.canary_replicas) == (4, 2)
