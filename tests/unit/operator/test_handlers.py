"""Handlers over the Kubernetes port: what they send, in which order, and what they say.

A FakeKube stands in for the API server (see fake_kube.py); the watch views are
built by hand. The cluster suite runs the same handlers against the real thing.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from mlops_operator import builders, names
from mlops_operator.config import Settings
from mlops_operator.domain.pods import PodSummary
from mlops_operator.domain.rollout import FiringAlert
from mlops_operator.domain.versions import MODEL_LABEL
from mlops_operator.domain.vocabulary import (
    ConditionType,
    EventType,
    RolloutPhase,
    RolloutReason,
    TrainingPhase,
    TrainingReason,
    VersionPhase,
)
from mlops_operator.handlers import deployment, modelcard, modelversion, trainingjob
from mlops_operator.handlers.watches import Snapshot

from tests.unit.operator.fake_kube import FakeKube, fake_context

NS = "ns"
SETTINGS = Settings(runtime_image="runtime:test", artifact_claim="claim")


def model_version(version: int) -> dict[str, Any]:
    name = f"iris-v{version}"
    return {
        "metadata": {"name": name, "namespace": NS, "annotations": {}},
        "spec": {"model": "iris", "version": version,
                 "artifact": {"uri": f"pvc://claim/{NS}/iris/{name}/model.onnx",
                              "sha256": "a" * 64, "format": "onnx"},
                 "inputSchema": {"features": [{"name": "petal length", "type": "float"}]}},
        "status": {"phase": VersionPhase.APPROVED},
    }


class Rollout:
    """One mlops Deployment driven through reconciles, with pods and alerts set by hand."""

    def __init__(self, kube: FakeKube) -> None:
        self.kube = kube
        self.ctx = fake_context(kube, SETTINGS)  # no analysis step: nothing is measured
        self.pods: list[PodSummary] = []
        self.alerts: list[FiringAlert] = []
        self.versions = {f"iris-v{v}": model_version(v) for v in (1, 2)}
        kube.add("deployments", {
            "apiVersion": names.API_VERSION, "kind": "Deployment",
            "metadata": {"name": "iris", "namespace": NS, "uid": "uid-iris", "generation": 1},
            "spec": {"modelVersion": "iris-v1", "replicas": 2,
                     "strategy": {"steps": [{"setWeight": 50}, {"pause": {}}],
                                  "alerts": ["CanaryLatencyHigh"]}},
        })

    @property
    def body(self) -> dict[str, Any]:
        return self.kube.objects[("deployments", NS, "iris")]

    def status(self) -> dict[str, Any]:
        return self.body.get("status") or {}

    def target(self, version: str) -> None:
        self.body["spec"]["modelVersion"] = version
        self.body["metadata"]["generation"] += 1

    def ready(self, track: str, version: str, count: int) -> None:
        self.pods = [p for p in self.pods if p.track != track] + [
            PodSummary(f"{track}-{i}", track, version, True, False) for i in range(count)]

    def view(self) -> Snapshot:
        children = {(o["kind"], o["metadata"]["name"]): o
                    for kind in ("Deployment", "Service", "HTTPRoute")
                    for o in self.kube.of_kind(kind)}
        return Snapshot(list(self.pods), dict(self.versions), children)

    def reconcile(self) -> list[tuple[str, str, str]]:
        deployment.reconcile(json.loads(json.dumps(self.body)), self.view(),
                             (self.alerts, frozenset()), self.ctx)
        return self.kube.requests()


@pytest.fixture
def rollout() -> Rollout:
    return Rollout(FakeKube())  # its own operator context: nothing carried over


def healthy(rollout: Rollout) -> None:
    rollout.reconcile()
    rollout.ready("stable", "iris-v1", 2)
    rollout.reconcile()
    assert rollout.status()["phase"] == RolloutPhase.HEALTHY


def test_first_deploy_creates_services_and_the_stable_workload(rollout: Rollout) -> None:
    sent = rollout.reconcile()
    assert ("apply", "Deployment", "iris-stable") in sent
    assert {name for verb, kind, name in sent if kind == "Service"} >= {"iris"}
    assert sent[-1] == ("patch-status", "deployments", "iris")
    assert rollout.status()["phase"] == RolloutPhase.PROGRESSING
    sent_events = [(t, r) for t, r, _ in rollout.kube.events]
    assert (EventType.NORMAL, RolloutReason.DEPLOYING) in sent_events


def test_an_unchanged_healthy_deployment_sends_nothing(rollout: Rollout) -> None:
    healthy(rollout)
    assert rollout.reconcile() == []
    assert rollout.reconcile() == []


def test_a_child_deleted_by_hand_is_applied_again_and_nothing_else(rollout: Rollout) -> None:
    healthy(rollout)
    rollout.kube.objects.pop(("Service", NS, "iris"))
    assert rollout.reconcile() == [("apply", "Service", "iris")]


def test_a_rollback_moves_traffic_before_it_removes_the_canary(rollout: Rollout) -> None:
    healthy(rollout)
    rollout.target("iris-v2")
    assert ("apply", "Deployment", "iris-canary") in rollout.reconcile()
    rollout.ready("canary", "iris-v2", 1)
    rollout.reconcile()  # 50 % of traffic
    rollout.reconcile()  # the pause step
    assert rollout.status()["phase"] == RolloutPhase.PAUSED
    assert rollout.status()["currentWeight"] == 50

    rollout.alerts = [FiringAlert("CanaryLatencyHigh", "p99 above 1s")]
    sent = rollout.reconcile()
    traffic = [i for i, (verb, kind, _) in enumerate(sent) if verb == "apply" and kind == "Service"]
    removal = sent.index(("delete", "Deployment", "iris-canary"))
    assert traffic and max(traffic) < removal, sent
    assert sent[-1] == ("patch-status", "deployments", "iris")
    status = rollout.status()
    assert status["phase"] == RolloutPhase.ROLLED_BACK
    assert status["weights"] == {"stable": 100, "canary": 0}
    assert "CanaryLatencyHigh" in status["rollbackReason"]
    sent_events = [(t, r) for t, r, _ in rollout.kube.events]
    assert (EventType.WARNING, RolloutReason.ROLLED_BACK) in sent_events


def paused_canary(rollout: Rollout) -> None:
    healthy(rollout)
    rollout.target("iris-v2")
    rollout.reconcile()
    rollout.ready("canary", "iris-v2", 1)
    rollout.reconcile()
    rollout.reconcile()
    assert rollout.status()["phase"] == RolloutPhase.PAUSED


def test_a_one_shot_promote_promotes_its_version_then_goes(rollout: Rollout) -> None:
    paused_canary(rollout)
    rollout.body["metadata"]["annotations"] = {"mlops.dev/promote": "iris-v2"}
    for _ in range(6):
        sent = rollout.reconcile()
        rollout.ready("canary", "iris-v2", 2)
        if rollout.status().get("promotion") == "UpdatingStable":
            rollout.ready("stable", "iris-v2", 2)
        if rollout.status()["phase"] == RolloutPhase.HEALTHY:
            break
    assert rollout.status()["stableVersion"] == "iris-v2"
    assert ("remove-annotations", "deployments", "iris") in sent
    assert rollout.body["metadata"]["annotations"] == {}
    assert not rollout.body["spec"].get("promote")  # the spec was never touched


def test_a_one_shot_for_another_version_is_removed_with_a_warning(rollout: Rollout) -> None:
    paused_canary(rollout)
    rollout.body["metadata"]["annotations"] = {"mlops.dev/abort": "iris-v7"}
    sent = rollout.reconcile()
    assert sent == [("remove-annotations", "deployments", "iris")]
    assert rollout.status()["phase"] == RolloutPhase.PAUSED
    assert rollout.kube.events[-1] == (
        EventType.WARNING, RolloutReason.ONE_SHOT_IGNORED,
        "mlops.dev/abort=iris-v7 ignored: spec.modelVersion is iris-v2")


def test_a_following_deployment_targets_the_newest_approved_version_and_never_edits_its_spec(
        rollout: Rollout) -> None:
    spec = rollout.body["spec"]
    del spec["modelVersion"]
    spec.update({"model": "iris", "follow": "latestApproved"})
    rollout.versions["iris-v2"]["status"] = {"phase": "Pending"}
    healthy(rollout)
    assert rollout.status()["targetVersion"] == "iris-v1"
    rollout.versions["iris-v2"]["status"] = {"phase": VersionPhase.APPROVED}
    rollout.reconcile()
    assert rollout.status()["targetVersion"] == "iris-v2"
    assert rollout.status()["canaryVersion"] == "iris-v2"
    assert "modelVersion" not in rollout.body["spec"]
    assert not any(verb == "patch" and kind == "Deployment" and name == "iris"
                   for verb, kind, name in rollout.kube.requests())


def test_a_following_deployment_with_nothing_approved_says_so(rollout: Rollout) -> None:
    spec = rollout.body["spec"]
    del spec["modelVersion"]
    spec.update({"model": "wine", "follow": "latestApproved"})
    rollout.reconcile()
    status = rollout.status()
    assert status["phase"] == RolloutPhase.DEGRADED and "wine-v1 not found" in status["message"]


def test_an_invalid_spec_changes_no_child_and_says_which_field(rollout: Rollout) -> None:
    healthy(rollout)
    rollout.body["spec"]["strategy"] = {"steps": [{"setWeight": 150}]}
    rollout.body["metadata"]["generation"] += 1
    sent = rollout.reconcile()
    assert sent == [("patch-status", "deployments", "iris")]
    status = rollout.status()
    assert status["phase"] == RolloutPhase.DEGRADED and "setWeight" in status["message"]
    progressing = next(c for c in status["conditions"] if c["type"] == ConditionType.PROGRESSING)
    assert (progressing["status"], progressing["reason"]) == ("False", RolloutReason.INVALID_SPEC)
    warnings = [r for t, r, _ in rollout.kube.events if t == EventType.WARNING]
    assert warnings == [RolloutReason.INVALID_SPEC]


def test_excluding_an_unknown_feature_holds_the_rollout_naming_the_field(
        rollout: Rollout) -> None:
    healthy(rollout)
    rollout.body["spec"]["predictionLog"] = {"exclude": ["ssn"]}
    rollout.body["metadata"]["generation"] += 1
    rollout.reconcile()  # raises nothing, starts no server that would refuse to run
    status = rollout.status()
    stalled = condition(status, ConditionType.STALLED)
    assert (stalled["status"], stalled["reason"]) == ("True", RolloutReason.INVALID_SPEC)
    assert "spec.predictionLog.exclude: 'ssn' is not a feature of iris-v1" in stalled["message"]
    assert condition(status, ConditionType.AVAILABLE)["status"] == "True"  # v1 still serves


def condition(status: dict[str, Any], type_: str) -> dict[str, Any]:
    return next(c for c in status.get("conditions") or [] if c["type"] == type_)


#: What the API server says of resources whose limit is below the request.
LIMITS_REFUSED = ('Deployment.apps "iris-stable" is invalid: spec.template.spec.containers[0]'
                  '.resources.requests: Invalid value: "2": must be less than or equal to cpu '
                  'limit of 1')


def test_a_refused_workload_becomes_a_stalled_condition_and_one_event(rollout: Rollout) -> None:
    healthy(rollout)
    assert condition(rollout.status(), ConditionType.READY)["status"] == "True"
    rollout.kube.refuse["Deployment"] = LIMITS_REFUSED
    rollout.body["spec"]["resources"] = {"requests": {"cpu": "2"}, "limits": {"cpu": "1"}}
    rollout.body["metadata"]["generation"] += 1
    rollout.reconcile()  # raises nothing
    status = rollout.status()
    assert status["phase"] == RolloutPhase.DEGRADED and status["observedGeneration"] == 2
    stalled = condition(status, ConditionType.STALLED)
    assert (stalled["status"], stalled["reason"]) == ("True", RolloutReason.CHILD_REFUSED)
    assert "resources.requests" in stalled["message"] and "iris-stable" in stalled["message"]
    assert condition(status, ConditionType.READY)["status"] == "False"
    assert condition(status, ConditionType.AVAILABLE)["status"] == "True"  # v1 still serves
    rollout.reconcile()  # the next wake-up says nothing new
    warnings = [r for t, r, _ in rollout.kube.events if t == EventType.WARNING]
    assert warnings == [RolloutReason.CHILD_REFUSED]

    del rollout.kube.refuse["Deployment"]  # the spec is fixed
    rollout.body["spec"].pop("resources")
    rollout.body["metadata"]["generation"] += 1
    rollout.reconcile()
    rollout.reconcile()
    assert rollout.status()["phase"] == RolloutPhase.HEALTHY
    assert condition(rollout.status(), ConditionType.STALLED)["status"] == "False"


# --------------------------------------------------------------------------- TrainingJob

TRAINING_JOB = {
    "apiVersion": names.API_VERSION, "kind": "TrainingJob",
    "metadata": {"name": "iris-logreg", "namespace": NS, "uid": "0123456789abcdef",
                 "generation": 1},
    "spec": {"model": "iris", "dataset": {"uri": "sklearn://iris"},
             "estimator": {"name": "LogisticRegression"}},
}


def test_a_new_training_job_gets_its_claim_then_its_job_then_a_status() -> None:
    kube = FakeKube()
    job = kube.add("trainingjobs", json.loads(json.dumps(TRAINING_JOB)))
    trainingjob.reconcile(job, SETTINGS, kube)
    verbs = [(verb, kind) for verb, kind, _ in kube.requests()]
    assert verbs.index(("ensure", "PersistentVolumeClaim")) < verbs.index(("create", "Job"))
    assert verbs[-1] == ("patch-status", "trainingjobs")
    assert ("Job", NS, builders.training_job_name("iris-logreg")) in kube.objects
    assert [r for _, r, _ in kube.events][:1] == [TrainingReason.JOB_CREATED]

    trainingjob.reconcile(kube.objects[("trainingjobs", NS, "iris-logreg")], SETTINGS, kube)
    assert ("create", "Job", "iris-logreg-train") not in kube.requests()


def test_an_invalid_quality_gate_fails_the_job_without_training() -> None:
    kube = FakeKube()
    body = json.loads(json.dumps(TRAINING_JOB))
    body["spec"]["qualityGate"] = {"metrics": [{"name": "accuracy"}]}
    trainingjob.reconcile(kube.add("trainingjobs", body), SETTINGS, kube)
    assert kube.of_kind("Job") == []
    status = kube.objects[("trainingjobs", NS, "iris-logreg")]["status"]
    assert status["phase"] == TrainingPhase.FAILED and "qualityGate.metrics[0]" in status["message"]
    assert [(t, r) for t, r, _ in kube.events] == [
        (EventType.WARNING, TrainingReason.INVALID_QUALITY_GATE)]


def test_a_refused_training_job_fails_with_the_api_servers_words() -> None:
    kube = FakeKube()
    kube.refuse["Job"] = 'Job.batch "iris-logreg-train" is invalid: spec.template: bad'
    trainingjob.reconcile(kube.add("trainingjobs", json.loads(json.dumps(TRAINING_JOB))),
                          SETTINGS, kube)
    status = kube.objects[("trainingjobs", NS, "iris-logreg")]["status"]
    assert status["phase"] == TrainingPhase.FAILED
    stalled = condition(status, ConditionType.STALLED)
    assert (stalled["status"], stalled["reason"]) == ("True", TrainingReason.JOB_REFUSED)
    assert "spec.template: bad" in stalled["message"]
    assert [(t, r) for t, r, _ in kube.events] == [(EventType.WARNING, TrainingReason.JOB_REFUSED)]


def test_a_finished_training_job_observes_a_new_generation_and_trains_nothing() -> None:
    kube = FakeKube()
    body = json.loads(json.dumps(TRAINING_JOB))
    body["spec"]["qualityGate"] = {"metrics": [{"name": "accuracy"}]}  # fails at once
    trainingjob.reconcile(kube.add("trainingjobs", body), SETTINGS, kube)
    stored = kube.objects[("trainingjobs", NS, "iris-logreg")]
    stored["metadata"]["generation"] = 2  # e.g. spec.retrain edited
    kube.requests()
    trainingjob.reconcile(json.loads(json.dumps(stored)), SETTINGS, kube)
    assert kube.requests() == [("patch-status", "trainingjobs", "iris-logreg")]
    status = stored["status"]
    assert status["observedGeneration"] == 2 and status["phase"] == TrainingPhase.FAILED
    assert {condition(status, t)["observedGeneration"]
            for t in trainingjob.TRAINING_CONDITIONS} == {2}
    trainingjob.reconcile(json.loads(json.dumps(stored)), SETTINGS, kube)
    assert kube.requests() == []  # seen once is enough


def trained_version(number: int, stable_of: str | None = None) -> dict[str, Any]:
    """An Approved version the built-in trainer wrote (its metadata.json is beside it)."""
    version = model_version(number)
    version["metadata"]["labels"] = {MODEL_LABEL: "iris"}
    version["spec"]["lineage"] = {"trainingJob": f"iris-{number}"}
    return version


def champion_env(kube: FakeKube) -> dict[str, Any] | None:
    (job,) = kube.of_kind("Job")
    env = {e["name"]: e.get("value") for e in
           job["spec"]["template"]["spec"]["containers"][0]["env"]}
    return json.loads(env["MLOPS_CHAMPION"]) if "MLOPS_CHAMPION" in env else None


@pytest.mark.parametrize(("served", "expected"), [
    (None, "iris-v3"),        # nothing serves the model: the newest Approved version
    ("iris-v2", "iris-v2"),   # a Deployment serves v2 as stable: that is the champion
    ("other-v9", "iris-v3"),  # a Deployment of another model changes nothing
])
def test_a_training_job_is_told_its_champion(served: str | None, expected: str) -> None:
    kube = FakeKube()
    for number in (1, 2, 3):
        kube.add("modelversions", trained_version(number))
    rejected = trained_version(4)
    rejected["status"]["phase"] = VersionPhase.REJECTED
    kube.add("modelversions", rejected)
    if served:
        kube.add("deployments", {"metadata": {"name": "d", "namespace": NS},
                                 "spec": {}, "status": {"stableVersion": served}})
    trainingjob.reconcile(kube.add("trainingjobs", json.loads(json.dumps(TRAINING_JOB))),
                          SETTINGS, kube)
    champion = champion_env(kube)
    assert champion is not None and champion["name"] == expected
    assert champion["artifact"]["uri"].endswith(f"/{expected}/model.onnx")
    assert champion["metadataUri"] == f"pvc://claim/{NS}/iris/{expected}/metadata.json"
    assert champion["inputSchema"]["features"][0]["name"] == "petal length"


def test_the_first_training_of_a_model_has_no_champion() -> None:
    kube = FakeKube()
    trainingjob.reconcile(kube.add("trainingjobs", json.loads(json.dumps(TRAINING_JOB))),
                          SETTINGS, kube)
    assert champion_env(kube) is None


def finish_training(kube: FakeKube, result: dict[str, Any]) -> None:
    """The training Job succeeded and its pod left ``result`` as termination message."""
    job_name = builders.training_job_name("iris-logreg")
    kube.objects[("Job", NS, job_name)]["status"] = {
        "succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]}
    kube.pods[job_name] = [{"metadata": {"name": f"{job_name}-x"}, "status": {
        "phase": "Succeeded", "containerStatuses": [{"name": builders.TRAINER_CONTAINER,
        "state": {"terminated": {"message": json.dumps(result)}}}]}}]


TRAINED = {"ok": True, "task": "classification", "metrics": {"accuracy": 0.97},
           "preferredFormat": "onnx", "metadataUri": "pvc://claim/ns/iris/x/metadata.json",
           "artifacts": {"onnx": {"uri": "pvc://claim/ns/iris/x/model.onnx", "sha256": "b" * 64},
                         "skops": None}}


def test_a_challenger_worse_than_the_champion_on_the_same_rows_is_rejected() -> None:
    kube = FakeKube()
    kube.add("modelversions", trained_version(1))
    body = json.loads(json.dumps(TRAINING_JOB))
    body["spec"]["qualityGate"] = {"maxRegression": {"metric": "accuracy", "tolerance": 0.01}}
    trainingjob.reconcile(kube.add("trainingjobs", body), SETTINGS, kube)
    finish_training(kube, {**TRAINED, "evaluation": {
        "data": "hold-out", "rows": 30, "metrics": {"accuracy": 0.9},
        "champion": {"name": "iris-v1", "metrics": {"accuracy": 0.95}}},
        "dataChecks": {"baseline": "iris-v1", "findings": 1,
                       "warnings": ["column 'petal length' ..."]}})
    trainingjob.reconcile(kube.objects[("trainingjobs", NS, "iris-logreg")], SETTINGS, kube)
    version = kube.objects[("modelversions", NS, "iris-v2")]
    assert version["spec"]["evaluation"]["champion"]["name"] == "iris-v1"
    assert version["spec"]["metadataUri"] == TRAINED["metadataUri"]
    assert version["status"]["phase"] == VersionPhase.REJECTED
    (reason,) = version["status"]["gate"]
    assert (reason["value"], reason["baseline"], reason["baselineValue"]) == (0.9, "iris-v1", 0.95)
    assert "vs champion iris-v1 0.95 on the same 30 hold-out rows" in reason["message"]
    warnings = [m for t, r, m in kube.events if r == TrainingReason.DATA_CHECK_WARNINGS]
    assert warnings == ["1 data check finding(s) against iris-v1: column 'petal length' ..."]


# --------------------------------------------------------------------------- ModelVersion


def registered_version(name: str = "iris-v7") -> dict[str, Any]:
    return {
        "apiVersion": names.API_VERSION, "kind": "ModelVersion",
        "metadata": {"name": name, "namespace": NS, "uid": "uid-mv"},
        "spec": {"model": "iris", "version": 7,
                 "artifact": {"uri": "pvc://claim/ns/iris/m.onnx", "sha256": "b" * 64,
                              "format": "onnx"}},
    }


def test_a_misnamed_model_version_is_invalid_and_never_verified() -> None:
    kube = FakeKube()
    modelversion.reconcile(kube.add("modelversions", registered_version("iris-latest")),
                           "runtime:test", kube)
    status = kube.objects[("modelversions", NS, "iris-latest")]["status"]
    assert status["phase"] == VersionPhase.INVALID and "must be named iris-v7" in status["message"]
    assert kube.of_kind("Job") == []
    assert [(t, r) for t, r, _ in kube.events] == [(EventType.WARNING, VersionPhase.INVALID)]


def test_a_registered_model_version_is_verified_by_a_job_then_approved() -> None:
    kube = FakeKube()
    modelversion.reconcile(kube.add("modelversions", registered_version()), "runtime:test", kube)
    job_name = builders.verify_job_name("iris-v7")
    assert ("create", "Job", job_name) in kube.requests()
    version_status = kube.objects[("modelversions", NS, "iris-v7")]["status"]
    assert version_status["phase"] == VersionPhase.VERIFYING

    kube.objects[("Job", NS, job_name)]["status"] = {"succeeded": 1}
    result = json.dumps({"ok": True, "bytes": 1234})
    kube.pods[job_name] = [{"metadata": {"name": f"{job_name}-x"}, "status": {
        "containerStatuses": [{"name": "verify",
                               "state": {"terminated": {"message": result}}}]}}]
    modelversion.reconcile(kube.objects[("modelversions", NS, "iris-v7")], "runtime:test", kube)
    status = kube.objects[("modelversions", NS, "iris-v7")]["status"]
    assert status["phase"] == VersionPhase.APPROVED and "1234 bytes" in status["message"]
    assert [(t, r) for t, r, _ in kube.events] == [(EventType.NORMAL, VersionPhase.APPROVED)]


# --------------------------------------------------------------------------- model cards


def card_job_finished(kube: FakeKube, version: str, result: dict[str, Any] | None,
                      succeeded: bool = True) -> dict[str, Any]:
    """The card Job ended, its pod leaving ``result`` (None: no message at all)."""
    job_name = builders.card_job_name(version)
    job = kube.objects[("Job", NS, job_name)]
    job["status"] = {"succeeded": 1} if succeeded else {"failed": 1}
    state = {"terminated": {"message": json.dumps(result)}} if result is not None else {}
    kube.pods[job_name] = [{"metadata": {"name": f"{job_name}-x"}, "status": {
        "containerStatuses": [{"name": builders.CARD_CONTAINER, "state": state}]}}]
    return job


def test_a_judged_trained_version_gets_a_card_beside_its_metadata_once() -> None:
    kube = FakeKube()
    body = json.loads(json.dumps(TRAINING_JOB))
    body["metadata"]["annotations"] = {"mlops.dev/owner": "risk-team", "other": "x"}
    trainingjob.reconcile(kube.add("trainingjobs", body), SETTINGS, kube)
    finish_training(kube, TRAINED)
    trainingjob.reconcile(kube.objects[("trainingjobs", NS, "iris-logreg")], SETTINGS, kube)
    version = kube.objects[("modelversions", NS, "iris-v1")]
    assert version["metadata"]["annotations"] == {"mlops.dev/owner": "risk-team"}
    job = kube.objects[("Job", NS, builders.card_job_name("iris-v1"))]
    env = {e["name"]: e.get("value") for e in job["spec"]["template"]["spec"]["containers"][0]
           ["env"]}
    assert env["MLOPS_OUTPUT_URI"] == "pvc://claim/ns/iris/x/model-card.md"
    shown = json.loads(env["MLOPS_MODEL_VERSION"])
    assert shown["status"]["phase"] == VersionPhase.APPROVED  # the verdict is on the card
    assert version["status"]["modelCard"] == {"job": "iris-v1-card", "uri": None, "error": None}

    kube.requests()
    card_job_finished(kube, "iris-v1", {"ok": True, "uri": env["MLOPS_OUTPUT_URI"],
                                        "sha256": "c" * 64, "bytes": 2048})
    modelcard.collect_card(kube, kube.objects[("Job", NS, "iris-v1-card")])
    card = kube.objects[("modelversions", NS, "iris-v1")]["status"]["modelCard"]
    assert card == {"job": "iris-v1-card", "uri": env["MLOPS_OUTPUT_URI"], "sha256": "c" * 64,
                    "bytes": 2048, "error": None}
    assert (EventType.NORMAL, "ModelCardWritten") in [(t, r) for t, r, _ in kube.events]
    # Resumed later: the version has its card, nothing is started again.
    kube.requests()
    modelversion.reconcile(kube.objects[("modelversions", NS, "iris-v1")], "runtime:test", kube)
    modelcard.collect_card(kube, kube.objects[("Job", NS, "iris-v1-card")])
    assert [a for a in kube.requests() if a[0] != "get"] == []


def test_a_registered_version_gets_its_card_after_verification() -> None:
    kube = FakeKube()
    modelversion.reconcile(kube.add("modelversions", registered_version()), "runtime:test", kube)
    job_name = builders.verify_job_name("iris-v7")
    kube.objects[("Job", NS, job_name)]["status"] = {"succeeded": 1}
    kube.pods[job_name] = [{"metadata": {"name": f"{job_name}-x"}, "status": {
        "containerStatuses": [{"name": "verify", "state": {"terminated": {
            "message": json.dumps({"ok": True, "bytes": 10})}}}]}}]
    modelversion.reconcile(kube.objects[("modelversions", NS, "iris-v7")], "runtime:test", kube)
    job = kube.objects[("Job", NS, builders.card_job_name("iris-v7"))]
    env = {e["name"]: e.get("value") for e in job["spec"]["template"]["spec"]["containers"][0]
           ["env"]}
    assert env["MLOPS_OUTPUT_URI"] == "pvc://claim/ns/iris/iris-v7.model-card.md"


def test_a_card_job_that_fails_leaves_the_reason_on_the_version() -> None:
    kube = FakeKube()
    version = kube.add("modelversions", {**registered_version(), "status": {
        "phase": VersionPhase.APPROVED}})
    modelcard.request_card(kube, version, "runtime:test")
    card_job_finished(kube, "iris-v7", {"ok": False, "reason": "WriteFailed",
                                        "message": "read-only file system"}, succeeded=False)
    modelcard.collect_card(kube, kube.objects[("Job", NS, "iris-v7-card")])
    card = kube.objects[("modelversions", NS, "iris-v7")]["status"]["modelCard"]
    assert card["error"] == "WriteFailed: read-only file system"
    assert [(t, r) for t, r, _ in kube.events] == [(EventType.WARNING, "ModelCardFailed")]


def test_a_version_outside_a_claim_gets_no_job_but_says_why() -> None:
    kube = FakeKube()
    body = registered_version()
    body["spec"]["artifact"]["uri"] = "s3://models/iris/m.onnx"
    body["status"] = {"phase": VersionPhase.APPROVED}
    modelcard.request_card(kube, kube.add("modelversions", body), "runtime:test")
    assert kube.of_kind("Job") == []
    card = kube.objects[("modelversions", NS, "iris-v7")]["status"]["modelCard"]
    assert "s3://models/iris/m.onnx is not on a claim" in card["error"]


def test_a_refused_card_job_is_recorded_not_raised() -> None:
    kube = FakeKube()
    kube.refuse["Job"] = "exceeded quota: jobs"
    version = kube.add("modelversions", {**registered_version(), "status": {
        "phase": VersionPhase.REJECTED}})
    modelcard.request_card(kube, version, "runtime:test")
    card = kube.objects[("modelversions", NS, "iris-v7")]["status"]["modelCard"]
    assert "the model-card Job was refused" in card["error"] and "quota" in card["error"]


def test_a_wide_versions_card_input_stays_below_the_environment_limit() -> None:
    version = registered_version()
    version["spec"]["referenceStats"] = {f"column_{i}": {"mean": 1.0, "std": 2.0, "min": 0.0,
                                                         "max": 9.0} for i in range(3000)}
    text = builders.cards.card_input(version)
    assert len(text) <= builders.cards.MAX_INPUT_BYTES
    assert "referenceStats" not in json.loads(text)["spec"]  # read from metadata.json instead
    assert json.loads(text)["spec"]["artifact"] == version["spec"]["artifact"]
