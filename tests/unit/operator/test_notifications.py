"""Notifications: a Deployment's decisions as CloudEvents, delivered over real HTTP to a
receiver on the loopback, picked by reason, with the token of the one Secret, retried."""

from __future__ import annotations

import time
from typing import Any

from mlops_operator.domain.audit import decision_record
from mlops_operator.outbox.notify import TOKEN_SECRET, Notifier

from tests.webhook import Receiver

AT = "2026-12-04T10:00:00Z"


def _deployment(*sinks: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "mlops.dev/v1alpha1", "kind": "Deployment",
            "metadata": {"name": "iris", "namespace": "ml", "uid": "u-1", "generation": 2},
            "spec": {"modelVersion": "iris-v2", "notifications": list(sinks)}}


def _wait(condition: Any, what: str) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"never: {what}")
        time.sleep(0.02)


def _notify(notifier: Notifier, obj: dict[str, Any], reason: str, **details: Any) -> None:
    notifier.notify(obj, decision_record(obj, "Normal", reason, f"{reason} happened", AT,
                                         details or None))


def test_each_sink_gets_the_reasons_it_asked_for_as_cloudevents(receiver: Receiver) -> None:
    secrets = {("ml", TOKEN_SECRET, "hook"): "s3cret"}
    notifier = Notifier(lambda ns, name, key: secrets.get((ns, name, key)), interval=0.02)
    picky = {"url": receiver.url, "events": ["RolledBack", "Promoted"], "tokenKey": "hook"}
    everything = {"url": receiver.url + "?all"}
    obj = _deployment(picky, everything)
    notifier.start()
    try:
        _notify(notifier, obj, "CanaryStarted")
        _notify(notifier, obj, "RolledBack", rollbackReason="AnalysisFailed: error-rate 0.4")
        _wait(lambda: len(receiver.received) == 3, "three events")
    finally:
        notifier.stop()
    by_type: dict[str, list[tuple[dict[str, str], dict[str, Any]]]] = {}
    for headers, event in receiver.received:
        by_type.setdefault(event["type"], []).append((headers, event))
    assert sorted(by_type) == ["dev.mlops.deployment.CanaryStarted",
                               "dev.mlops.deployment.RolledBack"]
    assert len(by_type["dev.mlops.deployment.RolledBack"]) == 2
    tokens = sorted(h.get("Authorization", "") for h, _ in by_type[
        "dev.mlops.deployment.RolledBack"])
    assert tokens == ["", "Bearer s3cret"]  # the picky sink's token, the other none
    headers, event = by_type["dev.mlops.deployment.RolledBack"][0]
    assert headers["Content-Type"] == "application/cloudevents+json"
    assert {k: event[k] for k in ("specversion", "source", "subject", "time")} == {
        "specversion": "1.0", "source": "/apis/mlops.dev/v1alpha1/namespaces/ml/deployments/iris",
        "subject": "iris", "time": AT}
    assert event["data"]["details"] == {"rollbackReason": "AnalysisFailed: error-rate 0.4"}
    assert len({e["id"] for _, e in receiver.received}) == 3


def test_a_failing_receiver_gets_the_event_later_and_a_refusing_one_never(
        receiver: Receiver) -> None:
    notifier = Notifier(lambda *_: None, interval=0.02, max_pause=0.05)
    sink = {"url": receiver.url}
    obj = _deployment(sink)
    receiver.answers = [503, 503, 204, 400]
    _notify(notifier, obj, "Promoted")  # 503, 503, then delivered
    _notify(notifier, obj, "Paused")  # 400: never taken
    notifier.start()
    try:
        _wait(lambda: notifier.pending("ml", sink) == 0 and not receiver.answers,
              "the queue emptied")
    finally:
        notifier.stop()
    assert [e["type"] for _, e in receiver.received] == ["dev.mlops.deployment.Promoted"]


def test_a_missing_token_holds_the_events_and_other_kinds_notify_nobody(
        receiver: Receiver) -> None:
    notifier = Notifier(lambda *_: None)
    sink = {"url": receiver.url, "tokenKey": "absent"}
    _notify(notifier, _deployment(sink), "Promoted")
    notifier.outbox.deliver(force=True)
    assert notifier.pending("ml", sink) == 1 and receiver.received == []
    version = _deployment(sink) | {"kind": "ModelVersion"}
    _notify(notifier, version, "Approved")
    assert notifier.pending("ml", sink) == 1
    notifier.stop()
