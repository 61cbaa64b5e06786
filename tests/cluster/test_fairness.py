"""The fairness gate on the local cluster, with the shipped examples as a user runs them:
credit-data.yaml writes past lending decisions biased against women into the claim; the
model fed ``sex`` is Rejected naming both groups and their approval rates, the mitigated
one (``sex`` kept out, reweighing) is Approved, and both versions record every group."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cluster.conftest import OperatorProcess, wait_for
from tests.cluster.test_training import artifact_path, get, phase
from tests.conftest import REPO, kubectl

pytestmark = pytest.mark.cluster

EXAMPLES = REPO / "manifests/examples"


def test_a_biased_model_is_rejected_and_a_mitigated_one_approved(
    kubeconfig: str, namespace: str, operator: OperatorProcess,
) -> None:
    kubectl(kubeconfig, "apply", "-n", namespace, "-f", str(EXAMPLES / "credit-data.yaml"))
    kubectl(kubeconfig, "wait", "-n", namespace, "--for=condition=Complete", "job/credit-data",
            "--timeout=120s", timeout=130)
    kubectl(kubeconfig, "apply", "-n", namespace, "-f",
            str(EXAMPLES / "trainingjob-credit-biased.yaml"))
    wait_for(lambda: phase(kubeconfig, namespace, "mv", "credit-v1") in ("Approved", "Rejected"),
             180, "credit-v1 judged", operator.log)
    kubectl(kubeconfig, "apply", "-n", namespace, "-f",
            str(EXAMPLES / "trainingjob-credit-fair.yaml"))

    biased = get(kubeconfig, namespace, "mv", "credit-v1")
    assert biased["status"]["phase"] == "Rejected"
    lines = {line["metric"]: line for line in biased["status"]["gate"]}
    parity = lines["demographic_parity_difference"]
    assert parity["passed"] is False and parity["value"] > 0.25 and parity["threshold"] == 0.1
    assert parity["groups"] == ["sex=female", "sex=male"]
    assert "selection rate sex=female" in parity["message"]
    assert lines["roc_auc"]["passed"] is True  # accurate, and still unfair
    approved = next(c for c in biased["status"]["conditions"] if c["type"] == "Approved")
    assert approved["status"] == "False" and "demographic_parity_difference" in \
        approved["message"]
    groups = biased["spec"]["fairness"]["groups"]
    assert groups["sex=male"]["selectionRate"] - groups["sex=female"]["selectionRate"] > 0.25
    assert "sex" in {f["name"] for f in biased["spec"]["inputSchema"]["features"]}
    # Its model card, beside the artifact, tells the same story with its pictures.
    card = wait_for(lambda: ((get(kubeconfig, namespace, "mv", "credit-v1").get("status") or {})
                             .get("modelCard") or {}).get("uri"), 60, "credit-v1's model card",
                    operator.log)
    path = artifact_path(kubeconfig, namespace, card)
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    assert card == biased["spec"]["metadataUri"].replace("metadata.json", "model-card.md")
    assert "Phase: **Rejected**" in text and "| sex=female |" in text
    assert "- Owner: risk-team" in text  # the TrainingJob's annotation
    assert "![fairness](plots/fairness.png)" in text
    assert (Path(path).parent / "plots" / "fairness.png").is_file()

    wait_for(lambda: phase(kubeconfig, namespace, "mv", "credit-v2") in ("Approved", "Rejected"),
             180, "credit-v2 judged", operator.log)
    fair = get(kubeconfig, namespace, "mv", "credit-v2")
    assert fair["status"]["phase"] == "Approved", fair["status"]["gate"]
    assert fair["spec"]["fairness"]["mitigation"] == "reweighing"
    assert fair["spec"]["fairness"]["metrics"]["demographic_parity_difference"] < 0.1
    assert "sex" not in {f["name"] for f in fair["spec"]["inputSchema"]["features"]}
