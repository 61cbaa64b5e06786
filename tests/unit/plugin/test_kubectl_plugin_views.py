"""``kubectl mlops``' views of objects as the operator stored them (the Argo CD fixtures,
which are real objects from the local cluster) and of versions built here."""

from __future__ import annotations

import copy

import pytest
import yaml
from kubectl_mlops import cli, views

from tests import argocd


def fixture(kind: str, name: str) -> dict:
    return yaml.safe_load((argocd.CUSTOMIZATIONS / kind / "testdata" / name).read_text())


def pod(name: str, track: str, ready: bool, waiting: str | None = None) -> dict:
    status: dict = {"phase": "Running",
                    "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}
    if waiting:
        status["containerStatuses"] = [{"state": {"waiting": {"reason": waiting}}}]
    return {"metadata": {"name": name, "labels": {"mlops.dev/track": track}}, "status": status}


def test_the_tree_of_a_paused_canary_shows_both_tracks_their_pods_and_weights() -> None:
    paused = fixture("Deployment", "suspended_pausedStep.yaml")
    versions = {"iris-v1": {"status": {"headlineMetric": "accuracy=0.9333"}}}
    tree = views.deployment_tree(paused, versions, [
        pod("serve-stable-a", "stable", True), pod("serve-canary-b", "canary", False,
                                                   "CrashLoopBackOff")])
    lines = tree.splitlines()
    assert lines[0] == "Deployment serve  Paused  step 2/2"
    assert "target   iris-v2" in lines[1]
    assert any("stable iris-v1  weight 50%  accuracy=0.9333" in line for line in lines)
    assert any("canary iris-v2  weight 50%" in line for line in lines)
    assert any("pod serve-stable-a  Ready" in line for line in lines)
    assert any("pod serve-canary-b  CrashLoopBackOff" in line for line in lines)


def test_the_tree_lists_the_last_checks_with_their_values() -> None:
    paused = copy.deepcopy(fixture("Deployment", "suspended_pausedStep.yaml"))
    paused["status"]["lastAnalysis"] = {
        "version": "iris-v2", "stepIndex": 1, "verdict": "Failed",
        "checks": [{"name": "error-rate", "verdict": "Failed", "lastValue": 0.41237,
                    "message": "0.412 > 0.05"}]}
    tree = views.deployment_tree(paused, {}, [])
    assert "checks of iris-v2 at step 2: Failed" in tree
    assert "error-rate" in tree and "last 0.4124" in tree and "0.412 > 0.05" in tree


@pytest.mark.parametrize(("kind", "name", "code"), [
    ("Deployment", "healthy.yaml", 0), ("Deployment", "degraded_rolledBack.yaml", 1),
    ("Deployment", "degraded_childRefused.yaml", 1),
    ("Deployment", "suspended_pausedStep.yaml", 2), ("Deployment", "progressing_deploying.yaml", 2),
    ("TrainingJob", "succeeded.yaml", 0), ("TrainingJob", "failed_jobRefused.yaml", 1),
    ("TrainingJob", "pending.yaml", 2), ("ModelVersion", "approved.yaml", 0),
    ("ModelVersion", "rejected_qualityGate.yaml", 1), ("ModelVersion", "verifying.yaml", 2),
])
def test_status_exits_0_when_ready_1_when_stalled_2_while_in_progress(
        kind: str, name: str, code: int) -> None:
    verdict = views.verdict(fixture(kind, name))
    assert verdict.exit_code == code
    assert verdict.message.startswith(fixture(kind, name)["status"]["phase"])


def test_status_of_a_spec_not_yet_observed_is_in_progress() -> None:
    healthy = copy.deepcopy(fixture("Deployment", "healthy.yaml"))
    healthy["metadata"]["generation"] += 1
    assert views.verdict(healthy).exit_code == 2


def version(name: str, number: int, metrics: dict, params: dict, sha: str) -> dict:
    return {"metadata": {"name": name, "labels": {"mlops.dev/training-job": f"job-{number}"},
                         "creationTimestamp": f"2026-12-0{number}T00:00:00Z"},
            "spec": {"version": number, "metrics": metrics, "params": params,
                     "dataset": {"uri": "sklearn://iris", "sha256": sha}},
            "status": {"phase": "Approved", "headlineMetric": f"accuracy={metrics['accuracy']}"}}


def test_diff_marks_what_differs_between_two_versions() -> None:
    old = version("iris-v1", 1, {"accuracy": 0.9333, "f1": 0.93}, {"C": 1.0,
                                                                   "max_iter": 300}, "aa")
    new = version("iris-v2", 2, {"accuracy": 0.9667, "f1": 0.93}, {"C": 0.5,
                                                                   "max_iter": 300}, "bb")
    rows = {line.split()[1] if line.startswith("*") else line.split()[0]: line
            for line in views.version_diff(old, new).splitlines()[1:]}
    assert rows["metrics.accuracy"].startswith("*") and "0.9333" in rows["metrics.accuracy"]
    assert not rows["metrics.f1"].startswith("*")
    assert rows["params.C"].startswith("*") and not rows["params.max_iter"].startswith("*")
    assert rows["dataset.sha256"].startswith("*")


def test_a_models_history_is_in_version_order() -> None:
    table = views.model_history([version("iris-v10", 10, {"accuracy": 1.0}, {}, "c"),
                                 version("iris-v2", 2, {"accuracy": 0.9}, {}, "b")])
    lines = table.splitlines()
    assert lines[0].split() == ["VERSION", "PHASE", "METRIC", "TRAINED", "BY", "CREATED"]
    assert [line.split()[0] for line in lines[1:]] == ["iris-v2", "iris-v10"]


def test_a_deployments_history_lists_each_event() -> None:
    rows = views.deployment_history(fixture("Deployment", "degraded_rolledBack.yaml"))
    events = [line.split()[1] for line in rows.splitlines()[1:]]
    assert events[0] == "Deployed" and "RolledBack" in events


@pytest.mark.parametrize("argv", [
    ["-n", "ml", "--kubeconfig", "k", "get", "serve"],
    ["get", "serve", "-n", "ml", "--kubeconfig", "k"],
    ["--kubeconfig", "k", "get", "-n", "ml", "serve"],
])
def test_connection_flags_may_come_before_or_after_the_command(argv: list[str]) -> None:
    args = cli.parser().parse_args(argv)
    assert (args.namespace, args.kubeconfig, args.name) == ("ml", "k", "serve")
