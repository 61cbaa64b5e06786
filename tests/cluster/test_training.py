"""TrainingJob -> ModelVersion on the local cluster, with the operator as a process."""

from __future__ import annotations

import datetime as dt
import json
import time

import httpx
import numpy as np
import onnxruntime
import pytest
from mlops_dev.node.images import RUNTIME_IMAGE
from mlops_runtime import stores
from sklearn.datasets import load_iris

from tests.cluster.conftest import OperatorProcess, wait_for
from tests.conftest import REPO, kubectl

pytestmark = pytest.mark.cluster


def get(kubeconfig: str, namespace: str, kind: str, name: str) -> dict:
    result = kubectl(kubeconfig, "get", kind, name, "-n", namespace, "-o", "json", check=False)
    return json.loads(result.stdout) if result.returncode == 0 else {}


def condition_of(kubeconfig: str, namespace: str, name: str, kind: str) -> dict:
    """The TrainingJob's condition of that type, or {} while it has none."""
    status = get(kubeconfig, namespace, "tj", name).get("status") or {}
    return next((c for c in status.get("conditions") or [] if c["type"] == kind), {})


def phase(kubeconfig: str, namespace: str, kind: str, name: str) -> str:
    return (get(kubeconfig, namespace, kind, name).get("status") or {}).get("phase", "")


def apply(kubeconfig: str, namespace: str, manifest: str) -> None:
    kubectl(kubeconfig, "apply", "-n", namespace, "-f", "-", input=manifest)


def artifact_path(kubeconfig: str, namespace: str, uri: str) -> str:
    """Where a pvc:// artifact lives on the local node (the claim's PersistentVolume)."""
    claim, _, rest = uri[len("pvc://"):].partition("/")
    volume = kubectl(kubeconfig, "get", "pvc", claim, "-n", namespace, "-o",
                     "jsonpath={.spec.volumeName}").stdout
    root = kubectl(kubeconfig, "get", "pv", volume, "-o",
                   "jsonpath={.spec.hostPath.path}").stdout
    return f"{root}/{rest}"


def write_to_claim(kubeconfig: str, namespace: str, claim: str, name: str,
                   content: bytes) -> None:
    """Create ``claim`` (default StorageClass) and write ``content`` into it as ``name``,
    from a pod, as a user copies an artifact into a volume."""
    apply(kubeconfig, namespace, f"""
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {{name: {claim}}}
spec:
  accessModes: [ReadWriteOnce]
  resources: {{requests: {{storage: 64Mi}}}}
---
apiVersion: batch/v1
kind: Job
metadata: {{name: copy-{claim}}}
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      securityContext: {{runAsNonRoot: true, runAsUser: 65532}}
      containers:
        - name: copy
          image: {RUNTIME_IMAGE}
          command: [sh, -c, 'printf %s "$CONTENT" > /claim/{name}']
          env: [{{name: CONTENT, value: "{content.decode()}"}}]
          volumeMounts: [{{name: claim, mountPath: /claim}}]
      volumes: [{{name: claim, persistentVolumeClaim: {{claimName: {claim}}}}}]
""")
    kubectl(kubeconfig, "wait", "-n", namespace, "--for=condition=Complete",
            f"job/copy-{claim}", "--timeout=90s", timeout=100)


def test_iris_example_gives_an_approved_version_whose_artifact_predicts(
    kubeconfig: str, namespace: str, operator: OperatorProcess,
) -> None:
    started = time.monotonic()
    kubectl(kubeconfig, "apply", "-n", namespace, "-f",
            str(REPO / "manifests/examples/trainingjob-iris.yaml"))
    wait_for(lambda: phase(kubeconfig, namespace, "mv", "iris-v1") == "Approved", 60,
             "iris-v1 Approved", operator.log)
    elapsed = time.monotonic() - started
    version = get(kubeconfig, namespace, "mv", "iris-v1")
    spec = version["spec"]
    assert spec["metrics"]["accuracy"] > 0.85
    assert spec["dataset"]["sha256"] and spec["dataset"]["uri"] == "sklearn://iris"
    assert spec["lineage"]["trainingJob"] == "iris-logreg"
    assert [f["name"] for f in spec["inputSchema"]["features"]][0] == "sepal length (cm)"
    # The evaluation a reviewer reads: folds, the confusion matrix, pictures on the claim.
    folds = spec["crossValidation"]
    assert folds["folds"] == 5 and folds["method"] == "stratified"
    accuracy = folds["metrics"]["accuracy"]
    assert 0.8 < accuracy["mean"] <= 1 and accuracy["std"] >= 0
    matrix = spec["diagnostics"]["confusionMatrix"]
    assert matrix["labels"] == ["0", "1", "2"]
    assert sum(map(sum, matrix["counts"])) == spec["evaluation"]["rows"] == 45
    assert {"confusion-matrix", "roc", "calibration"} <= set(spec["plots"])
    with open(artifact_path(kubeconfig, namespace, spec["plots"]["roc"]), "rb") as handle:
        assert handle.read(8) == b"\x89PNG\r\n\x1a\n"
    job = get(kubeconfig, namespace, "tj", "iris-logreg")
    assert job["status"]["phase"] == "Succeeded"
    assert job["status"]["modelVersion"] == "iris-v1"
    # The artifact exists, matches its checksum, and predicts like a model should.
    path = artifact_path(kubeconfig, namespace, spec["artifact"]["uri"])
    with open(path, "rb") as handle:
        data = handle.read()
    assert stores.sha256_hex(data) == spec["artifact"]["sha256"]
    session = onnxruntime.InferenceSession(data)
    features, target = load_iris(return_X_y=True)
    labels = session.run(None, {"input": features.astype(np.float32)})[0]
    assert (labels == target).mean() > 0.9
    printed = kubectl(kubeconfig, "get", "mv", "-n", namespace).stdout
    assert "iris-v1" in printed and "Approved" in printed and "accuracy=" in printed
    print(f"iris TrainingJob to Approved ModelVersion: {elapsed:.1f}s")


REGRESSION = """
apiVersion: mlops.dev/v1alpha1
kind: TrainingJob
metadata: {name: diabetes}
spec:
  model: diabetes
  dataset: {uri: "sklearn://diabetes"}
  estimator: {name: Ridge, params: {alpha: 0.5}}
  qualityGate:
    metrics: [{name: r2, min: 0.2}]
"""


def test_regression_job_and_a_gate_that_cannot_be_met(
    kubeconfig: str, namespace: str, operator: OperatorProcess,
) -> None:
    apply(kubeconfig, namespace, REGRESSION)
    strict = REGRESSION.replace("name: diabetes}", "name: diabetes-strict}").replace(
        "min: 0.2", "min: 0.99")
    apply(kubeconfig, namespace, strict)
    wait_for(lambda: phase(kubeconfig, namespace, "tj", "diabetes") == "Succeeded"
             and phase(kubeconfig, namespace, "tj", "diabetes-strict") == "Succeeded",
             90, "both regression jobs to finish", operator.log)
    versions = {
        get(kubeconfig, namespace, "tj", name)["status"]["modelVersion"]: name
        for name in ("diabetes", "diabetes-strict")
    }
    assert sorted(versions) == ["diabetes-v1", "diabetes-v2"]  # no gaps, no duplicates
    by_job = {job: get(kubeconfig, namespace, "mv", mv) for mv, job in versions.items()}
    assert by_job["diabetes"]["status"]["phase"] == "Approved"
    assert {"rmse", "mae", "r2"} <= set(by_job["diabetes"]["spec"]["metrics"])
    residuals = by_job["diabetes"]["spec"]["diagnostics"]["residuals"]
    assert residuals["std"] > 0 and residuals["maxAbs"] >= abs(residuals["mean"])
    assert "residuals" in by_job["diabetes"]["spec"]["plots"]
    rejected = by_job["diabetes-strict"]["status"]
    assert rejected["phase"] == "Rejected"
    assert any(not r["passed"] and "r2" in r["message"] and "0.99" in r["message"]
               for r in rejected["gate"])


@pytest.mark.parametrize(
    ("spec", "reason", "words"),
    [
        ('{uri: "file:///nonexistent/data.csv"}', "DatasetUnreachable", "/nonexistent/data.csv"),
        ('{uri: "sklearn://iris", target: species}', "MissingTargetColumn", "species"),
    ],
)
def test_failures_end_in_failed_with_a_message_naming_the_cause(
    kubeconfig: str, namespace: str, operator: OperatorProcess, spec: str, reason: str,
    words: str,
) -> None:
    apply(kubeconfig, namespace, f"""
apiVersion: mlops.dev/v1alpha1
kind: TrainingJob
metadata: {{name: broken}}
spec:
  model: broken
  dataset: {spec}
  estimator: {{name: LogisticRegression}}
  backoffLimit: 0
""")
    wait_for(lambda: phase(kubeconfig, namespace, "tj", "broken") == "Failed", 60,
             "the TrainingJob to fail", operator.log)
    status = get(kubeconfig, namespace, "tj", "broken")["status"]
    condition = next(c for c in status["conditions"] if c["type"] == "Succeeded")
    assert condition["status"] == "False"
    assert condition["reason"] == reason
    assert words in condition["message"]
    events = kubectl(kubeconfig, "get", "events", "-n", namespace, "-o", "json").stdout
    assert reason in events


def test_an_image_the_node_does_not_have_is_named_in_the_condition(
    kubeconfig: str, namespace: str, operator: OperatorProcess,
) -> None:
    """An image that was never loaded (and whose registry, loopback here, has nothing)."""
    image = "localhost/mlops-operator/runtime:never-loaded"
    apply(kubeconfig, namespace, f"""
apiVersion: mlops.dev/v1alpha1
kind: TrainingJob
metadata: {{name: unloaded}}
spec:
  model: unloaded
  image: {image}
  dataset: {{uri: "sklearn://iris"}}
  estimator: {{name: LogisticRegression}}
""")

    def pull_failure() -> dict | None:
        found = condition_of(kubeconfig, namespace, "unloaded", "Succeeded")
        return found if found.get("reason") in ("ErrImagePull", "ImagePullBackOff") else None

    found = wait_for(pull_failure, 60, "the pull failure in the condition", operator.log)
    assert image in found["message"], found


def test_deadline_exceeded_is_reported(kubeconfig: str, namespace: str,
                                       operator: OperatorProcess) -> None:
    apply(kubeconfig, namespace, """
apiVersion: mlops.dev/v1alpha1
kind: TrainingJob
metadata: {name: slow}
spec:
  model: slow
  dataset: {uri: "sklearn://digits"}
  estimator: {name: RandomForestClassifier, params: {n_estimators: 3000}}
  activeDeadlineSeconds: 2
  backoffLimit: 0
""")
    wait_for(lambda: phase(kubeconfig, namespace, "tj", "slow") == "Failed", 60,
             "the deadline to fail the job", operator.log)
    condition = get(kubeconfig, namespace, "tj", "slow")["status"]["conditions"][0]
    assert condition["reason"] == "DeadlineExceeded"
    assert "2 s" in condition["message"]


def test_a_missing_secret_reaches_the_training_job_condition_within_seconds(
    kubeconfig: str, namespace: str, operator: OperatorProcess
) -> None:
    apply(kubeconfig, namespace, """
apiVersion: mlops.dev/v1alpha1
kind: TrainingJob
metadata: {name: no-credentials}
spec:
  model: secretive
  dataset: {uri: "s3://datasets/iris.csv", s3: {secretRef: {name: missing-credentials}}}
  estimator: {name: LogisticRegression}
""")

    def config_error() -> dict | None:
        found = condition_of(kubeconfig, namespace, "no-credentials", "Succeeded")
        return found if found.get("reason") == "CreateContainerConfigError" else None

    found = wait_for(config_error, 30, "the missing Secret in the condition", operator.log)
    assert "missing-credentials" in found["message"], found


def test_killing_the_operator_mid_run_yields_exactly_one_version(
    kubeconfig: str, namespace: str, operator: OperatorProcess,
) -> None:
    manifest = (REPO / "manifests/examples/trainingjob-iris.yaml").read_text()
    apply(kubeconfig, namespace, manifest)
    # Kill it as soon as the training Job exists, then again right after the
    # version appears (before or while it records it), and restart each time.
    wait_for(lambda: kubectl(kubeconfig, "get", "job", "iris-logreg-train", "-n", namespace,
                             check=False).returncode == 0, 30, "the training Job", operator.log)
    operator.kill()
    wait_for(lambda: kubectl(kubeconfig, "wait", "--for=condition=Complete", "-n", namespace,
                             "job/iris-logreg-train", "--timeout=5s",
                             check=False).returncode == 0, 60, "training to finish")
    operator.start()
    wait_for(lambda: get(kubeconfig, namespace, "mv", "iris-v1"), 30, "iris-v1", operator.log)
    operator.kill()
    operator.start()
    wait_for(lambda: phase(kubeconfig, namespace, "tj", "iris-logreg") == "Succeeded", 30,
             "the TrainingJob to succeed", operator.log)
    listed = json.loads(kubectl(kubeconfig, "get", "mv", "-n", namespace, "-o",
                                "json").stdout)["items"]
    assert [v["metadata"]["name"] for v in listed] == ["iris-v1"]
    assert listed[0]["status"]["phase"] == "Approved"


@pytest.mark.parametrize(
    ("manifest", "words"),
    [
        ("spec: {model: x, dataset: {uri: 'ftp://host/data.csv'}, estimator: {name: Ridge}}",
         "dataset.uri must start with"),
        ("spec: {model: x, dataset: {uri: 'sklearn://iris'}, estimator: {name: Nope}}",
         "Unsupported value: \"Nope\""),
        ("spec: {model: x, dataset: {uri: 'sklearn://iris'}}",
         "set exactly one of spec.estimator"),
        ("spec: {model: Bad_Name, dataset: {uri: 'sklearn://iris'}, estimator: {name: Ridge}}",
         "spec.model"),
        ("spec: {model: x, dataset: {uri: 'sklearn://iris'}, estimator: {name: Ridge},"
         " qualityGate: {metrics: [{name: accuracy}]}}", "needs min or max"),
        ("spec: {model: x, dataset: {uri: 'sklearn://iris'}, estimator: {name: Ridge},"
         " crossValidation: {method: group}}", "groupColumn is required with method: group"),
        ("spec: {model: x, dataset: {uri: 'sklearn://iris'}, estimator: {name: Ridge},"
         " crossValidation: {folds: 1}}", "spec.crossValidation.folds"),
        ("spec: {model: x, dataset: {uri: 'sklearn://iris', target: sex},"
         " estimator: {name: LogisticRegression}, qualityGate: {fairness: {sensitiveFeatures:"
         " [sex], limits: [{metric: demographic_parity_difference, max: 0.1}]}}}",
         "sensitiveFeatures must not name the target column"),
        ("spec: {model: x, dataset: {uri: 'sklearn://iris', features: [sex, age]},"
         " estimator: {name: LogisticRegression}, qualityGate: {fairness: {sensitiveFeatures:"
         " [sex], limits: [{metric: demographic_parity_difference, max: 0.1}]}}}",
         "dataset.features must not list them"),
        ("spec: {model: x, dataset: {uri: 'sklearn://iris'}, estimator: {name: Ridge},"
         " qualityGate: {fairness: {sensitiveFeatures: [sex], limits: [{metric: accuracy,"
         " max: 0.1}]}}}", "spec.qualityGate.fairness.limits[0].metric"),
        ("spec: {model: x, dataset: {uri: 'sklearn://iris'}, estimator: {name: Ridge},"
         " qualityGate: {fairness: {sensitiveFeatures: [sex], limits:"
         " [{metric: demographic_parity_ratio}]}}}", "a fairness limit needs min or max"),
        ("spec: {model: x, dataset: {uri: 'sklearn://iris'}, container: {image: 'a/b:1'},"
         " qualityGate: {fairness: {sensitiveFeatures: [sex], mitigation: reweighing, limits:"
         " [{metric: demographic_parity_ratio, min: 0.8}]}}}",
         "qualityGate.fairness.mitigation is for the built-in trainer"),
    ],
)
def test_invalid_training_jobs_are_refused_at_admission(
    kubeconfig: str, crds: None, namespace: str, manifest: str, words: str,
) -> None:
    document = "apiVersion: mlops.dev/v1alpha1\nkind: TrainingJob\nmetadata: {name: bad}\n"
    result = kubectl(kubeconfig, "apply", "-n", namespace, "-f", "-",
                     input=document + manifest, check=False)
    assert result.returncode != 0
    assert words in result.stderr


def test_model_version_spec_is_immutable(kubeconfig: str, crds: None, namespace: str) -> None:
    version = """
apiVersion: mlops.dev/v1alpha1
kind: ModelVersion
metadata: {name: ext-v1}
spec:
  model: ext
  version: 1
  artifact: {uri: "file:///tmp/x.onnx", sha256: "%s"}
"""
    apply(kubeconfig, namespace, version % ("a" * 64))
    result = kubectl(kubeconfig, "apply", "-n", namespace, "-f", "-",
                     input=version % ("b" * 64), check=False)
    assert result.returncode != 0
    assert "immutable" in result.stderr


def test_a_hand_registered_version_is_verified(
    kubeconfig: str, namespace: str, operator: OperatorProcess,
) -> None:
    """An artifact trained elsewhere, copied into a claim (pvc://), registered by hand."""
    content = b"an externally trained model"
    write_to_claim(kubeconfig, namespace, "ext-models", "model.onnx", content)
    good = stores.sha256_hex(content)
    artifact, missing = "pvc://ext-models/model.onnx", "pvc://ext-models/missing.onnx"
    template = """
apiVersion: mlops.dev/v1alpha1
kind: ModelVersion
metadata: {name: %s}
spec:
  model: ext
  version: %d
  artifact: {uri: "%s", sha256: "%s"}
  lineage: {registeredBy: "data-science team"}
"""
    apply(kubeconfig, namespace, template % ("ext-v1", 1, artifact, good))
    apply(kubeconfig, namespace, template % ("ext-v2", 2, artifact, "0" * 64))
    apply(kubeconfig, namespace, template % ("ext-v3", 3, missing, good))
    apply(kubeconfig, namespace, template % ("ext-v9", 4, artifact, good))
    wait_for(lambda: all(phase(kubeconfig, namespace, "mv", f"ext-v{n}") in
                         ("Approved", "Invalid") for n in (1, 2, 3, 9)),
             60, "all four versions verified", operator.log)
    status = {n: get(kubeconfig, namespace, "mv", f"ext-v{n}")["status"] for n in (1, 2, 3, 9)}
    assert status[1]["phase"] == "Approved", status[1]
    assert status[2]["phase"] == "Invalid" and "expected " + "0" * 64 in status[2]["message"]
    assert status[3]["phase"] == "Invalid" and "missing.onnx" in status[3]["message"]
    assert status[9]["phase"] == "Invalid" and "must be named ext-v4" in status[9]["message"]
    # The Approved one gets a model card beside its artifact, from what it declares.
    card = wait_for(lambda: ((get(kubeconfig, namespace, "mv", "ext-v1").get("status") or {})
                             .get("modelCard") or {}).get("uri"), 60, "ext-v1's model card",
                    operator.log)
    assert card == "pvc://ext-models/ext-v1.model-card.md"
    with open(artifact_path(kubeconfig, namespace, card), encoding="utf-8") as handle:
        text = handle.read()
    assert "Phase: **Approved**" in text and "registered by hand (`data-science team`)" in text
    assert "modelCard" not in status[2]  # an Invalid version has none


# ---- retraining (spec.retrain) ------------------------------------------------------------
RETRAINING = """
apiVersion: mlops.dev/v1alpha1
kind: TrainingJob
metadata: {name: %(name)s}
spec:
  model: %(model)s
  dataset: {uri: "sklearn://iris", testFraction: 0.3, randomSeed: 7}
  estimator: {name: LogisticRegression, params: {max_iter: 300}}
  qualityGate:
    metrics: [{name: accuracy, min: 0.8}]
    maxRegression: {metric: accuracy, tolerance: 0.05}
  retrain: %(retrain)s
"""




def events_of(kubeconfig: str, namespace: str, name: str, reason: str) -> list[str]:
    listed = json.loads(kubectl(kubeconfig, "get", "events", "-n", namespace, "-o", "json",
                                "--field-selector", f"involvedObject.name={name},"
                                f"reason={reason}").stdout)["items"]
    return [e["message"] for e in listed]


def runs_of(kubeconfig: str, namespace: str, parent: str) -> list[str]:
    listed = json.loads(kubectl(kubeconfig, "get", "tj", "-n", namespace, "-l",
                                f"mlops.dev/retrain-of={parent}", "-o", "json").stdout)["items"]
    return sorted(t["metadata"]["name"] for t in listed)


def gated_version_of(kubeconfig: str, namespace: str, run: str,
                     operator: OperatorProcess) -> dict:
    """The run's ModelVersion once the run succeeded and the gate judged it."""
    wait_for(lambda: phase(kubeconfig, namespace, "tj", run) == "Succeeded", 120,
             f"{run} to succeed", operator.log)
    name = get(kubeconfig, namespace, "tj", run)["status"]["modelVersion"]
    wait_for(lambda: phase(kubeconfig, namespace, "mv", name) in ("Approved", "Rejected"), 30,
             f"{name} gated", operator.log)
    return get(kubeconfig, namespace, "mv", name)


def post_alerts(alertmanager: str, alerts: list[dict]) -> None:
    response = httpx.post(f"{alertmanager}/api/v2/alerts", json=alerts)
    assert response.status_code == 200, response.text


def test_retrain_on_a_drift_alert_starts_one_gated_run_and_a_flap_within_min_interval_none(
    kubeconfig: str, namespace: str, endpoints: dict[str, str],
    measured_operator: OperatorProcess,
) -> None:
    operator = measured_operator
    apply(kubeconfig, namespace, RETRAINING % {
        "name": "drifty", "model": "iris", "retrain": "{onAlerts: [InputDrift], minInterval: 10m}"})
    wait_for(lambda: phase(kubeconfig, namespace, "mv", "iris-v1") == "Approved", 90,
             "the first training's iris-v1 Approved", operator.log)
    wait_for(lambda: condition_of(kubeconfig, namespace, "drifty", "Retraining").get("reason")
             == "Waiting", 30, "the retrain loop waiting", operator.log)
    started = dt.datetime.now(dt.UTC).replace(microsecond=0)
    labels = {"alertname": "InputDrift", "namespace": namespace, "model": "iris",
              "severity": "warning"}
    other = {**labels, "alertname": "NotListed"}
    posted = [{"labels": labels, "startsAt": started.isoformat().replace("+00:00", "Z")},
              {"labels": other, "startsAt": started.isoformat().replace("+00:00", "Z")}]
    try:
        post_alerts(endpoints["alertmanager"], posted)
        wait_for(lambda: runs_of(kubeconfig, namespace, "drifty"), 30,
                 "the alert to start a run", operator.log)
        version = gated_version_of(kubeconfig, namespace, "drifty-r1", operator)
        lineage = version["spec"]["lineage"]
        assert (lineage["trainingJob"], lineage["retrainOf"]) == ("drifty-r1", "drifty")
        assert lineage["trigger"] == {
            "type": "alert", "alert": "InputDrift", "labels": labels,
            "startsAt": started.isoformat().replace("+00:00", "Z")}
        # The gate compared it with the champion (iris-v1) re-scored on the same rows.
        assert version["metadata"]["name"] == "iris-v2"
        (regression,) = [r for r in version["status"]["gate"] if r.get("baseline")]
        assert regression["baseline"] == "iris-v1", regression
        assert "vs champion iris-v1" in regression["message"], regression
        assert version["status"]["phase"] == "Approved", version["status"]
        # The same alert firing again (a new instance) within minInterval starts none.
        flap = {**labels, "feature": "petal length (cm)"}
        post_alerts(endpoints["alertmanager"], [{"labels": flap}])
        skipped = wait_for(lambda: events_of(kubeconfig, namespace, "drifty",
                                             "RetrainSkipped"), 30,
                           "the flap to be skipped", operator.log)
        assert len(skipped) == 1 and "minInterval 10m" in skipped[0], skipped
        assert runs_of(kubeconfig, namespace, "drifty") == ["drifty-r1"]
        status = get(kubeconfig, namespace, "tj", "drifty")["status"]["retrain"]
        assert (status["runs"], status["lastRun"]) == (1, "drifty-r1")
        assert status["lastTrigger"]["alert"] == "InputDrift"
        assert len(events_of(kubeconfig, namespace, "drifty", "RetrainStarted")) == 1
    finally:  # resolve them, so Alertmanager stops re-sending them to later tests
        ended = dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z")
        post_alerts(endpoints["alertmanager"], [
            {**alert, "endsAt": ended} for alert in
            [*posted, {"labels": {**labels, "feature": "petal length (cm)"}}]])


def test_retrain_on_a_schedule_starts_a_run_until_max_runs(
    kubeconfig: str, namespace: str, operator: OperatorProcess,
) -> None:
    apply(kubeconfig, namespace, RETRAINING % {
        "name": "nightly", "model": "ticked",
        "retrain": '{schedule: "* * * * *", timeZone: Europe/Berlin, minInterval: 0s, '
                   "maxRuns: 1}"})
    # The first tick is the first whole minute after creation: at most a minute away.
    wait_for(lambda: runs_of(kubeconfig, namespace, "nightly"), 90,
             "the schedule to start a run", operator.log)
    version = gated_version_of(kubeconfig, namespace, "nightly-r1", operator)
    trigger = version["spec"]["lineage"]["trigger"]
    assert trigger["type"] == "schedule" and trigger["scheduledTime"].endswith(":00Z")
    assert version["spec"]["lineage"]["retrainOf"] == "nightly"
    condition = wait_for(
        lambda: (c := condition_of(kubeconfig, namespace, "nightly", "Retraining"))
        and c.get("reason") == "MaxRunsReached" and c, 30, "maxRuns reached", operator.log)
    assert condition["status"] == "False" and "maxRuns 1" in condition["message"]
    assert events_of(kubeconfig, namespace, "nightly", "RetrainLimitReached")
    status = get(kubeconfig, namespace, "tj", "nightly")["status"]
    assert status["retrain"]["runs"] == 1 and "nextScheduleTime" not in status["retrain"]
    # The TrainingJob's own training runs beside its first run and may finish after it.
    wait_for(lambda: phase(kubeconfig, namespace, "tj", "nightly") == "Succeeded", 120,
             "nightly's own training to succeed", operator.log)
    status = get(kubeconfig, namespace, "tj", "nightly")["status"]
    assert any(c["type"] == "Succeeded" for c in status["conditions"])
    printed = kubectl(kubeconfig, "get", "tj", "nightly", "-n", namespace).stdout
    assert "RUNS" in printed and "LAST RETRAIN" in printed


@pytest.mark.parametrize(
    ("retrain", "words"),
    [
        ('{schedule: "61 * * * *"}', "spec.retrain.schedule: invalid schedule '61 * * * *'"),
        ('{schedule: "0 3 * * *", timeZone: Europe/Atlantis}',
         "spec.retrain.timeZone: unknown time zone 'Europe/Atlantis'"),
    ],
)
def test_retrain_spec_cel_cannot_check_is_a_condition_and_a_warning_within_seconds(
    kubeconfig: str, namespace: str, operator: OperatorProcess, retrain: str, words: str,
) -> None:
    apply(kubeconfig, namespace, RETRAINING % {"name": "odd", "model": "odd",
                                               "retrain": retrain})
    condition = wait_for(
        lambda: (c := condition_of(kubeconfig, namespace, "odd", "Retraining"))
        and c.get("reason") == "InvalidSpec" and c, 15, "the InvalidSpec condition", operator.log)
    assert condition["status"] == "False" and condition["message"].startswith(words), condition
    warnings = wait_for(lambda: events_of(kubeconfig, namespace, "odd", "InvalidRetrainSpec"), 10,
                        "the warning Event", operator.log)
    assert words in warnings[0]
