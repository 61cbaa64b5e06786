"""Challengers judged against the champion on the local cluster: the champion re-scored in
the challenger's training pod on the same rows, a worse challenger Rejected with both
scores named, and a dataset whose column changed type refused before any fitting."""

from __future__ import annotations

import pytest
from mlops_runtime.trainer.sample_data import to_bytes
from mlops_runtime.trainer.sample_loans import generate

from tests.cluster.conftest import OperatorProcess, wait_for
from tests.cluster.test_tabular import CLAIM, DATASET, copy_into_claim
from tests.cluster.test_training import apply, get, phase
from tests.conftest import REPO, kubectl

pytestmark = pytest.mark.cluster

RETYPED = "datasets/loans-retyped.csv"


def challenger(name: str, estimator: str, dataset: str = DATASET, extra: str = "") -> str:
    return f"""
apiVersion: mlops.dev/v1alpha1
kind: TrainingJob
metadata: {{name: {name}}}
spec:
  model: loans
  dataset: {{uri: "pvc://{CLAIM}/{dataset}", target: defaulted, testFraction: 0.25,
             randomSeed: 7}}
  estimator: {estimator}
  qualityGate:
    maxRegression: {{metric: roc_auc, tolerance: 0.02}}
  backoffLimit: 0
{extra}"""


def version_of(kubeconfig: str, namespace: str, job: str) -> str:
    return (get(kubeconfig, namespace, "tj", job).get("status") or {}).get("modelVersion", "")


def test_challengers_are_judged_on_the_champions_score_on_the_same_rows(
    kubeconfig: str, namespace: str, operator: OperatorProcess,
) -> None:
    loans = generate(rows=2000, seed=7)
    retyped = loans.copy()
    retyped["credit_score"] = retyped["credit_score"].map(
        lambda v: "" if v != v else ("good" if v > 650 else "fair"))
    copy_into_claim(kubeconfig, namespace, {DATASET: to_bytes(loans, "csv"),
                                            RETYPED: to_bytes(retyped, "csv")})
    kubectl(kubeconfig, "apply", "-n", namespace, "-f",
            str(REPO / "manifests/examples/trainingjob-loans.yaml"))
    wait_for(lambda: phase(kubeconfig, namespace, "mv", "loans-v1") == "Approved", 180,
             "loans-v1 Approved", operator.log)

    # A one-split tree: its own hold-out metric is a number; on the same rows the
    # champion's is far better, and the gate says both.
    apply(kubeconfig, namespace, challenger(
        "loans-stump", "{name: DecisionTreeClassifier, params: {max_depth: 1}}"))
    wait_for(lambda: phase(kubeconfig, namespace, "tj", "loans-stump") == "Succeeded", 180,
             "the stump's training", operator.log)
    stump = get(kubeconfig, namespace, "mv", version_of(kubeconfig, namespace, "loans-stump"))
    evaluation = stump["spec"]["evaluation"]
    assert evaluation["data"] == "hold-out" and evaluation["rows"] == 500  # 25% of 2,000
    assert evaluation["champion"]["name"] == "loans-v1", evaluation
    champion_auc = evaluation["champion"]["metrics"]["roc_auc"]
    assert champion_auc > evaluation["metrics"]["roc_auc"] + 0.02
    assert stump["status"]["phase"] == "Rejected"
    (reason,) = stump["status"]["gate"]
    assert (reason["baseline"], reason["passed"]) == ("loans-v1", False)
    assert "vs champion loans-v1" in reason["message"] and "same 500 hold-out rows" in \
        reason["message"]

    # The example challenger: whatever it scores, the verdict follows the two scores.
    kubectl(kubeconfig, "apply", "-n", namespace, "-f",
            str(REPO / "manifests/examples/trainingjob-loans-challenger.yaml"))
    wait_for(lambda: phase(kubeconfig, namespace, "tj", "loans-boosting") == "Succeeded",
             240, "the boosting challenger's training", operator.log)
    boosted = get(kubeconfig, namespace, "mv", version_of(kubeconfig, namespace,
                                                          "loans-boosting"))
    scores = boosted["spec"]["evaluation"]
    assert scores["champion"]["name"] == "loans-v1"  # the stump was Rejected: not a champion
    assert boosted["spec"]["dataChecks"] == {"baseline": "loans-v1", "findings": 0}
    beats = scores["metrics"]["roc_auc"] >= scores["champion"]["metrics"]["roc_auc"] - 0.01
    auc_ok = boosted["spec"]["metrics"]["roc_auc"] >= 0.75
    assert (boosted["status"]["phase"] == "Approved") is (beats and auc_ok)

    # A dataset whose column changed type: refused by the data checks, naming the column.
    apply(kubeconfig, namespace, challenger(
        "loans-retyped", "{name: LogisticRegression, params: {max_iter: 1000}}", RETYPED,
        "  dataChecks: {action: fail}"))
    wait_for(lambda: phase(kubeconfig, namespace, "tj", "loans-retyped") == "Failed", 120,
             "the retyped dataset's training to fail", operator.log)
    status = get(kubeconfig, namespace, "tj", "loans-retyped")["status"]
    succeeded = next(c for c in status["conditions"] if c["type"] == "Succeeded")
    assert succeeded["reason"] == "DataCheckFailed"
    assert "'credit_score' changed type: numeric in loans-" in succeeded["message"]
    assert "modelVersion" not in status
