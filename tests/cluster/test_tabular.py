"""Mixed-type tabular data on the local cluster: a loan-applications CSV copied into a
claim as a user would, trained by manifests/examples/trainingjob-loans.yaml, recorded with
its preprocessing plan, and served with JSON strings and nulls."""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path

import httpx
import numpy as np
import onnxruntime
import pytest
from mlops_dev.node.images import RUNTIME_IMAGE
from mlops_runtime import stores
from mlops_runtime.trainer.sample_data import to_bytes
from mlops_runtime.trainer.sample_loans import generate

from tests.cluster.conftest import OperatorProcess, wait_for
from tests.cluster.test_training import apply, artifact_path, get, phase
from tests.conftest import REPO, kubectl

pytestmark = pytest.mark.cluster

CLAIM = "mlops-artifacts"  # the claim the operator mounts in every training pod
DATASET = "datasets/loans.csv"
RECORD = {"applicant_age": 41.0, "annual_income": 52000.0, "employment_years": None,
          "home_ownership": "rent", "region": "south", "loan_purpose": "car",
          "loan_amount": 9000, "term_months": "60", "credit_score": 640.0,
          "debt_to_income": 31.0, "prior_defaults": 1, "has_cosigner": None}


def copy_into_claim(kubeconfig: str, namespace: str, files: dict[str, bytes]) -> None:
    """Put files (path in the claim -> content) into the claim (created like the operator
    creates it) the way a user does without a registry: a ConfigMap carries them (up to
    1 MiB in all), a pod of the runtime image that mounts the claim copies each."""
    keys = {f"file{index}": path for index, path in enumerate(files)}
    with tempfile.TemporaryDirectory() as directory:
        sources = []
        for key, path in keys.items():
            (Path(directory) / key).write_bytes(files[path])
            sources.append(f"--from-file={key}={Path(directory) / key}")
        kubectl(kubeconfig, "create", "configmap", "upload", "-n", namespace, *sources)
    pairs = {f"/upload/{key}": f"/claim/{path}" for key, path in keys.items()}
    script = (f"import os, shutil\nfor s, t in {pairs!r}.items():\n"
              "    os.makedirs(os.path.dirname(t), exist_ok=True); shutil.copyfile(s, t)")
    apply(kubeconfig, namespace, f"""
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {{name: {CLAIM}}}
spec:
  accessModes: [ReadWriteOnce]
  resources: {{requests: {{storage: 1Gi}}}}
---
apiVersion: batch/v1
kind: Job
metadata: {{name: upload}}
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      securityContext: {{runAsNonRoot: true, runAsUser: 65532}}
      containers:
        - name: copy
          image: {RUNTIME_IMAGE}
          command: [python, -c, {json.dumps(script)}]
          volumeMounts: [{{name: claim, mountPath: /claim}}, {{name: upload, mountPath: /upload}}]
      volumes:
        - {{name: claim, persistentVolumeClaim: {{claimName: {CLAIM}}}}}
        - {{name: upload, configMap: {{name: upload}}}}
""")
    kubectl(kubeconfig, "wait", "-n", namespace, "--for=condition=Complete", "job/upload",
            "--timeout=90s", timeout=100)


def service_url(kubeconfig: str, namespace: str, name: str) -> str:
    address = wait_for(lambda: get(kubeconfig, namespace, "svc", name).get("spec", {})
                       .get("clusterIP"), 30, f"service {name} address")
    return f"http://{address}:80"


def test_loans_csv_in_a_claim_trains_a_version_that_serves_strings(
    kubeconfig: str, namespace: str, operator: OperatorProcess,
) -> None:
    content = to_bytes(generate(rows=2000, seed=7), "csv")
    copy_into_claim(kubeconfig, namespace, {DATASET: content})
    kubectl(kubeconfig, "apply", "-n", namespace, "-f",
            str(REPO / "manifests/examples/trainingjob-loans.yaml"))
    wait_for(lambda: phase(kubeconfig, namespace, "mv", "loans-v1") == "Approved", 180,
             "loans-v1 Approved", operator.log)
    spec = get(kubeconfig, namespace, "mv", "loans-v1")["spec"]
    assert spec["dataset"]["uri"] == f"pvc://{CLAIM}/{DATASET}"
    assert spec["dataset"]["sha256"] == stores.sha256_hex(content)
    assert spec["artifact"]["format"] == "onnx" and spec["onnxMatches"] is True
    assert spec["metrics"]["roc_auc"] > 0.75
    types = {f["name"]: f["type"] for f in spec["inputSchema"]["features"]}
    assert types["loan_purpose"] == types["term_months"] == "string"
    assert types["has_cosigner"] == "bool" and types["credit_score"] == "float"
    # The plan, with the example's overrides, recorded in the version (params.preprocessing).
    plan = spec["params"]["preprocessing"]
    assert plan["categorical"] == {"impute": "constant", "fillValue": "unknown",
                                   "encode": "onehot"}
    assert plan["columns"]["term_months"] == {"kind": "categorical"}
    assert plan["columns"]["employment_years"] == {"impute": "constant", "fillValue": 0}
    shares = spec["referenceStats"]["loan_purpose"]
    assert shares["type"] == "categorical" and "car" in shares["shares"]
    assert {"mean", "std"} <= set(spec["referenceStats"]["credit_score"])

    # The artifact on the claim: one graph, one input per feature, strings as strings.
    with open(artifact_path(kubeconfig, namespace, spec["artifact"]["uri"]), "rb") as handle:
        data = handle.read()
    assert stores.sha256_hex(data) == spec["artifact"]["sha256"]
    session = onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])
    feeds = {}
    for value, tensor in zip(RECORD.values(), session.get_inputs(), strict=True):
        if tensor.type == "tensor(string)":
            feeds[tensor.name] = np.array([["" if value is None else value]], dtype=object)
        else:
            feeds[tensor.name] = np.array([[np.nan if value is None else float(value)]],
                                          dtype=np.float32)
    labels, probabilities = session.run(None, feeds)
    assert labels.tolist()[0] in (0, 1) and abs(float(probabilities.sum()) - 1) < 1e-5

    # Served: JSON records with strings and nulls, v2 BYTES tensors, a 400 naming a field.
    apply(kubeconfig, namespace, """
apiVersion: mlops.dev/v1alpha1
kind: Deployment
metadata: {name: loans}
spec:
  modelVersion: loans-v1
  replicas: 1
  strategy: {steps: [{setWeight: 50}]}
""")
    wait_for(lambda: (get(kubeconfig, namespace, "mld", "loans").get("status") or {})
             .get("phase") == "Healthy", 120, "loans Healthy", operator.log)
    url = service_url(kubeconfig, namespace, "loans")
    unseen = {**RECORD, "loan_purpose": "space_tourism", "region": None}
    with httpx.Client(base_url=url, timeout=10) as client:
        # kube-proxy programs the new Service after its next sync; until then it refuses.
        answer = wait_for(lambda: _ok(client, "/predict", {"instances": [RECORD, unseen]}),
                          30, "an answer from the model server")
        assert answer["predictions"][0] == labels.tolist()[0]
        assert len(answer["predictions"]) == 2 and answer["version"] == "loans-v1"
        assert np.allclose(answer["probabilities"][0], probabilities[0], atol=1e-5)
        datatypes = {"string": "BYTES", "bool": "BOOL"}
        inputs = [{"name": name, "shape": [1], "datatype": datatypes.get(types[name], "FP64"),
                   "data": [value]} for name, value in RECORD.items()]
        infer = client.post("/v2/models/loans/infer", json={"inputs": inputs})
        assert infer.status_code == 200, infer.text
        outputs = {o["name"]: o for o in infer.json()["outputs"]}
        assert outputs["label"]["data"] == [answer["predictions"][0]]
        wrong = client.post("/predict", json={"instances": [{**RECORD, "term_months": 60}]})
        assert wrong.status_code == 400
        assert wrong.json()["error"] == (
            "instances[0]['term_months']: expected a string or null, got number")
        metrics = client.get("/metrics").text
    assert re.search(r'^mlops_input_feature_sum\{[^}]*feature="credit_score"', metrics, re.M)
    assert 'feature="loan_purpose"' not in metrics  # drift sums cover numeric features


def _ok(client: httpx.Client, path: str, body: dict) -> dict | None:
    """The answer once the Service answers 200; None while it refuses or is not ready."""
    try:
        response = client.post(path, json=body)
    except httpx.TransportError:
        return None
    return json.loads(response.text) if response.status_code == 200 else None


def test_a_category_explosion_fails_the_training_job_naming_the_column(
    kubeconfig: str, namespace: str, operator: OperatorProcess,
) -> None:
    frame = generate(rows=800, seed=3)
    frame["applicant_id"] = [f"A{i:05d}" for i in range(len(frame))]
    copy_into_claim(kubeconfig, namespace, {DATASET: to_bytes(frame, "csv")})
    apply(kubeconfig, namespace, f"""
apiVersion: mlops.dev/v1alpha1
kind: TrainingJob
metadata: {{name: ids}}
spec:
  model: ids
  dataset: {{uri: "pvc://{CLAIM}/{DATASET}", target: defaulted}}
  estimator: {{name: LogisticRegression}}
  backoffLimit: 0
""")
    wait_for(lambda: phase(kubeconfig, namespace, "tj", "ids") == "Failed", 90,
             "the TrainingJob to fail", operator.log)
    condition = next(c for c in get(kubeconfig, namespace, "tj", "ids")["status"]["conditions"]
                     if c["type"] == "Succeeded")
    assert condition["reason"] == "DatasetMalformed"
    assert "'applicant_id' has 800 distinct values" in condition["message"]
