"""ModelVersion numbering and idempotent lookup by TrainingJob UID."""

from __future__ import annotations

from typing import Any

import pytest
from mlops_operator.domain import versions
from mlops_operator.domain.versions import (
    TRAINING_JOB_UID_LABEL,
    VersionPlan,
    champion,
    find_version_for_job,
    latest_approved,
    metadata_uri,
    next_version_name,
    next_version_number,
    parse_version_name,
    plan_version_for_job,
    training_job_uid_of,
    version_name,
)
from mlops_operator.domain.vocabulary import VersionPhase

APPROVED, REJECTED = VersionPhase.APPROVED, VersionPhase.REJECTED


def mv(name: str, uid: str | None = None, lineage_uid: str | None = None) -> dict:
    obj: dict = {"metadata": {"name": name}, "spec": {}}
    if uid:
        obj["metadata"]["labels"] = {TRAINING_JOB_UID_LABEL: uid}
    if lineage_uid:
        obj["spec"]["lineage"] = {"trainingJobUID": lineage_uid}
    return obj


@pytest.mark.parametrize(
    ("model", "existing", "expected"),
    [
        ("iris", [], 1),
        ("iris", ["iris-v1"], 2),
        ("iris", ["iris-v1", "iris-v7", "iris-v3"], 8),
        ("iris", ["iris-extra-v3"], 1),  # another model's name
        ("iris", ["iris-extra-v3", "iris-v2"], 3),
        ("iris-extra", ["iris-extra-v3", "iris-v9"], 4),
        ("iris", ["iris-v01", "iris-v0", "iris-vx", "iris-v", "iris", "iris-v-1", "iris-v2b"], 1),
        ("iris", ["iris-v10", "iris-v9"], 11),  # numeric, not lexical
        ("iris", ["IRIS-v5", "iris-V5"], 1),
    ],
)
def test_next_version_number(model: str, existing: list[str], expected: int) -> None:
    assert next_version_number(model, existing) == expected
    assert next_version_name(model, existing) == f"{model}-v{expected}"


@pytest.mark.parametrize(
    ("name", "model", "expected"),
    [
        ("iris-v3", None, ("iris", 3)),
        ("iris-extra-v3", None, ("iris-extra", 3)),
        ("iris-extra-v3", "iris", None),
        ("iris-extra-v3", "iris-extra", ("iris-extra", 3)),
        ("iris-v12", "iris", ("iris", 12)),
        ("iris-v0", None, None),
        ("iris-v01", "iris", None),
        ("iris-v", None, None),
        ("-v3", None, None),
        ("iris-v3-", None, None),
        ("Iris-v3", None, None),
        ("iris-v\u0663", "iris", None),  # a non-ASCII digit
        (None, None, None),
    ],
)
def test_parse_version_name(name: str, model: str | None, expected: tuple | None) -> None:
    assert parse_version_name(name, model) == expected


@pytest.mark.parametrize(("model", "n"), [("iris", 0), ("iris", -1), ("iris", True), ("Iris", 1),
                                          ("", 1), ("iris-", 1), ("x" * 51, 1), ("iris", 1.0)])
def test_version_name_rejects(model: str, n: int) -> None:
    with pytest.raises(ValueError):
        version_name(model, n)


def test_version_name_round_trips() -> None:
    assert version_name("iris", 4) == "iris-v4"
    assert parse_version_name(version_name("wine-quality", 17)) == ("wine-quality", 17)


@pytest.mark.parametrize(
    ("uid", "versions", "expected"),
    [
        ("u1", [], None),
        ("u1", [mv("iris-v1", "u0"), mv("iris-v2", "u1")], "iris-v2"),
        ("u1", [mv("iris-v1", lineage_uid="u1")], "iris-v1"),  # lineage when no label
        ("u1", [mv("iris-v1", "u0")], None),
        ("u1", [mv("iris-v5", "u1"), mv("iris-v3", "u1")], "iris-v3"),  # lowest number wins
        ("", [mv("iris-v1")], None),
    ],
)
def test_find_version_for_job(uid: str, versions: list[dict], expected: str | None) -> None:
    found = find_version_for_job(uid, versions)
    assert (found["metadata"]["name"] if found else None) == expected


def test_training_job_uid_prefers_label() -> None:
    assert training_job_uid_of(mv("iris-v1", "label", "lineage")) == "label"
    assert training_job_uid_of({}) is None


@pytest.mark.parametrize(
    ("versions", "expected"),
    [
        ([], VersionPlan("iris-v1", 1, exists=False)),
        ([mv("iris-v1", "other"), mv("iris-v2", "other")], VersionPlan("iris-v3", 3, False)),
        # after a crash between "create" and "record": reuse, never create a second one
        ([mv("iris-v1", "other"), mv("iris-v2", "job")], VersionPlan("iris-v2", 2, True)),
        ([mv("iris-extra-v9", "other")], VersionPlan("iris-v1", 1, False)),
    ],
)
def test_plan_version_for_job(versions: list[dict], expected: VersionPlan) -> None:
    assert plan_version_for_job("iris", "job", versions) == expected
    assert plan_version_for_job("iris", "job", iter(versions)) == expected  # any iterable


def _version(name: str, model: str, number: object, phase: str | None) -> dict:
    return {"metadata": {"name": name}, "spec": {"model": model, "version": number},
            "status": {"phase": phase} if phase else {}}


@pytest.mark.parametrize(("versions", "expected"), [
    ([], None),
    ([_version("iris-v1", "iris", 1, "Pending")], None),
    ([_version("iris-v1", "iris", 1, APPROVED)], "iris-v1"),
    # the newest Approved one, not the newest one
    ([_version("iris-v1", "iris", 1, APPROVED), _version("iris-v2", "iris", 2, APPROVED),
      _version("iris-v3", "iris", 3, REJECTED), _version("iris-v4", "iris", 4, "Pending")],
     "iris-v2"),
    # by number, not by name: v10 is newer than v9
    ([_version("iris-v9", "iris", 9, APPROVED), _version("iris-v10", "iris", 10, APPROVED)],
     "iris-v10"),
    # another model's versions and malformed numbers do not count
    ([_version("wine-v5", "wine", 5, APPROVED), _version("iris-x", "iris", "7", APPROVED),
      _version("iris-y", "iris", True, APPROVED), _version("iris-v1", "iris", 1, APPROVED)],
     "iris-v1"),
])
def test_latest_approved_is_the_newest_approved_version_of_that_model(
        versions: list[dict], expected: str | None) -> None:
    assert latest_approved(versions, "iris") == expected


THREE = [_version("iris-v1", "iris", 1, APPROVED), _version("iris-v2", "iris", 2, APPROVED),
         _version("iris-v3", "iris", 3, REJECTED), _version("wine-v7", "wine", 7, APPROVED)]


@pytest.mark.parametrize(("versions", "served", "expected"), [
    ([], [], None),
    (THREE, [], "iris-v2"),                        # newest Approved
    (THREE, ["iris-v1"], "iris-v1"),               # what a Deployment serves wins
    (THREE, ["iris-v1", "iris-v2"], "iris-v2"),    # two serve: the newer
    (THREE, ["iris-v3"], "iris-v2"),               # a Rejected one served is no champion
    (THREE, ["wine-v7", ""], "iris-v2"),           # other models' and empty names: ignored
    ([_version("iris-v3", "iris", 3, REJECTED)], ["iris-v3"], None),
])
def test_the_champion_is_what_serves_else_the_newest_approved(
        versions: list[dict], served: list[str], expected: str | None) -> None:
    chosen = champion(versions, "iris", served)
    assert (chosen["metadata"]["name"] if chosen else None) == expected


@pytest.mark.parametrize(("spec", "expected"), [
    ({"metadataUri": "s3://b/x/metadata.json"}, "s3://b/x/metadata.json"),
    ({"artifact": {"uri": "pvc://c/ns/iris/j/model.onnx"}, "lineage": {"trainingJob": "j"}},
     "pvc://c/ns/iris/j/metadata.json"),
    ({"artifact": {"uri": "pvc://c/ns/iris/j/model.skops"}, "lineage": {"trainingJob": "j"}},
     "pvc://c/ns/iris/j/metadata.json"),
    # registered by hand: nothing says a metadata.json is beside it
    ({"artifact": {"uri": "pvc://c/ns/iris/j/model.onnx"}, "lineage": {}}, None),
    ({"artifact": {"uri": "pvc://c/mine.onnx"}, "lineage": {"trainingJob": "j"}}, None),
    ({}, None),
])
def test_where_a_versions_metadata_is(spec: dict, expected: str | None) -> None:
    assert metadata_uri({"spec": spec}) == expected


@pytest.mark.parametrize("status,needed", [
    (None, False), ({}, False), ({"phase": "Verifying"}, False), ({"phase": "Invalid"}, False),
    ({"phase": "Approved"}, True), ({"phase": "Rejected"}, True),
    ({"phase": "Approved", "modelCard": {"job": "x-card", "uri": None}}, False),
    ({"phase": "Rejected", "modelCard": {"error": "refused"}}, False),
])
def test_judged_versions_without_a_card_need_one(status: Any, needed: bool) -> None:
    assert versions.needs_card(status) is needed


@pytest.mark.parametrize("result,failed,card", [
    (None, False, None),
    (None, True, {"job": "j", "error": "model-card Job j failed without a result"}),
    ({"ok": True, "uri": "pvc://c/m.md", "sha256": "a", "bytes": 3}, False,
     {"job": "j", "uri": "pvc://c/m.md", "sha256": "a", "bytes": 3, "error": None}),
    ({"ok": True}, False, {"job": "j", "error": "Failed: no message"}),
    ({"ok": False, "reason": "WriteFailed", "message": "disk full"}, True,
     {"job": "j", "error": "WriteFailed: disk full"}),
])
def test_a_card_jobs_result_becomes_the_status(result: Any, failed: bool, card: Any) -> None:
    assert versions.card_result(result, failed, "j") == card
