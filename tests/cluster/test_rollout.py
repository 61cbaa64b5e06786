"""Canary rollouts on the local cluster: real serving pods, real Prometheus and Alertmanager."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from mlops_dev.load import LoadGenerator, iris_rows
from mlops_dev.processes import operator_env

from tests.cluster.conftest import OperatorProcess, wait_for
from tests.conftest import REPO, kubectl
from tests.unit.test_dashboards import queries

pytestmark = pytest.mark.cluster

TRAININGS = {
    # name -> (estimator, extra dataset fields); trained in this order: iris-v1, v2, ...
    "v1": ("{name: LogisticRegression, params: {max_iter: 300}}", ""),
    "v2": ("{name: LogisticRegression, params: {max_iter: 300, C: 0.5}}", ""),
    # Trained on petal length in millimetres: fine offline, skewed on real (cm) inputs.
    "v3": ("{name: LogisticRegression, params: {max_iter: 300}}",
           ', columnScale: {"petal length (cm)": 10.0}'),
    "v4": ("{name: LogisticRegression, params: {max_iter: 300, C: 2.0}}", ""),
    "v5": ("{name: LogisticRegression, params: {max_iter: 300, C: 0.8}}", ""),
}
#: Every built-in check, measured every 2 s over a 10 s window, 3 passes to succeed.
CHECKS = {builtin: (f"{{name: {name}, builtin: {builtin}, interval: 2s, count: 3, window: 10s}}")
          for builtin, name in (("errorRate", "error-rate"), ("latencyP99", "latency-p99"),
                                ("predictionShift", "prediction-shift"),
                                ("inputDrift", "input-drift"))}
ERROR_RATE = ("{name: error-rate, builtin: errorRate, threshold: 0.05, interval: 2s, "
              "count: 3, window: 10s}")

@dataclass
class Env:
    kubeconfig: str
    namespace: str
    operator: OperatorProcess
    endpoints: dict[str, str]

    def get(self, kind: str, name: str) -> dict:
        result = kubectl(self.kubeconfig, "get", kind, name, "-n", self.namespace, "-o", "json",
                         check=False)
        return json.loads(result.stdout) if result.returncode == 0 else {}

    def status(self, name: str) -> dict:
        return self.get("mld", name).get("status") or {}

    def apply(self, manifest: str) -> None:
        kubectl(self.kubeconfig, "apply", "-n", self.namespace, "-f", "-", input=manifest)

    def service_url(self, name: str) -> str:
        address = wait_for(lambda: self.get("svc", name).get("spec", {}).get("clusterIP"),
                           30, f"service {name} address")
        return f"http://{address}:80/predict"

@pytest.fixture(scope="module")
def env(kubeconfig: str, crds: None, endpoints: dict[str, str]) -> Iterator[Env]:
    namespace = f"rollout-{uuid.uuid4().hex[:6]}"
    kubectl(kubeconfig, "create", "namespace", namespace)
    log_dir = Path(tempfile.mkdtemp(prefix="operator-"))
    operator = OperatorProcess(kubeconfig, namespace, log_dir / "operator.log",
                               env=operator_env(endpoints))
    operator.start()
    environment = Env(kubeconfig, namespace, operator, endpoints)
    try:
        for version, (estimator, extra) in TRAININGS.items():
            environment.apply(f"""
apiVersion: mlops.dev/v1alpha1
kind: TrainingJob
metadata: {{name: iris-{version}}}
spec:
  model: iris
  dataset: {{uri: "sklearn://iris", testFraction: 0.3, randomSeed: 3{extra}}}
  estimator: {estimator}
  qualityGate: {{metrics: [{{name: accuracy, min: 0.8}}]}}
""")
            wait_for(lambda v=version: (environment.get("mv", f"iris-{v}").get("status") or {})
                     .get("phase") == "Approved", 90, f"iris-{version} Approved", operator.log)
        kubectl(kubeconfig, "annotate", "mv", "iris-v4", "-n", namespace,
                "mlops.dev/fault-error-rate=0.6")
        kubectl(kubeconfig, "annotate", "mv", "iris-v5", "-n", namespace,
                "mlops.dev/fault-latency=0.6")
        yield environment
    finally:
        operator.stop()
        kubectl(kubeconfig, "delete", "namespace", namespace, "--wait=false", check=False)

def deploy(env: Env, name: str, steps: str, version: str = "iris-v1",
           extra: str = "") -> None:
    env.apply(f"""
apiVersion: mlops.dev/v1alpha1
kind: Deployment
metadata: {{name: {name}}}
spec:
  modelVersion: {version}
  replicas: 2
  strategy:
    steps: {steps}
{extra}
""")
    wait_for(lambda: env.status(name).get("phase") == "Healthy"
             and env.status(name).get("stableVersion") == version
             and env.status(name).get("readyReplicas", {}).get("stable") == 2,
             90, f"{name} Healthy on {version}", env.operator.log)
    # kube-proxy programs a new Service's endpoints after its next sync (iptables
    # minSyncPeriod, 1 s by default); until then the ClusterIP refuses connections. Nothing
    # in the API says when that happened, so wait for the Service itself to answer.
    url = env.service_url(name)
    wait_for(lambda: answers(url), 30, f"service {name} to answer", env.operator.log)

def answers(url: str) -> bool:
    try:
        return httpx.post(url, json={"instances": [iris_rows()[0]]}, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False

def set_version(env: Env, name: str, version: str) -> None:
    kubectl(env.kubeconfig, "patch", "mld", name, "-n", env.namespace, "--type=merge",
            "-p", json.dumps({"spec": {"modelVersion": version}}))

def remove(env: Env, name: str) -> None:
    kubectl(env.kubeconfig, "delete", "mld", name, "-n", env.namespace, "--wait=false")

def workload_exists(env: Env, name: str) -> bool:
    return bool(env.get("deploy", name))

def test_a_good_canary_passes_every_builtin_check_and_is_promoted(env: Env) -> None:
    checks = ", ".join(CHECKS.values())
    deploy(env, "good", f"[{{setWeight: 50}}, {{analysis: {{checks: [{checks}]}}}}]")
    with LoadGenerator(env.service_url("good"), rate=20) as load:
        set_version(env, "good", "iris-v2")
        wait_for(lambda: env.status("good").get("canaryVersion") == "iris-v2", 30,
                 "the canary to start", env.operator.log)
        wait_for(lambda: load.versions().get("iris-v2", 0) >= 5, 60,
                 "the canary to take traffic", env.operator.log)
        wait_for(lambda: env.status("good").get("phase") == "Healthy"
                 and env.status("good").get("stableVersion") == "iris-v2", 90,
                 "promotion of iris-v2", env.operator.log)
        promoted_at = time.monotonic()
        wait_for(lambda: load.versions(since=promoted_at + 3).get("iris-v2", 0) >= 10, 30,
                 "traffic on the promoted version")
    status = env.status("good")
    assert status.get("canaryVersion") is None
    assert not workload_exists(env, "good-canary")
    assert set(load.versions(since=promoted_at + 3)) == {"iris-v2"}
    # Clients barely notice: at most 1% of requests failed across the whole rollout.
    assert load.statuses().get(200, 0) >= 0.99 * len(load.answers), load.statuses()
    assert any(entry["version"] == "iris-v2" and "romot" in entry["event"]
               for entry in status["history"])
    # Each built-in was measured from real pods through Prometheus and passed on a value.
    judged = {c["name"]: c for c in status["lastAnalysis"]["checks"]}
    assert set(judged) == {"error-rate", "latency-p99", "prediction-shift", "input-drift"}
    for name, check in judged.items():
        assert check["verdict"] == "Successful", (name, check)
        assert check["lastValue"] is not None, (name, check)
    events = kubectl(env.kubeconfig, "get", "events", "-n", env.namespace, "--field-selector",
                     "involvedObject.name=good", "-o", "json").stdout
    assert "iris-v2" in events
    remove(env, "good")

def test_a_canary_that_returns_errors_is_rolled_back_and_not_retried(env: Env) -> None:
    deploy(env, "bad", f"[{{setWeight: 50}}, {{analysis: {{checks: [{ERROR_RATE}]}}}}]")
    with LoadGenerator(env.service_url("bad"), rate=20) as load:
        set_version(env, "bad", "iris-v4")
        wait_for(lambda: env.status("bad").get("phase") == "RolledBack", 90,
                 "the failing canary to be rolled back", env.operator.log)
        rolled_back_at = time.monotonic()
        wait_for(lambda: not workload_exists(env, "bad-canary"), 30, "the canary to be removed")
        wait_for(lambda: len(load.since(rolled_back_at + 2)) >= 20, 30, "traffic after rollback")
    status = env.status("bad")
    assert status["stableVersion"] == "iris-v1" and status["rolledBackVersion"] == "iris-v4"
    assert "error-rate" in status["rollbackReason"]
    after = load.since(rolled_back_at + 2)
    assert {a.version for a in after} == {"iris-v1"} and {a.status for a in after} == {200}
    # GitOps-safe: the spec still says iris-v4, and it is not tried again.
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        assert env.status("bad").get("phase") == "RolledBack"
        assert not workload_exists(env, "bad-canary")
        time.sleep(0.5)
    remove(env, "bad")

def test_a_canary_whose_predictions_shift_is_rolled_back(env: Env) -> None:
    shift = ("{name: prediction-shift, builtin: predictionShift, threshold: 0.2, interval: 2s, "
             "count: 3}")
    deploy(env, "skew", f"[{{setWeight: 50}}, {{analysis: {{checks: [{shift}]}}}}]")
    with LoadGenerator(env.service_url("skew"), rate=20):
        set_version(env, "skew", "iris-v3")
        wait_for(lambda: env.status("skew").get("phase") == "RolledBack", 90,
                 "the skewed canary to be rolled back", env.operator.log)
    status = env.status("skew")
    assert status["rolledBackVersion"] == "iris-v3"
    assert "prediction-shift" in status["rollbackReason"]
    remove(env, "skew")

@pytest.mark.parametrize(
    ("builtin", "version", "fault"),
    [("latencyP99", "iris-v5", "answers take 0.6 s (mlops.dev/fault-latency)"),
     ("inputDrift", "iris-v3", "trained on petal length in mm, fed cm")],
)
def test_a_canary_failing_one_builtin_check_is_rolled_back(env: Env, builtin: str, version: str,
                                                           fault: str) -> None:
    name = f"fail-{builtin.lower()}"
    deploy(env, name, f"[{{setWeight: 50}}, {{analysis: {{checks: [{CHECKS[builtin]}]}}}}]")
    with LoadGenerator(env.service_url(name), rate=20):
        set_version(env, name, version)
        wait_for(lambda: env.status(name).get("phase") == "RolledBack", 120,
                 f"{version} ({fault}) to be rolled back by {builtin}", env.operator.log)
    status = env.status(name)
    assert status["rolledBackVersion"] == version and status["stableVersion"] == "iris-v1"
    check_name = CHECKS[builtin].split(",")[0].split(": ")[1]
    assert check_name in status["rollbackReason"] and "above threshold" in status["rollbackReason"]
    remove(env, name)


def test_a_firing_alertmanager_alert_rolls_back_at_once(env: Env) -> None:
    deploy(env, "alerted", "[{setWeight: 50}, {pause: {}}]",
           extra="    alerts: [CanaryLatencyHigh]")
    set_version(env, "alerted", "iris-v2")
    wait_for(lambda: env.status("alerted").get("phase") == "Paused"
             and env.status("alerted").get("currentWeight") == 50, 60,
             "the canary to hold at 50%", env.operator.log)
    alert = [{"labels": {"alertname": "CanaryLatencyHigh", "namespace": env.namespace,
                         "deployment": "alerted", "severity": "critical"},
              "annotations": {"summary": "p99 latency above 1s"}}]
    sent = time.monotonic()
    response = httpx.post(f"{env.endpoints['alertmanager']}/api/v2/alerts", json=alert)
    assert response.status_code == 200
    wait_for(lambda: env.status("alerted").get("phase") == "RolledBack", 30,
             "the alert to roll the canary back", env.operator.log)
    elapsed = time.monotonic() - sent
    status = env.status("alerted")
    assert "CanaryLatencyHigh" in status["rollbackReason"]
    assert status["currentWeight"] == 0
    # "At once": Alertmanager's group_wait (1s) plus one reconcile, not a tick or a check.
    assert elapsed <= 5.0, f"alert to rollback took {elapsed:.1f}s"
    remove(env, "alerted")

def resource_versions(env: Env, name: str) -> dict[str, str]:
    """resourceVersion of the Deployment and each of its children: any write changes one."""
    found = {}
    for kind in ("mld", "deployment.apps", "service"):
        items = json.loads(kubectl(env.kubeconfig, "get", kind, "-n", env.namespace, "-o",
                                   "json").stdout)["items"]
        for item in items:
            meta = item["metadata"]
            if meta["name"] == name or (meta.get("labels") or {}).get(
                    "mlops.dev/deployment") == name:
                found[f"{item['kind']}/{meta['name']}"] = meta["resourceVersion"]
    return found


def test_an_idle_deployment_costs_no_api_requests(env: Env) -> None:
    deploy(env, "idle", "[{setWeight: 50}, {pause: {duration: 1s}}]")
    # Let the last pod and workload status updates of the start-up arrive first.
    seen = [env.operator.metric("mlops_operator_reconciles_total")]

    def settled() -> bool:
        seen.append(env.operator.metric("mlops_operator_reconciles_total"))
        return len(seen) > 12 and seen[-1] == seen[-13]

    wait_for(settled, 30, "the operator to go quiet after the Deployment became Healthy")
    before_versions = resource_versions(env, "idle")
    before = env.operator.metric("mlops_operator_api_requests_total")
    reconciles = env.operator.metric("mlops_operator_reconciles_total")
    time.sleep(30)  # the point of the test: 30 s of nothing happening
    assert env.operator.metric("mlops_operator_api_requests_total") == before
    assert env.operator.metric("mlops_operator_reconciles_total") == reconciles
    assert resource_versions(env, "idle") == before_versions
    assert {"Deployment/idle", "Deployment/idle-stable", "Service/idle"} <= set(before_versions)
    remove(env, "idle")


def test_a_child_deleted_by_hand_is_recreated_from_its_watch_event(env: Env) -> None:
    deploy(env, "healed", "[{setWeight: 50}, {pause: {duration: 1s}}]")
    old_uid = env.get("svc", "healed")["metadata"]["uid"]
    kubectl(env.kubeconfig, "delete", "svc", "healed", "-n", env.namespace)
    wait_for(lambda: env.get("svc", "healed").get("metadata", {}).get("uid") not in (
        None, old_uid), 5, "the Service to be recreated", env.operator.log)
    kubectl(env.kubeconfig, "scale", "deployment.apps/healed-stable", "-n", env.namespace,
            "--replicas=1")
    wait_for(lambda: env.get("deployment.apps", "healed-stable").get("spec", {}).get(
        "replicas") == 2, 5, "the hand-edited replica count to be restored", env.operator.log)
    remove(env, "healed")


def test_prometheus_unreachable_pauses_and_never_promotes(env: Env,
                                                          local_cluster) -> None:
    pid = int((local_cluster.run_dir / "prometheus.pid").read_text())
    deploy(env, "blind", f"[{{setWeight: 50}}, {{analysis: {{checks: [{ERROR_RATE}]}}}}]")
    with LoadGenerator(env.service_url("blind"), rate=10):
        set_version(env, "blind", "iris-v2")
        wait_for(lambda: env.status("blind").get("currentWeight") == 50, 60,
                 "the canary at 50%", env.operator.log)
        os.kill(pid, signal.SIGSTOP)
        try:
            # The first measurement may already have paused it for want of data; the
            # reason must come to name Prometheus once it stops answering.
            wait_for(lambda: env.status("blind").get("phase") == "Paused"
                     and "rometheus" in (env.status("blind").get("pauseReason") or ""), 60,
                     "the rollout to pause because Prometheus is unreachable", env.operator.log)
            assert env.status("blind")["stableVersion"] == "iris-v1"
        finally:
            os.kill(pid, signal.SIGCONT)
        wait_for(lambda: env.status("blind").get("stableVersion") == "iris-v2"
                 and env.status("blind").get("phase") == "Healthy", 120,
                 "promotion once Prometheus answers again", env.operator.log)
    remove(env, "blind")

def test_httproute_weights_follow_the_steps(env: Env) -> None:
    router = "  router:\n    type: gatewayAPI\n    gatewayAPI:\n      parentRefs: [{name: public}]"
    deploy(env, "routed", "[{setWeight: 30}, {pause: {duration: 3s}}, {setWeight: 70}, "
           "{pause: {duration: 3s}}]", extra=router)
    set_version(env, "routed", "iris-v2")
    seen: set[tuple[int, int]] = set()

    def weights() -> bool:
        route = env.get("httproute", "routed")
        backends = route.get("spec", {}).get("rules", [{}])[0].get("backendRefs", [])
        split = {b["name"]: b.get("weight", 1) for b in backends}
        seen.add((split.get("routed-stable", 0), split.get("routed-canary", 0)))
        return (env.status("routed").get("stableVersion") == "iris-v2"
                and env.status("routed").get("phase") == "Healthy")

    wait_for(weights, 120, "promotion through the HTTPRoute", env.operator.log)
    assert {(70, 30), (30, 70)} <= seen
    final = env.get("httproute", "routed")["spec"]["rules"][0]["backendRefs"]
    assert [(b["name"], b["weight"]) for b in final] == [("routed-stable", 100)]
    remove(env, "routed")

def test_a_weight_two_replicas_cannot_give_surges_stable_pods_and_says_so(env: Env) -> None:
    """25 % of 2 replicas: 3 stable pods beside 1 canary, and the status says 25, not 50."""
    deploy(env, "honest", "[{setWeight: 25}, {pause: {duration: 10m}}]")
    with LoadGenerator(env.service_url("honest"), rate=40) as load:
        set_version(env, "honest", "iris-v2")

        def split() -> bool:
            status = env.status("honest")
            return (status.get("currentWeight") == 25
                    and status.get("readyReplicas") == {"stable": 3, "canary": 1})

        wait_for(split, 90, "3 stable pods beside 1 canary", env.operator.log)
        assert env.status("honest")["effectiveWeight"] == 25
        assert env.get("deploy", "honest-stable")["spec"]["replicas"] == 3
        started = time.monotonic()
        wait_for(lambda: len(load.since(started)) >= 300, 60, "300 answers")
        shares = load.versions(since=started)
    canary_share = shares.get("iris-v2", 0) / sum(shares.values())
    assert 0.15 <= canary_share <= 0.35, shares  # half of it with 1 stable pod of 2
    remove(env, "honest")


def test_a_revert_to_the_previous_stable_version_reaches_all_traffic_without_analysis(
        env: Env) -> None:
    """With no traffic at all an analysis could never pass, yet the revert completes."""
    checks = f"[{{setWeight: 25}}, {{analysis: {{checks: [{ERROR_RATE}]}}}}]"
    deploy(env, "revert", checks)
    kubectl(env.kubeconfig, "patch", "mld", "revert", "-n", env.namespace, "--type=merge",
            "-p", json.dumps({"spec": {"modelVersion": "iris-v2", "promote": True}}))
    wait_for(lambda: env.status("revert").get("stableVersion") == "iris-v2"
             and env.status("revert").get("phase") == "Healthy", 90, "iris-v2 promoted",
             env.operator.log)
    assert env.status("revert")["previousStableVersions"] == ["iris-v1"]
    kubectl(env.kubeconfig, "patch", "mld", "revert", "-n", env.namespace, "--type=merge",
            "-p", json.dumps({"spec": {"modelVersion": "iris-v1", "promote": False}}))
    reverted_from = time.monotonic()
    weights: set[int] = set()

    def back_on_v1() -> bool:
        status = env.status("revert")
        weights.add(int(status.get("currentWeight") or 0))
        return status.get("stableVersion") == "iris-v1" and status.get("phase") == "Healthy"

    wait_for(back_on_v1, 90, "the revert to iris-v1", env.operator.log)
    took = time.monotonic() - reverted_from
    status = env.status("revert")
    assert [h["event"] for h in status["history"]][-2:] == ["FastRollback", "Promoted"]
    assert weights <= {0, 100}, weights  # never the 25 % step
    assert status["previousStableVersions"] == ["iris-v2"]
    print(f"revert to iris-v1: 100 % after {took:.1f}s (pods started, no warm standby)")
    remove(env, "revert")


def test_a_regression_found_while_baking_goes_back_to_the_warm_standby(env: Env) -> None:
    """No steps: iris-v4 (60 % errors) takes 100 % at once, with iris-v1 kept warm."""
    bake = f"    bake: {{duration: 5m, standbyReplicas: 1, checks: [{ERROR_RATE}]}}"
    deploy(env, "baked", "[]", extra=bake)
    with LoadGenerator(env.service_url("baked"), rate=20) as load:
        set_version(env, "baked", "iris-v4")
        baking: list[dict] = []

        def rolled_back() -> bool:
            status = env.status("baked")
            if status.get("promotion") == "Baking":
                standby = env.get("deploy", "baked-stable").get("spec", {}).get("replicas")
                baking.append({**status, "standby": standby})
            return status.get("phase") == "RolledBack"

        wait_for(rolled_back, 120, "the bake to fail", env.operator.log)
        rolled_back_at = time.monotonic()
        assert any(s["standby"] == 1 and s.get("effectiveWeight") == 100
                   for s in baking), baking[-1:]
        status = env.status("baked")
        assert status["rollbackReason"].startswith("BakeFailed: "), status["rollbackReason"]
        assert status["stableVersion"] == "iris-v1"
        assert load.versions().get("iris-v4", 0) > 0  # it did answer users while baking
        wait_for(lambda: set(load.versions(since=time.monotonic() - 2)) == {"iris-v1"}, 30,
                 "all traffic back on iris-v1")
        print(f"bake failure -> all traffic on the standby: "
              f"{time.monotonic() - rolled_back_at:.1f}s after RolledBack")
    events = kubectl(env.kubeconfig, "get", "events", "-n", env.namespace, "--field-selector",
                     "involvedObject.name=baked", "-o", "json").stdout
    assert '"reason": "Baking"' in events
    remove(env, "baked")


#: The shadow test places its model servers with spec.nodeSelector (passed to the pods);
#: the stable servers reach the canary's Service by its cluster DNS name.
NODE_SELECTOR = """  nodeSelector: {kubernetes.io/hostname: mlops-node}"""
AGREEMENT = ("{name: agreement, builtin: predictionAgreement, threshold: 0.9, interval: 2s, "
             "count: 2, minSamples: 20}")


def test_a_shadow_sees_live_requests_answers_no_user_and_is_stopped_when_it_disagrees(
        env: Env) -> None:
    env.apply(f"""
apiVersion: mlops.dev/v1alpha1
kind: Deployment
metadata: {{name: shadowed}}
spec:
  modelVersion: iris-v1
  replicas: 2
{NODE_SELECTOR}
  strategy:
    steps: [{{shadow: {{percent: 100, duration: 5s, checks: [{AGREEMENT}]}}}}, {{setWeight: 50}},
            {{pause: {{}}}}]
""")
    wait_for(lambda: env.status("shadowed").get("phase") == "Healthy"
             and env.status("shadowed").get("readyReplicas", {}).get("stable") == 2,
             120, "shadowed Healthy", env.operator.log)
    pods = json.loads(kubectl(env.kubeconfig, "get", "pods", "-n", env.namespace, "-l",
                              "mlops.dev/deployment=shadowed", "-o", "json").stdout)["items"]
    for pod in pods:
        ready = next(c for c in pod["status"]["conditions"] if c["type"] == "Ready")
        started = datetime.fromisoformat(pod["metadata"]["creationTimestamp"])
        became = datetime.fromisoformat(ready["lastTransitionTime"])
        print(f"model server pod created -> Ready: "
              f"{(became - started).total_seconds():.0f}s")
    with LoadGenerator(env.service_url("shadowed"), rate=20) as load:
        started = time.monotonic()
        set_version(env, "shadowed", "iris-v3")  # skewed: disagrees with iris-v1
        wait_for(lambda: env.status("shadowed").get("phase") == "RolledBack", 120,
                 "the disagreeing shadow to be stopped", env.operator.log)
        status = env.status("shadowed")
        assert status["rollbackReason"].startswith("ShadowFailed: "), status["rollbackReason"]
        agreement = next(c for c in status["lastAnalysis"]["checks"] if c["name"] == "agreement")
        assert agreement["lastValue"] < 0.9, agreement
        answered = load.versions(since=started)
        assert "iris-v3" not in answered and answered["iris-v1"] >= 20, answered
        print(f"answers while shadowing: {dict(answered)}, "
              f"statuses {dict(load.statuses(since=started))}")

        set_version(env, "shadowed", "iris-v2")  # agrees: the steps go on to 50 %
        wait_for(lambda: env.status("shadowed").get("phase") == "Paused"
                 and env.status("shadowed").get("currentWeight") == 50, 120,
                 "the agreeing shadow to pass and the canary to get 50 %", env.operator.log)
        wait_for(lambda: load.versions(since=time.monotonic() - 3).get("iris-v2", 0) > 0, 30,
                 "iris-v2 answering users after its shadow step")
    events = kubectl(env.kubeconfig, "get", "events", "-n", env.namespace, "--field-selector",
                     "involvedObject.name=shadowed", "-o", "json").stdout
    for reason in ("ShadowStarted", "ShadowSucceeded"):
        assert f'"reason": "{reason}"' in events, reason
    nodes = kubectl(env.kubeconfig, "get", "pods", "-n", env.namespace, "-l",
                    "mlops.dev/deployment=shadowed", "-o",
                    "jsonpath={.items[*].spec.nodeName}").stdout.split()
    assert nodes and set(nodes) == {"mlops-node"}, nodes
    remove(env, "shadowed")


def test_drifting_inputs_retrain_the_model_and_the_following_deployment_promotes_it(
        env: Env) -> None:
    """The whole loop, every part real: the stable servers' inputs drift, Prometheus' InputDrift
    rule fires, Alertmanager posts it to the operator, which retrains; the new version passes
    its gate and the Deployment that follows the model canaries and promotes it."""
    env.apply("""
apiVersion: mlops.dev/v1alpha1
kind: TrainingJob
metadata: {name: loop}
spec:
  model: loop
  dataset: {uri: "sklearn://iris", testFraction: 0.3, randomSeed: 3}
  estimator: {name: LogisticRegression, params: {max_iter: 300}}
  qualityGate:
    metrics: [{name: accuracy, min: 0.8}]
    maxRegression: {metric: accuracy, tolerance: 0.02}
  retrain: {onAlerts: [InputDrift], minInterval: 10m}
""")
    wait_for(lambda: (env.get("mv", "loop-v1").get("status") or {}).get("phase") == "Approved",
             90, "loop-v1 Approved", env.operator.log)
    env.apply(f"""
apiVersion: mlops.dev/v1alpha1
kind: Deployment
metadata: {{name: loop}}
spec:
  model: loop
  follow: latestApproved
  replicas: 2
  strategy:
    steps: [{{setWeight: 50}}, {{analysis: {{checks: [{ERROR_RATE}]}}}}]
""")
    wait_for(lambda: env.status("loop").get("phase") == "Healthy"
             and env.status("loop").get("stableVersion") == "loop-v1", 90, "loop-v1 serving",
             env.operator.log)
    millimetres = [{**row, "petal length (cm)": row["petal length (cm)"] * 10}
                   for row in iris_rows(seed=2)]

    def retrain() -> dict:
        return (env.get("tj", "loop").get("status") or {}).get("retrain") or {}

    started = time.monotonic()
    with LoadGenerator(env.service_url("loop"), rate=20, rows=millimetres):
        wait_for(lambda: retrain().get("lastRun") == "loop-r1", 120,
                 "the InputDrift alert to start a retraining run", env.operator.log)
    retraining = time.monotonic()
    with LoadGenerator(env.service_url("loop"), rate=20) as load:  # the client is fixed
        wait_for(lambda: env.status("loop").get("phase") == "Healthy"
                 and env.status("loop").get("stableVersion") == "loop-v2", 240,
                 "the retrained loop-v2 to be canaried and promoted", env.operator.log)
        promoted = time.monotonic()
        assert load.versions().get("loop-v2", 0) > 0
    lineage = env.get("mv", "loop-v2")["spec"]["lineage"]
    assert lineage["retrainOf"] == "loop" and lineage["trainingJob"] == "loop-r1"
    trigger = lineage["trigger"]
    assert trigger["type"] == "alert" and trigger["alert"] == "InputDrift", trigger
    assert trigger["labels"]["model"] == "loop" and trigger["labels"]["namespace"] == env.namespace
    assert retrain()["runs"] == 1  # still drifting for a while: minInterval allowed one run
    history = [h["event"] for h in env.status("loop")["history"] if h["version"] == "loop-v2"]
    assert "Promoted" in history, history
    print(f"drift -> retraining started {retraining - started:.0f}s, -> loop-v2 promoted "
          f"{promoted - started:.0f}s")
    remove(env, "loop")
    kubectl(env.kubeconfig, "delete", "tj", "loop", "-n", env.namespace, "--wait=false")


def train(env: Env, job: str, model: str) -> None:
    env.apply(f"""
apiVersion: mlops.dev/v1alpha1
kind: TrainingJob
metadata: {{name: {job}}}
spec:
  model: {model}
  dataset: {{uri: "sklearn://iris", testFraction: 0.3, randomSeed: 3}}
  estimator: {{name: LogisticRegression, params: {{max_iter: 300}}}}
  qualityGate: {{metrics: [{{name: accuracy, min: 0.8}}]}}
""")


def test_a_deployment_following_a_model_rolls_out_each_newly_approved_version(env: Env) -> None:
    train(env, "lily-first", "lily")
    env.apply("""
apiVersion: mlops.dev/v1alpha1
kind: Deployment
metadata: {name: lily}
spec:
  model: lily
  follow: latestApproved
  replicas: 1
  strategy:
    steps: [{setWeight: 50}, {pause: {duration: 2s}}]
""")
    wait_for(lambda: env.status("lily").get("stableVersion") == "lily-v1"
             and env.status("lily").get("phase") == "Healthy", 150, "lily-v1 serving",
             env.operator.log)
    assert env.status("lily")["targetVersion"] == "lily-v1"
    train(env, "lily-second", "lily")
    wait_for(lambda: env.status("lily").get("canaryVersion") == "lily-v2", 120,
             "a canary of the newly Approved lily-v2", env.operator.log)
    wait_for(lambda: env.status("lily").get("stableVersion") == "lily-v2"
             and env.status("lily").get("phase") == "Healthy", 90, "lily-v2 promoted",
             env.operator.log)
    deployment = env.get("mld", "lily")
    assert "modelVersion" not in deployment["spec"]  # the operator never wrote the spec
    assert deployment["status"]["targetVersion"] == "lily-v2"
    remove(env, "lily")


def test_a_deployment_cannot_both_pin_and_follow(env: Env) -> None:
    result = kubectl(env.kubeconfig, "apply", "-n", env.namespace, "-f", "-", check=False,
                     input="""
apiVersion: mlops.dev/v1alpha1
kind: Deployment
metadata: {name: both}
spec: {modelVersion: iris-v1, model: iris, follow: latestApproved}
""")
    assert result.returncode != 0
    assert "set exactly one of spec.modelVersion" in result.stderr


def test_invalid_deployments_are_refused_at_admission(env: Env) -> None:
    bad = """
apiVersion: mlops.dev/v1alpha1
kind: Deployment
metadata: {name: wrong}
spec:
  modelVersion: iris-v1
  router: {type: gatewayAPI}
"""
    result = kubectl(env.kubeconfig, "apply", "-n", env.namespace, "-f", "-", input=bad,
                     check=False)
    assert result.returncode != 0 and "router.gatewayAPI is required" in result.stderr
    bad_step = bad.replace("  router: {type: gatewayAPI}",
                           "  strategy: {steps: [{setWeight: 150}]}")
    result = kubectl(env.kubeconfig, "apply", "-n", env.namespace, "-f", "-", input=bad_step,
                     check=False)
    assert result.returncode != 0 and "setWeight" in result.stderr

def test_an_unapproved_version_never_goes_live(env: Env) -> None:
    deploy(env, "guarded", "[{setWeight: 50}]")
    set_version(env, "guarded", "iris-v99")
    wait_for(lambda: env.status("guarded").get("phase") == "Degraded", 30,
             "Degraded for a missing version", env.operator.log)
    assert "iris-v99" in json.dumps(env.status("guarded").get("conditions"))
    assert env.status("guarded")["stableVersion"] == "iris-v1"
    assert not workload_exists(env, "guarded-canary")
    remove(env, "guarded")


def artifact_path(env: Env, uri: str) -> Path:
    """Where a pvc:// artifact lives on this machine (the claim's hostPath volume)."""
    claim, _, relative = uri.removeprefix("pvc://").partition("/")
    volume = env.get("pvc", claim)["spec"]["volumeName"]
    pv = json.loads(kubectl(env.kubeconfig, "get", "pv", volume, "-o", "json").stdout)
    return Path(pv["spec"]["hostPath"]["path"]) / relative


@pytest.fixture(scope="module")
def tampered(env: Env) -> str:
    """iris-v9: a copy of iris-v2's artifact, approved by its checksum, then modified."""
    source = env.get("mv", "iris-v2")["spec"]
    original = artifact_path(env, source["artifact"]["uri"])
    copy = original.parent.parent / "tampered" / "model.onnx"
    copy.parent.mkdir(parents=True, exist_ok=True)
    copy.write_bytes(original.read_bytes())
    claim = source["artifact"]["uri"].removeprefix("pvc://").split("/", 1)[0]
    relative = copy.relative_to(artifact_path(env, f"pvc://{claim}/"))
    spec = {**source, "version": 9,
            "artifact": {**source["artifact"], "uri": f"pvc://{claim}/{relative}",
                         "sha256": hashlib.sha256(copy.read_bytes()).hexdigest()}}
    env.apply(json.dumps({"apiVersion": "mlops.dev/v1alpha1", "kind": "ModelVersion",
                          "metadata": {"name": "iris-v9"}, "spec": spec}))
    wait_for(lambda: (env.get("mv", "iris-v9").get("status") or {}).get("phase") == "Approved",
             60, "iris-v9 verified", env.operator.log)
    with copy.open("ab") as artifact:  # changed after approval: must never be served
        artifact.write(b"tampered")
    return "iris-v9"


def test_a_canary_on_a_tampered_artifact_is_rolled_back_with_the_pods_reason(
    env: Env, tampered: str
) -> None:
    deploy(env, "tamper-canary", "[{setWeight: 50}, {pause: {}}]")
    set_version(env, "tamper-canary", tampered)
    started = time.monotonic()
    wait_for(lambda: env.status("tamper-canary").get("phase") == "RolledBack", 60,
             "the tampered canary to be rolled back", env.operator.log)
    elapsed = time.monotonic() - started
    status = env.status("tamper-canary")
    assert status["rollbackReason"].startswith("ChecksumMismatch:"), status["rollbackReason"]
    assert "model checksum mismatch" in status["rollbackReason"]
    # Not the 10 minute progress deadline: as soon as a pod said why it cannot start.
    assert elapsed <= 30.0, f"rolled back after {elapsed:.0f}s"
    assert status["weights"] == {"stable": 100, "canary": 0}
    remove(env, "tamper-canary")


def progressing(env: Env, name: str) -> dict:
    """The Deployment's Progressing condition, or {} while it has none."""
    conditions = env.status(name).get("conditions") or []
    return next((c for c in conditions if c["type"] == "Progressing"), {})


def test_a_tampered_first_version_says_why_in_its_condition_within_30s(
    env: Env, tampered: str
) -> None:
    env.apply(f"""
apiVersion: mlops.dev/v1alpha1
kind: Deployment
metadata: {{name: tamper-first}}
spec: {{modelVersion: {tampered}, replicas: 1}}
""")

    wait_for(lambda: progressing(env, "tamper-first").get("reason") == "ChecksumMismatch", 30,
             "the checksum mismatch in the Deployment's condition", env.operator.log)
    condition = progressing(env, "tamper-first")
    assert "model checksum mismatch" in condition["message"], condition
    assert env.status("tamper-first")["phase"] == "Degraded"
    events = kubectl(env.kubeconfig, "get", "events", "-n", env.namespace, "--field-selector",
                     "involvedObject.name=tamper-first,reason=ChecksumMismatch", "-o",
                     "json").stdout
    assert "model checksum mismatch" in events
    remove(env, "tamper-first")


def test_a_model_server_image_the_node_does_not_have_is_named_in_the_condition(
        env: Env) -> None:
    image = "localhost/mlops-operator/runtime:never-loaded"
    env.apply(f"""
apiVersion: mlops.dev/v1alpha1
kind: Deployment
metadata: {{name: unloaded}}
spec: {{modelVersion: iris-v1, replicas: 1, image: "{image}"}}
""")

    def pull_failure() -> dict | None:
        found = progressing(env, "unloaded")
        return found if found.get("reason") in ("ErrImagePull", "ImagePullBackOff") else None

    condition = wait_for(pull_failure, 60, "the pull failure in the Deployment's condition",
                         env.operator.log)
    assert image in condition["message"], condition
    remove(env, "unloaded")


def test_a_query_prometheus_cannot_parse_pauses_the_canary_within_seconds(env: Env) -> None:
    broken = ("{name: broken, query: 'sum(rate(mlops_requests_total[1m]', threshold: 1, "
              "interval: 2s}")
    deploy(env, "unparsable", f"[{{setWeight: 50}}, {{analysis: {{checks: [{broken}]}}}}]")
    set_version(env, "unparsable", "iris-v2")
    wait_for(lambda: env.status("unparsable").get("phase") == "Paused", 60,
             "the canary to pause on the broken query", env.operator.log)
    status = env.status("unparsable")
    assert "Prometheus refused the query" in status["pauseReason"], status["pauseReason"]
    condition = progressing(env, "unparsable")
    assert condition["reason"] == "AnalysisInconclusive"
    assert "broken" in condition["message"] and "parse error" in condition["message"]
    assert status["stableVersion"] == "iris-v1" and status["canaryVersion"] == "iris-v2"
    remove(env, "unparsable")

def test_the_dashboards_queries_run_on_prometheus_and_show_a_serving_deployment(
        env: Env) -> None:
    deploy(env, "charted", "[{setWeight: 50}, {pause: {duration: 1s}}]")
    prometheus = env.endpoints["prometheus"]

    def run(expr: str) -> dict:
        answer = httpx.get(f"{prometheus}/api/v1/query", params={"query": expr}, timeout=10)
        return answer.json()

    servers = queries(REPO / "manifests/monitoring/dashboards/model-servers.json",
                      namespace=env.namespace, deployment="charted")
    with LoadGenerator(env.service_url("charted"), rate=20):
        shown = {"Requests per second", "Latency p50 and p99", "Predicted classes (share)",
                 "Served artifacts", "Rows per request (p50)"}
        wait_for(lambda: all(run(e)["data"]["result"] for t, e in servers if t in shown),
                 90, "the model-server panels to show the Deployment's traffic")
    rollouts = queries(REPO / "manifests/monitoring/dashboards/rollouts.json")
    for title, expr in servers + rollouts:
        answer = run(expr)
        assert answer["status"] == "success", (title, expr, answer)
    remove(env, "charted")
