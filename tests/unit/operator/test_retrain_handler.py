"""The retrain loop's reconcile over the Kubernetes port, the alert hand-over, the runs'
manifests and their versions' lineage. FakeKube stands in for the API server."""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import json
import logging
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from mlops_operator import builders, names
from mlops_operator.config import Settings
from mlops_operator.domain import retrain as domain
from mlops_operator.domain.durations import as_datetime
from mlops_operator.domain.vocabulary import (
    ConditionType,
    EventType,
    RetrainReason,
    TrainingPhase,
    TriggerType,
)
from mlops_operator.handlers import retrain, trainingjob
from mlops_operator.handlers.context import OperatorContext
from mlops_operator.receivers.alertmanager import ModelAlert, make_app, model_alerts

from tests.unit.operator.fake_kube import FakeKube, fake_context

NS = "ns"
SETTINGS = Settings(runtime_image="runtime:test", artifact_claim="claim", time_zone="UTC")
PARENT = {
    "apiVersion": names.API_VERSION, "kind": "TrainingJob",
    "metadata": {"name": "iris", "namespace": NS, "uid": "uid-iris", "generation": 1,
                 "resourceVersion": "10", "creationTimestamp": "2026-11-24T10:00:00Z"},
    "spec": {"model": "iris", "dataset": {"uri": "sklearn://iris"},
             "estimator": {"name": "LogisticRegression"},
             "retrain": {"onAlerts": ["InputDrift"], "minInterval": "10m"}},
    "status": {"phase": TrainingPhase.SUCCEEDED, "conditions": [
        {"type": ConditionType.SUCCEEDED, "status": "True", "reason": TrainingPhase.SUCCEEDED,
         "message": "",
         "lastTransitionTime": "2026-11-24T10:01:00Z"}]},
}
DRIFT = domain.Trigger.firing(
    "InputDrift", {"alertname": "InputDrift", "model": "iris", "namespace": NS},
    as_datetime("2026-11-24T11:00:00Z"))


def context(kube: FakeKube) -> OperatorContext:
    """One operator process for one test: what it remembers across reconciles stays in it."""
    return fake_context(kube, SETTINGS)


def parent(kube: FakeKube, **retrain_spec: Any) -> dict[str, Any]:
    body = copy.deepcopy(PARENT)
    if retrain_spec:
        body["spec"]["retrain"] = retrain_spec
    kube.add("trainingjobs", body)
    return body


def stored(kube: FakeKube, name: str = "iris") -> dict[str, Any]:
    return kube.objects[("trainingjobs", NS, name)]


def indexed(kube: FakeKube) -> list[dict[str, Any]]:
    """What the retrain_runs index would hold for the parent."""
    found = []
    for body in kube.of_kind("trainingjobs"):
        meta = body["metadata"]
        if (meta.get("labels") or {}).get(builders.RETRAIN_OF_LABEL) == "iris":
            found += list(retrain.retrain_runs(NS, meta["name"], meta, body.get("status") or {})
                          .values())
    return found


def condition(kube: FakeKube) -> dict[str, Any]:
    return next(c for c in stored(kube)["status"]["conditions"]
                if c["type"] == ConditionType.RETRAINING)


def test_an_alert_starts_one_run_with_its_trigger_and_a_resend_starts_none() -> None:
    kube = FakeKube()
    ctx = context(kube)
    parent(kube)
    retrain.reconcile(copy.deepcopy(stored(kube)), [], [DRIFT], ctx)
    child = stored(kube, "iris-r1")
    assert child["spec"] == {k: v for k, v in PARENT["spec"].items() if k != "retrain"}
    assert child["metadata"]["labels"][builders.RETRAIN_OF_LABEL] == "iris"
    assert child["metadata"]["ownerReferences"][0]["uid"] == "uid-iris"
    trigger = json.loads(child["metadata"]["annotations"][builders.TRIGGER_ANNOTATION])
    assert trigger == {"type": TriggerType.ALERT, "alert": "InputDrift",
                       "startsAt": "2026-11-24T11:00:00Z",
                       "labels": {"alertname": "InputDrift", "model": "iris", "namespace": NS}}
    status = stored(kube)["status"]
    assert (status["retrain"]["runs"], status["retrain"]["active"]) == (1, "iris-r1")
    assert status["retrain"]["lastTrigger"] == trigger
    assert [c["type"] for c in status["conditions"]] == [ConditionType.SUCCEEDED,
                                                         ConditionType.RETRAINING]
    assert condition(kube)["reason"] == RetrainReason.RUN_ACTIVE
    assert [e[1] for e in kube.events] == [RetrainReason.RETRAIN_STARTED]
    assert "alert InputDrift" in kube.events[0][2]
    kube.requests()
    # Alertmanager re-sends the firing alert: judged already, nothing happens.
    retrain.reconcile(copy.deepcopy(stored(kube)), indexed(kube), [DRIFT], ctx)
    assert [a for a in kube.requests() if a[0] in ("create", "patch-status")] == []
    assert len(kube.events) == 1


def test_a_run_created_before_a_crash_is_not_created_twice() -> None:
    kube = FakeKube()
    ctx = context(kube)
    body = parent(kube)
    kube.add("trainingjobs", builders.build_retrain_run(body, 1, DRIFT.to_dict()))
    # The watch has not shown the run yet and the status was never written.
    retrain.reconcile(copy.deepcopy(body), [], [DRIFT], ctx)
    assert [n for (k, _, n) in kube.objects if k == "trainingjobs"] == ["iris", "iris-r1"]
    assert stored(kube)["status"]["retrain"]["runs"] == 1
    assert kube.events == []


def test_an_alert_within_min_interval_is_skipped_once_with_an_event() -> None:
    kube = FakeKube()
    ctx = context(kube)
    parent(kube)
    retrain.reconcile(copy.deepcopy(stored(kube)), [], [DRIFT], ctx)
    stored(kube, "iris-r1")["status"] = {"phase": TrainingPhase.SUCCEEDED}
    flap = domain.Trigger.firing("InputDrift", DRIFT.labels,
                                 as_datetime("2026-11-24T11:05:00Z"))
    for _resend in range(3):
        retrain.reconcile(copy.deepcopy(stored(kube)), indexed(kube), [flap], ctx)
    assert [e[1] for e in kube.events] == [RetrainReason.RETRAIN_STARTED,
                                              RetrainReason.RETRAIN_SKIPPED]
    assert "less than minInterval 10m" in kube.events[1][2]
    assert ("trainingjobs", NS, "iris-r2") not in kube.objects


@pytest.mark.parametrize(
    ("retrain_spec", "words"),
    [
        ({"schedule": "61 * * * *"}, "spec.retrain.schedule: invalid schedule '61 * * * *'"),
        ({"schedule": "0 3 * * *", "timeZone": "Europe/Atlantis"},
         "spec.retrain.timeZone: unknown time zone 'Europe/Atlantis'"),
    ],
)
def test_what_cel_cannot_check_becomes_a_condition_and_one_warning(
    retrain_spec: dict, words: str
) -> None:
    kube = FakeKube()
    ctx = context(kube)
    parent(kube, **retrain_spec)
    for _again in range(2):
        assert retrain.reconcile(copy.deepcopy(stored(kube)), [], [], ctx) is None
    found = condition(kube)
    assert (found["status"], found["reason"]) == ("False", RetrainReason.INVALID_SPEC)
    assert found["message"].startswith(words)
    assert [(e[0], e[1]) for e in kube.events] == [
        (EventType.WARNING, RetrainReason.INVALID_RETRAIN_SPEC)]
    assert words in kube.events[0][2]
    assert [n for (k, _, n) in kube.objects if k == "trainingjobs"] == ["iris"]


def test_history_limits_delete_old_runs_but_never_versions() -> None:
    kube = FakeKube()
    ctx = context(kube)
    body = parent(kube, onAlerts=["InputDrift"], successfulRunsHistoryLimit=1,
                  failedRunsHistoryLimit=0)
    for number, phase in ((1, TrainingPhase.SUCCEEDED), (2, TrainingPhase.FAILED),
                          (3, TrainingPhase.SUCCEEDED)):
        run = builders.build_retrain_run(body, number, DRIFT.to_dict())
        run["metadata"]["creationTimestamp"] = "2026-11-24T10:30:00Z"
        run["status"] = {"phase": phase}
        kube.add("trainingjobs", run)
        kube.add("modelversions", {"metadata": {"name": f"iris-v{number}", "namespace": NS}})
    retrain.reconcile(copy.deepcopy(stored(kube)), indexed(kube), [], ctx)
    deleted = [a for a in kube.requests() if a[0] == "delete"]
    assert deleted == [("delete", "TrainingJob", "iris-r1"), ("delete", "TrainingJob", "iris-r2")]
    # Versions are never deleted, nor collected with their run: they have no owner.
    assert len(kube.of_kind("modelversions")) == 3
    version = builders.build_model_version(stored(kube, "iris-r1") | {"metadata": {
        **stored(kube, "iris-r1")["metadata"], "uid": "uid-r1"}}, "iris-v1", 1, RESULT, "img")
    assert "ownerReferences" not in version["metadata"]
    assert stored(kube)["status"]["retrain"]["runs"] == 3


def test_a_stale_copy_is_re_read_so_the_other_handlers_condition_survives() -> None:
    kube = FakeKube()
    ctx = context(kube)
    body = parent(kube)
    stale = copy.deepcopy(body)
    stale["status"] = {}
    stale["metadata"]["resourceVersion"] = "9"
    retrain.reconcile(stale, [], [], ctx)
    types = [c["type"] for c in stored(kube)["status"]["conditions"]]
    assert types == [ConditionType.SUCCEEDED, ConditionType.RETRAINING]
    assert ("get", "trainingjobs", "iris") in kube.requests()


def test_the_training_handler_leaves_status_retrain_alone() -> None:
    kube = FakeKube()
    body = copy.deepcopy(PARENT)
    body["status"] = {"retrain": {"runs": 1}}
    kube.add("trainingjobs", copy.deepcopy(body))
    stored(kube)["status"]["retrain"] = {"runs": 5}  # written meanwhile by the retrain loop
    trainingjob._write(kube, body, dict(body["status"]), trainingjob.training.TrainingOutcome(
        TrainingPhase.PENDING, TrainingPhase.PENDING, "waiting"))
    assert stored(kube)["status"]["retrain"] == {"runs": 5}


# ---- alerts to runs --------------------------------------------------------------------
def test_model_alerts_reach_only_the_training_jobs_that_list_them() -> None:
    ctx = context(FakeKube())
    targets = retrain.retrain_targets(NS, "iris", PARENT["spec"])
    assert targets == {(NS, "iris", "InputDrift"): "iris"}
    index = {key: [name] for key, name in targets.items()}
    labels = {"alertname": "InputDrift", "namespace": NS, "model": "iris"}
    alerts = [ModelAlert(NS, "iris", "InputDrift", labels, "2026-11-24T11:00:00Z"),
              ModelAlert(NS, "iris", "Unlisted", {**labels, "alertname": "Unlisted"}, None),
              ModelAlert("other", "iris", "InputDrift", labels, None)]
    # No loop runs for it yet (not the leader yet, or just created): queued, no error.
    retrain.queue_model_alerts(ctx, index, alerts)
    assert list(ctx.retrain_pending) == [(NS, "iris")]
    (trigger,) = ctx.retrain_pending[(NS, "iris")].values()
    assert trigger == DRIFT
    ctx.retrain_wakeups.register((NS, "iris"))
    retrain.queue_model_alerts(ctx, index, alerts[:1])
    assert ctx.retrain_wakeups._events[(NS, "iris")].is_set()
    assert not ctx.wakeups._events  # the Deployments' loops are another table


def test_the_receiver_reports_firing_model_alerts_only() -> None:
    payload = {"alerts": [
        {"status": "firing", "startsAt": "2026-11-24T11:00:00Z",
         "labels": {"alertname": "InputDrift", "namespace": NS, "model": "iris"}},
        {"status": "resolved", "labels": {"alertname": "InputDrift", "namespace": NS,
                                          "model": "iris"}},
        {"status": "firing", "labels": {"alertname": "X", "namespace": NS}},
        {"status": "firing", "labels": {"alertname": "Y", "model": "iris"}},
    ]}
    assert model_alerts(payload) == [ModelAlert(
        NS, "iris", "InputDrift", {"alertname": "InputDrift", "namespace": NS, "model": "iris"},
        "2026-11-24T11:00:00Z")]


def test_the_receiver_hands_model_alerts_over_after_authentication(tmp_path) -> None:
    token = tmp_path / "token"
    token.write_text("secret")
    body = {"alerts": [{"status": "firing", "startsAt": "2026-11-24T11:00:00Z",
                        "labels": {"alertname": "InputDrift", "namespace": NS,
                                   "model": "iris"}}]}

    async def run(header: str) -> tuple[int, list]:
        reported: list = []
        app = make_app({}, str(token), lambda touched: None, reported.append)
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            response = await client.post("/alerts", json=body,
                                         headers={"Authorization": header})
            return response.status, reported

    assert asyncio.run(run("Bearer wrong")) == (401, [])
    status, reported = asyncio.run(run("Bearer secret"))
    assert status == 200 and [[a.model for a in r] for r in reported] == [["iris"]]


# ---- the version's lineage ---------------------------------------------------------------
RESULT = {"artifacts": {"onnx": {"uri": "pvc://claim/a/model.onnx", "sha256": "a" * 64}},
          "metrics": {"accuracy": 0.9}}


def test_a_run_version_records_its_parent_and_trigger() -> None:
    run = builders.build_retrain_run(PARENT, 2, DRIFT.to_dict())
    run["metadata"]["uid"] = "uid-run"
    lineage = builders.build_model_version(run, "iris-v3", 3, RESULT, "img")["spec"]["lineage"]
    assert lineage["retrainOf"] == "iris" and lineage["trainingJob"] == "iris-r2"
    assert lineage["trigger"] == DRIFT.to_dict()
    scheduled = builders.build_retrain_run(
        PARENT, 3, domain.Trigger.schedule(as_datetime("2026-11-25T03:00:00Z"))
        .to_dict())
    scheduled["metadata"]["uid"] = "uid-run3"
    lineage = builders.build_model_version(scheduled, "iris-v4", 4, RESULT, "img")["spec"][
        "lineage"]
    assert lineage["trigger"] == {"type": TriggerType.SCHEDULE,
                                  "scheduledTime": "2026-11-25T03:00:00Z"}


@pytest.mark.parametrize("annotation", ["not json", "[1]", '{"type": "guess"}'])
def test_a_hand_edited_trigger_does_not_block_the_version(annotation: str) -> None:
    run = builders.build_retrain_run(PARENT, 1, DRIFT.to_dict())
    run["metadata"]["uid"] = "uid-run"
    run["metadata"]["annotations"][builders.TRIGGER_ANNOTATION] = annotation
    lineage = builders.build_model_version(run, "iris-v2", 2, RESULT, "img")["spec"]["lineage"]
    assert lineage["retrainOf"] == "iris" and "trigger" not in lineage


def test_a_plain_training_job_has_no_retrain_lineage() -> None:
    plain = copy.deepcopy(PARENT)
    lineage = builders.build_model_version(plain, "iris-v1", 1, RESULT, "img")["spec"]["lineage"]
    assert "retrainOf" not in lineage and "trigger" not in lineage


def test_default_zone(caplog: pytest.LogCaptureFixture) -> None:
    assert str(retrain.default_zone(SETTINGS)) == "UTC"
    assert retrain.default_zone(Settings(time_zone=":Europe/Berlin")).key == "Europe/Berlin"
    local = dt.datetime.now().astimezone().tzinfo
    assert retrain.default_zone(Settings()) == local  # none configured: local time
    with caplog.at_level(logging.WARNING, logger=retrain.__name__):
        assert retrain.default_zone(Settings(time_zone="Nowhere/Else")) == local
    assert "'Nowhere/Else' unknown" in caplog.text


def test_removing_retrain_drops_its_status_and_condition_only() -> None:
    kube = FakeKube()
    ctx = context(kube)
    parent(kube)
    retrain.reconcile(copy.deepcopy(stored(kube)), [], [], ctx)
    body = copy.deepcopy(stored(kube))
    del body["spec"]["retrain"]
    stored(kube)["spec"] = copy.deepcopy(body["spec"])
    body["metadata"]["resourceVersion"] = "1"  # stale: read again
    retrain.forget(kube, body)
    status = stored(kube)["status"]
    assert status["retrain"] is None
    assert [c["type"] for c in status["conditions"]] == [ConditionType.SUCCEEDED]
