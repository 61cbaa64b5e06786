"""What tools read from the three kinds on the local cluster: kstatus (built from
sigs.k8s.io/cli-utils, as Flux and kpt use it) and Argo CD's health scripts on every phase
of every kind, Argo CD's actions, ``kubectl wait``, the API server's refusals of children
as conditions, and a TrainingJob's spec that trains once."""

from __future__ import annotations

import json

import pytest
from mlops_dev import kstatus

from tests import argocd
from tests.cluster.conftest import OperatorProcess, wait_for
from tests.cluster.test_training import REGRESSION, apply, get, phase
from tests.conftest import kubectl

pytestmark = pytest.mark.cluster

#: Resources the API server refuses in any pod template: the limit is below the request.
REFUSED_RESOURCES = "{requests: {cpu: 200m}, limits: {cpu: 100m}}"


def iris_job(name: str, extra: str = "") -> str:
    return f"""
apiVersion: mlops.dev/v1alpha1
kind: TrainingJob
metadata: {{name: {name}}}
spec:
  model: iris
  dataset: {{uri: "sklearn://iris"}}
  estimator: {{name: LogisticRegression, params: {{max_iter: 300}}}}
{extra}
"""


def mlops_deployment(name: str, version: str, extra: str = "") -> str:
    return f"""
apiVersion: mlops.dev/v1alpha1
kind: Deployment
metadata: {{name: {name}}}
spec:
  modelVersion: {version}
  replicas: 1
  strategy: {{steps: [{{setWeight: 50}}, {{pause: {{}}}}]}}
{extra}
"""


def wait(kubeconfig: str, namespace: str, what: str, condition: str,
         seconds: int) -> bool:
    """``kubectl wait --for=condition=...``: whether it said so within ``seconds``."""
    result = kubectl(kubeconfig, "wait", "-n", namespace, f"--for=condition={condition}",
                     what, f"--timeout={seconds}s", check=False, timeout=seconds + 30)
    return result.returncode == 0


def capture(kubeconfig: str, namespace: str, kind: str, name: str, phases: set[str],
            operator: OperatorProcess, seconds: float = 120) -> dict:
    """The object as stored at the moment its phase is one of ``phases``."""
    return wait_for(lambda: (lambda body: (body.get("status") or {}).get("phase") in phases
                             and body)(get(kubeconfig, namespace, kind, name)),
                    seconds, f"{kind} {name} in {sorted(phases)}", operator.log)


def condition(body: dict, type_: str) -> dict:
    return next((c for c in (body.get("status") or {}).get("conditions") or []
                 if c["type"] == type_), {})


#: "Kind/Phase" -> (what kstatus says, what Argo CD's health check says).
TOOLS_SAY = {
    "TrainingJob/Running": ("InProgress", "Progressing"),
    "TrainingJob/Succeeded": ("Current", "Healthy"),
    "TrainingJob/Failed": ("Failed", "Degraded"),
    "ModelVersion/Verifying": ("InProgress", "Progressing"),
    "ModelVersion/Approved": ("Current", "Healthy"),
    "ModelVersion/Rejected": ("Failed", "Degraded"),
    "ModelVersion/Invalid": ("Failed", "Degraded"),
    "Deployment/Progressing": ("InProgress", "Progressing"),
    "Deployment/Paused": ("InProgress", "Suspended"),
    "Deployment/Healthy": ("Current", "Healthy"),
    "Deployment/RolledBack": ("Failed", "Degraded"),
    "Deployment/Degraded": ("Failed", "Degraded"),
}


def test_kstatus_and_kubectl_wait_tell_the_truth_on_every_phase_of_every_kind(
    kubeconfig: str, namespace: str, operator: OperatorProcess,
) -> None:
    seen: dict[str, dict] = {}  # "Kind/Phase" -> the object as stored then
    apply(kubeconfig, namespace, iris_job("iris-a"))
    seen["TrainingJob/Running"] = capture(kubeconfig, namespace, "tj", "iris-a",
                                          {"Pending", "Running"}, operator)
    apply(kubeconfig, namespace, iris_job("iris-b", "  qualityGate: {metrics: "
                                                    "[{name: accuracy, min: 0.5}]}"))
    apply(kubeconfig, namespace, REGRESSION.replace("min: 0.2", "min: 0.99"))  # Rejected
    apply(kubeconfig, namespace, iris_job("refused", f"  resources: {REFUSED_RESOURCES}"))
    sha = "a" * 64
    apply(kubeconfig, namespace, f"""
apiVersion: mlops.dev/v1alpha1
kind: ModelVersion
metadata: {{name: ext-latest}}
spec: {{model: ext, version: 1, artifact: {{uri: "pvc://ext/m.onnx", sha256: "{sha}"}}}}
---
apiVersion: mlops.dev/v1alpha1
kind: ModelVersion
metadata: {{name: ext-v2}}
spec: {{model: ext, version: 2, artifact: {{uri: "pvc://no-such-claim/m.onnx", sha256: "{sha}"}}}}
""")
    # The user's own way to wait: Ready on a TrainingJob means its version is recorded.
    assert wait(kubeconfig, namespace, "tj/iris-a", "Ready", 180), operator.log()
    assert wait(kubeconfig, namespace, "tj/iris-b", "Ready", 120)
    assert wait(kubeconfig, namespace, "tj/refused", "Stalled", 30)
    for kind, name, phases in (("tj", "iris-a", {"Succeeded"}), ("tj", "refused", {"Failed"}),
                               ("mv", "iris-v1", {"Approved"}),
                               ("mv", "ext-latest", {"Invalid"}),
                               ("mv", "ext-v2", {"Verifying"})):
        body = capture(kubeconfig, namespace, kind, name, phases, operator)
        seen[f"{body['kind']}/{body['status']['phase']}"] = body
    seen["ModelVersion/Rejected"] = capture(kubeconfig, namespace, "mv", "diabetes-v1",
                                            {"Rejected"}, operator)

    apply(kubeconfig, namespace, mlops_deployment("serve", "iris-v1"))
    seen["Deployment/Progressing"] = capture(kubeconfig, namespace, "mld", "serve",
                                             {"Progressing"}, operator, 30)
    assert wait(kubeconfig, namespace, "mld/serve", "Ready", 120), operator.log()
    seen["Deployment/Healthy"] = get(kubeconfig, namespace, "mld", "serve")
    kubectl(kubeconfig, "patch", "mld", "serve", "-n", namespace, "--type=merge",
            "-p", json.dumps({"spec": {"modelVersion": "iris-v2"}}))
    paused = seen["Deployment/Paused"] = capture(kubeconfig, namespace, "mld", "serve",
                                                 {"Paused"}, operator)
    # Argo CD's abort action, run on the object as stored, then patched in as Argo CD does.
    assert argocd.discover("Deployment", paused) == {
        "promote": False, "abort": False, "pause": False, "resume": True}
    aborted = argocd.action("Deployment", "abort", paused)
    kubectl(kubeconfig, "patch", "mld", "serve", "-n", namespace, "--type=merge",
            "-p", json.dumps({"metadata": {"annotations": aborted["metadata"]["annotations"]}}))
    seen["Deployment/RolledBack"] = capture(kubeconfig, namespace, "mld", "serve",
                                            {"RolledBack"}, operator)
    wait_for(lambda: "mlops.dev/abort" not in (get(kubeconfig, namespace, "mld", "serve")
                                               ["metadata"].get("annotations") or {}),
             30, "the operator to remove the spent abort annotation", operator.log)
    assert not argocd.discover("Deployment", seen["Deployment/RolledBack"])["pause"]
    apply(kubeconfig, namespace, mlops_deployment("refused", "iris-v1",
                                                  f"  resources: {REFUSED_RESOURCES}"))
    seen["Deployment/Degraded"] = capture(kubeconfig, namespace, "mld", "refused",
                                          {"Degraded"}, operator, 15)
    assert_refused_children_are_named(kubeconfig, namespace, operator,
                                      seen["TrainingJob/Failed"], seen["Deployment/Degraded"])

    kstatus_says = dict(zip(seen, (r["status"] for r in kstatus.compute(list(seen.values()))),
                            strict=True))
    argo = {key: argocd.health(key.split("/")[0], body) for key, body in seen.items()}
    assert {key: (kstatus_says[key], argo[key]["status"]) for key in seen} == TOOLS_SAY
    assert "resources" in argo["Deployment/Degraded"]["message"]
    # A spec change not yet seen is InProgress whatever the conditions say.
    unseen = json.loads(json.dumps(seen["Deployment/Healthy"]))
    unseen["metadata"]["generation"] += 1
    assert kstatus.compute([unseen])[0]["status"] == "InProgress"
    # kubectl wait does not call a Failed TrainingJob Ready.
    assert not wait(kubeconfig, namespace, "tj/refused", "Ready", 2)


def assert_refused_children_are_named(kubeconfig: str, namespace: str,
                                      operator: OperatorProcess, *bodies: dict) -> None:
    """The API server's refusal of a Job or a workload built from the spec is a Stalled
    condition and a Warning Event with its words (which name the field), no traceback."""
    for body, reason in zip(bodies, ("JobRefused", "ChildRefused"), strict=True):
        stalled = condition(body, "Stalled")
        assert (stalled["status"], stalled["reason"]) == ("True", reason), stalled
        assert "resources" in stalled["message"] and "limit" in stalled["message"], stalled
        assert stalled["observedGeneration"] == body["metadata"]["generation"]
    events = json.loads(kubectl(kubeconfig, "get", "events", "-n", namespace,
                                "-o", "json").stdout)["items"]
    reasons = {(e["involvedObject"]["kind"], e["reason"]) for e in events
               if e["type"] == "Warning"}
    assert {("TrainingJob", "JobRefused"), ("Deployment", "ChildRefused")} <= reasons
    assert "Traceback" not in operator.log_path.read_text(errors="replace")


def test_a_training_job_trains_once_its_spec_is_immutable_but_retraining_may_change(
    kubeconfig: str, namespace: str, operator: OperatorProcess,
) -> None:
    apply(kubeconfig, namespace, iris_job("once", f"  resources: {REFUSED_RESOURCES}"))
    wait_for(lambda: phase(kubeconfig, namespace, "tj", "once") == "Failed", 30,
             "the TrainingJob to end", operator.log)
    for change in ({"estimator": {"params": {"max_iter": 500}}}, {"model": "other"},
                   {"resources": None}):
        result = kubectl(kubeconfig, "patch", "tj", "once", "-n", namespace, "--type=merge",
                         "-p", json.dumps({"spec": change}), check=False)
        field = next(iter(change))
        assert result.returncode != 0, change
        assert f"spec.{field} is immutable" in result.stderr, result.stderr
        assert "create a new TrainingJob" in result.stderr
    kubectl(kubeconfig, "patch", "tj", "once", "-n", namespace, "--type=merge",
            "-p", json.dumps({"spec": {"ttlSecondsAfterFinished": 3600}}))
    body = wait_for(lambda: (lambda b: b["status"].get("observedGeneration")
                             == b["metadata"]["generation"] and b)(
        get(kubeconfig, namespace, "tj", "once")), 15, "the new generation observed",
        operator.log)
    assert body["metadata"]["generation"] == 2 and body["status"]["phase"] == "Failed"
    assert kstatus.compute([body])[0]["status"] == "Failed"
    assert not kubectl(kubeconfig, "get", "jobs", "-n", namespace, "-o", "name").stdout.strip()


def test_kubectl_explain_documents_status_and_the_api_server_checks_its_shape(
    kubeconfig: str, crds: None, namespace: str,
) -> None:
    for field, words in (("trainingjobs.status.modelVersion", "ModelVersion this training"),
                         ("modelversions.status.gate.baseline", "compared with"),
                         ("deployments.mlops.dev.status.effectiveWeight", "router actually")):
        explained = kubectl(kubeconfig, "explain", field).stdout
        assert words in explained, explained
    apply(kubeconfig, namespace, iris_job("shape"))
    refused = kubectl(kubeconfig, "patch", "tj", "shape", "-n", namespace, "--subresource",
                      "status", "--type", "merge", "-p",
                      json.dumps({"status": {"phase": "Done", "metrics": {"accuracy": "high"}}}),
                      check=False)
    assert refused.returncode != 0
    assert "status.phase" in refused.stderr and "status.metrics.accuracy" in refused.stderr
