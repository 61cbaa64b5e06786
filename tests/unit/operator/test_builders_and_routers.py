"""Pure builders of child objects and the routers' traffic plans."""

from __future__ import annotations

import json

import pytest
from mlops_operator import builders
from mlops_operator.domain import rollout
from mlops_operator.handlers.watches import summarize_pod
from mlops_operator.routers.gateway import GatewayAPIRouter, build_http_route
from mlops_operator.routers.replicas import ReplicaRouter, replica_split, split_weight

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
    containers = [*pod_spec.get("initContainers", ()), *pod_spec["containers"]]
    assert containers, "a pod without containers proves nothing"
    for container in containers:
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


def test_the_trainer_gets_the_preprocessing_block_and_nothing_it_does_not_read() -> None:
    preprocessing = {"numeric": {"impute": "median"}, "columns": {"term": {"kind": "categorical"}}}
    spec = {**TRAINING_JOB["spec"], "preprocessing": preprocessing}
    passed = builders.trainer_spec(spec)
    assert passed["preprocessing"] == preprocessing
    assert "backoffLimit" not in passed


def test_the_verify_job_runs_restricted_too() -> None:
    version = {**VERSION, "apiVersion": "mlops.dev/v1alpha1", "kind": "ModelVersion",
               "metadata": {"name": "iris-v2", "namespace": "ns", "uid": "u-2"}}
    job = builders.build_verify_job(version, "img")
    assert job["metadata"]["ownerReferences"][0]["uid"] == "u-2"
    assert_restricted(job["spec"]["template"]["spec"])


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
    # The labels the checks select on, exported by the server itself (no relabelling).
    assert env["MLOPS_DEPLOYMENT"] == "iris" and "POD_NAMESPACE" in env
    names = [e["name"] for e in container["env"]]
    assert len(names) == len(set(names))
    mount = next(m for m in container["volumeMounts"] if m["name"] == "artifacts")
    assert mount["readOnly"] is True and mount["mountPath"] == "/mnt/pvc/mlops-artifacts"


def test_a_shadow_step_makes_the_stable_servers_mirror_to_the_canary_service() -> None:
    mirror = rollout.Mirror("iris-v2", 50)
    stable = builders.build_server_workload(DEPLOYMENT, "stable", VERSION, 2, "img", mirror)
    container = stable["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    namespace = DEPLOYMENT["metadata"]["namespace"]
    assert env["MLOPS_MIRROR_URL"] == f"http://iris-canary.{namespace}.svc:80"
    assert (env["MLOPS_MIRROR_VERSION"], env["MLOPS_MIRROR_PERCENT"]) == ("iris-v2", "50")
    # The pods say what they mirror to: the rollout measures once every ready one does.
    annotations = stable["spec"]["template"]["metadata"]["annotations"]
    assert annotations["mlops.dev/mirror-to"] == "iris-v2"
    summary = summarize_pod({"name": "p", "annotations": annotations,
                             "labels": stable["spec"]["template"]["metadata"]["labels"]}, {})
    assert summary.mirror_to == "iris-v2"
    plain = builders.build_server_workload(DEPLOYMENT, "stable", VERSION, 2, "img")
    assert not any(e["name"].startswith("MLOPS_MIRROR") for e in
                   plain["spec"]["template"]["spec"]["containers"][0]["env"])


def test_a_prediction_log_spec_reaches_the_servers_with_the_token_secret_mounted() -> None:
    logged = {**DEPLOYMENT, "spec": {**DEPLOYMENT["spec"], "predictionLog": {
        "url": "http://mlops-monitor:8090", "tokenSecret": {"name": "tok", "key": "secret"},
        "percent": 10, "exclude": ["x"], "flushIntervalSeconds": 2}}}
    pod = builders.build_server_workload(logged, "canary", VERSION, 1, "img")["spec"]["template"]
    container = pod["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["MLOPS_PREDICTION_LOG_URL"] == "http://mlops-monitor:8090"
    assert (env["MLOPS_PREDICTION_LOG_PERCENT"], env["MLOPS_PREDICTION_LOG_EXCLUDE"],
            env["MLOPS_PREDICTION_LOG_FLUSH_INTERVAL"]) == ("10", "x", "2")
    assert env["MLOPS_DEPLOYMENT"] == "iris" and "POD_NAMESPACE" in env
    token = next(v for v in pod["spec"]["volumes"] if v["name"] == "monitor-token")
    assert token["secret"]["secretName"] == "tok"
    assert token["secret"]["items"] == [{"key": "secret", "path": "token"}]
    mount = next(m for m in container["volumeMounts"] if m["name"] == "monitor-token")
    assert env["MLOPS_PREDICTION_LOG_TOKEN_FILE"] == mount["mountPath"] + "/token"
    assert mount["readOnly"] is True
    plain = builders.build_server_workload(DEPLOYMENT, "stable", VERSION, 1, "img")
    assert not any(e["name"].startswith("MLOPS_PREDICTION_LOG") for e in
                   plain["spec"]["template"]["spec"]["containers"][0]["env"])


def test_excluding_a_feature_the_version_does_not_have_is_a_conflict_naming_it() -> None:
    logged = {**DEPLOYMENT, "spec": {**DEPLOYMENT["spec"],
                                     "predictionLog": {"exclude": ["x", "ssn"]}}}
    with pytest.raises(builders.SpecConflict) as raised:
        builders.build_server_workload(logged, "stable", VERSION, 1, "img")
    assert str(raised.value) == ("spec.predictionLog.exclude: 'ssn' is not a feature of iris-v2 "
                                 "(its features: x)")


def test_node_selector_and_tolerations_reach_the_server_pods() -> None:
    placed = {**DEPLOYMENT, "spec": {**DEPLOYMENT["spec"], "nodeSelector": {"pool": "gpu"},
                                     "tolerations": [{"key": "k", "operator": "Exists"}]}}
    pod = builders.build_server_workload(placed, "stable", VERSION, 1, "img")["spec"]["template"]
    assert pod["spec"]["nodeSelector"] == {"pool": "gpu"}
    assert pod["spec"]["tolerations"] == [{"key": "k", "operator": "Exists"}]
    unplaced = builders.build_server_workload(DEPLOYMENT, "stable", VERSION, 1, "img")
    assert "nodeSelector" not in unplaced["spec"]["template"]["spec"]


@pytest.mark.parametrize(
    ("weight", "replicas", "min_canary", "split"),
    [(25, 4, 1, (3, 1)), (50, 4, 1, (2, 2)), (75, 4, 1, (1, 3)), (20, 10, 1, (8, 2)),
     # too few replicas for the weight: stable pods surge (canaries at high weights)
     (25, 2, 1, (3, 1)), (25, 1, 1, (3, 1)), (10, 4, 1, (6, 1)), (99, 4, 1, (1, 16)),
     (1, 2, 1, (16, 1)), (33, 2, 1, (2, 1)),
     # a promotion holding 4 canaries at 50 %: 4 stable beside them, not 2
     (50, 4, 4, (4, 4)),
     # held canaries a weight this low cannot match within 20 pods: the closest split
     (5, 4, 4, (16, 4))],
)
def test_replica_split(weight: int, replicas: int, min_canary: int,
                       split: tuple[int, int]) -> None:
    assert replica_split(weight, replicas, min_canary) == split


@pytest.mark.parametrize("replicas", [1, 2, 3, 4, 7, 10, 25])
def test_every_weight_gets_a_pod_ratio_within_five_points(replicas: int) -> None:
    for weight in range(1, 100):
        stable, canary = replica_split(weight, replicas)
        assert stable >= 1 and canary >= 1 and stable + canary >= replicas
        assert abs(split_weight(stable, canary) - weight) <= 5, (weight, stable, canary)


def test_replica_router_selects_one_track_at_the_ends_and_both_between() -> None:
    router = ReplicaRouter()
    only_stable = router.plan(0, 4, 4, 1)
    assert only_stable.tracks_in_service == ("stable",) and only_stable.effective_weight == 0
    only_canary = router.plan(100, 4, 4, 4)
    assert only_canary.tracks_in_service == ("canary",) and only_canary.effective_weight == 100
    between = router.plan(25, 4, 4, 1)
    assert between.tracks_in_service == ("stable", "canary")
    assert (between.stable_replicas, between.canary_replicas) == (3, 1)
    assert between.effective_weight == 25
    # While a promotion scales the canary up, the plan never holds it below the decision.
    assert router.plan(50, 4, 4, 4).canary_replicas == 4


def test_the_effective_weight_is_the_pod_ratio_not_the_step_weight() -> None:
    plan = ReplicaRouter().plan(30, 2, 2, 1)
    assert plan.effective_weight == split_weight(plan.stable_replicas, plan.canary_replicas)
    assert abs(plan.effective_weight - 30) <= 5
    assert GatewayAPIRouter().plan(30, 2, 2, 1).effective_weight == 30


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
