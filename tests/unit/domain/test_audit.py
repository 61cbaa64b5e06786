"""The audit trail's records: spec changes with their author, decisions with their values."""

from __future__ import annotations

from typing import Any

import pytest
from mlops_operator.domain import audit

AT = "2026-12-04T10:00:00Z"


def _obj(generation: int, spec: dict[str, Any], managed: list[dict[str, Any]] | None = None,
         observed: int | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": "mlops.dev/v1alpha1", "kind": "Deployment",
        "metadata": {"name": "iris", "namespace": "ml", "uid": "u-1", "generation": generation,
                     "managedFields": managed or []},
        "spec": spec}
    if observed is not None:
        body["status"] = {"observedGeneration": observed}
    return body


def _entry(manager: str, time: str, fields: dict[str, Any], operation: str = "Apply",
           subresource: str | None = None) -> dict[str, Any]:
    entry = {"manager": manager, "operation": operation, "time": time, "fieldsV1": fields}
    if subresource:
        entry["subresource"] = subresource
    return entry


MANAGED = [
    _entry("kubectl", "2026-12-04T09:00:00Z", {"f:spec": {"f:modelVersion": {}}}),
    _entry("argocd-controller", "2026-12-04T09:30:00Z", {"f:spec": {"f:replicas": {}}},
           operation="Update"),
    _entry("mlops-operator", "2026-12-04T09:59:00Z", {"f:status": {}}, subresource="status"),
    _entry("kopf", "2026-12-04T09:58:00Z", {"f:metadata": {"f:finalizers": {}}},
           operation="Update"),
]


@pytest.mark.parametrize(("obj", "seen", "expected"), [
    # first sight of a new object: a creation, by whoever wrote the spec
    (_obj(1, {"modelVersion": "v1"}, MANAGED[:1]), None,
     {"action": "Created", "actor": "kubectl", "operation": "Apply",
      "spec": {"modelVersion": "v1"}}),
    # a new generation: the changed paths, by the newest spec writer (not status, not kopf)
    (_obj(3, {"modelVersion": "v2", "replicas": 2}, MANAGED),
     audit.Seen(2, {"modelVersion": "v1", "replicas": 2}),
     {"action": "SpecChanged", "actor": "argocd-controller", "operation": "Update",
      "previousGeneration": 2, "changeCount": 1,
      "changes": [{"path": "spec.modelVersion", "old": "v1", "new": "v2"}]}),
    # added and removed fields, nested; a list compared whole
    (_obj(2, {"steps": [{"setWeight": 50}], "analysis": {"interval": "5s"}}),
     audit.Seen(1, {"steps": [{"setWeight": 20}], "analysis": {"interval": "5s",
                                                                "failureLimit": 2}}),
     {"action": "SpecChanged", "actor": None, "previousGeneration": 1, "changeCount": 2,
      "changes": [{"path": "spec.analysis.failureLimit", "old": 2, "new": None},
                  {"path": "spec.steps", "old": [{"setWeight": 20}],
                   "new": [{"setWeight": 50}]}]}),
    # changed while no operator watched: recorded, its diff unknown
    (_obj(5, {"modelVersion": "v3"}, MANAGED[:1], observed=3), None,
     {"action": "SpecChanged", "previousGeneration": 3, "changes": None,
      "changeCount": None}),
    (_obj(4, {"modelVersion": "v2"}), None,
     {"action": "SpecChanged", "previousGeneration": None, "changes": None}),
])
def test_a_spec_change_is_recorded_with_its_author(
        obj: dict[str, Any], seen: audit.Seen | None, expected: dict[str, Any]) -> None:
    record = audit.spec_record(obj, seen, AT)
    assert record is not None
    assert {k: record.get(k) for k in expected} == expected
    assert (record["time"], record["kind"], record["namespace"], record["name"],
            record["uid"]) == (AT, "Deployment", "ml", "iris", "u-1")


@pytest.mark.parametrize(("obj", "seen"), [
    # a status-only event: the generation did not move
    (_obj(2, {"modelVersion": "v2"}), audit.Seen(2, {"modelVersion": "v2"})),
    # a new generation with the same spec (deletionTimestamp bumps it on a custom resource)
    (_obj(3, {"modelVersion": "v2"}), audit.Seen(2, {"modelVersion": "v2"})),
    # an older event replayed
    (_obj(1, {"modelVersion": "v1"}), audit.Seen(2, {"modelVersion": "v2"})),
    # after a restart, an object the operator had already observed at this generation
    (_obj(4, {"modelVersion": "v2"}, observed=4), None),
    (_obj(1, {"modelVersion": "v1"}, observed=1), None),
])
def test_nothing_is_recorded_when_the_spec_did_not_change(
        obj: dict[str, Any], seen: audit.Seen | None) -> None:
    assert audit.spec_record(obj, seen, AT) is None


def created(at: str, observed: int | None = 1) -> dict[str, Any]:
    obj = _obj(1, {"modelVersion": "v1"}, MANAGED[:1], observed=observed)
    obj["metadata"]["creationTimestamp"] = at
    return obj


@pytest.mark.parametrize(("creation", "recorded"), [
    ("2026-12-04T09:59:59Z", False),  # before this process watched: recorded back then
    ("2026-12-04T10:00:00Z", True),  # the very second it began: new
    ("2026-12-04T10:00:07Z", True),  # since: the watch merged its first events
])
def test_an_object_created_while_watching_is_recorded_even_if_already_handled(
        creation: str, recorded: bool) -> None:
    """kopf merges events that come close together: a ModelVersion the operator creates
    and judges at once may first be seen already observed. Since it was created after this
    process began watching, no one else can have recorded its creation."""
    record = audit.spec_record(created(creation), None, "2026-12-04T10:00:09Z",
                               watching_since="2026-12-04T10:00:00Z")
    assert (record is not None) is recorded
    if record is not None:  # timed at its creation, before the decisions about it
        assert (record["action"], record["time"]) == ("Created", creation)


def test_a_long_change_is_cut_and_many_changes_are_counted() -> None:
    old = {f"k{i}": i for i in range(80)}
    new = {f"k{i}": i + 1 for i in range(80)} | {"blob": "x" * 2000}
    record = audit.spec_record(_obj(2, new), audit.Seen(1, old), AT)
    assert record is not None
    assert record["changeCount"] == 81 and len(record["changes"]) == audit.MAX_CHANGES
    blob = next(c for c in record["changes"] if c["path"] == "spec.blob")
    assert blob["new"]["chars"] == 2002 and len(blob["new"]["truncated"]) == 512


def test_a_decision_keeps_its_values_and_a_deletion_its_subject() -> None:
    values = {"analysis": {"checks": [{"name": "errorRate", "value": 0.4}]}}
    record = audit.decision_record(_obj(3, {}), "Warning", "RolledBack", "rolled back v2", AT,
                                   values)
    assert record == {"time": AT, "kind": "Deployment", "apiVersion": "mlops.dev/v1alpha1",
                      "namespace": "ml", "name": "iris", "uid": "u-1", "generation": 3,
                      "action": "RolledBack", "type": "Warning", "message": "rolled back v2",
                      "actor": "mlops-operator", "details": values}
    assert "details" not in audit.decision_record(_obj(3, {}), "Normal", "Healthy", "", AT)
    assert audit.deletion_record(_obj(3, {}), AT)["action"] == "Deleted"
