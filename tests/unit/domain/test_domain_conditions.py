"""Condition merging keeps lastTransitionTime unless the status flips."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from mlops_operator.domain.conditions import (
    get_condition,
    is_true,
    is_valid_reason,
    make_condition,
    remove_condition,
    sanitize_reason,
    set_condition,
    set_conditions,
)

T1 = "2024-01-01T00:00:00Z"
T2 = datetime(2024, 1, 1, 0, 5, tzinfo=UTC)
T2S = "2024-01-01T00:05:00Z"


def ready(status: str, reason: str = "R", message: str = "m", **extra: object) -> dict:
    return {"type": "Ready", "status": status, "reason": reason, "message": message, **extra}


@pytest.mark.parametrize(
    ("existing", "new", "expected_time", "expected_reason"),
    [
        ([], ready("True"), T2S, "R"),  # new condition: stamped now
        ([ready("True", lastTransitionTime=T1)], ready("True", "Other"), T1, "Other"),  # same
        ([ready("True", lastTransitionTime=T1)], ready("False"), T2S, "R"),  # flipped
        ([ready("Unknown", lastTransitionTime=T1)], ready("True"), T2S, "R"),
        ([ready("True")], ready("True"), T2S, "R"),  # existing without a time gets one
    ],
)
def test_set_condition_transition_time(
    existing: list[dict], new: dict, expected_time: str, expected_reason: str
) -> None:
    result = set_condition(existing, new, T2)
    assert len(result) == 1
    assert result[0]["lastTransitionTime"] == expected_time
    assert result[0]["reason"] == expected_reason
    assert result[0]["status"] == new["status"]


def test_set_condition_is_pure_and_keeps_order() -> None:
    existing = [
        {"type": "A", "status": "True", "reason": "X", "message": "", "lastTransitionTime": T1},
        ready("False", lastTransitionTime=T1),
    ]
    snapshot = [dict(c) for c in existing]
    result = set_condition(existing, ready("True"), T2)
    assert existing == snapshot
    assert [c["type"] for c in result] == ["A", "Ready"]
    assert set_condition(result, {"type": "B", "status": True, "reason": "Y"}, T2)[-1]["type"] == (
        "B"
    )


def test_set_condition_ignores_given_time_and_drops_duplicates() -> None:
    existing = [ready("True", lastTransitionTime=T1), ready("False", lastTransitionTime=T1)]
    result = set_condition(existing, ready("True", lastTransitionTime="1999-01-01T00:00:00Z"), T2)
    assert result == [ready("True", lastTransitionTime=T1)]


@pytest.mark.parametrize(
    ("value", "expected"), [(True, "True"), (False, "False"), (None, "Unknown"), ("True", "True")]
)
def test_make_condition_status(value: object, expected: str) -> None:
    condition = make_condition("Ready", value, "Because", "msg", observed_generation=3)  # type: ignore[arg-type]
    assert condition == {
        "type": "Ready",
        "status": expected,
        "reason": "Because",
        "message": "msg",
        "observedGeneration": 3,
    }


@pytest.mark.parametrize("bad", ["yes", "true", 1])
def test_bad_status_is_refused(bad: object) -> None:
    with pytest.raises(ValueError):
        make_condition("Ready", bad, "R")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        set_condition([], {"type": "Ready", "status": bad}, T2)


def test_make_condition_refuses_bad_reason_and_truncates() -> None:
    with pytest.raises(ValueError):
        make_condition("Ready", True, "not a reason")
    assert len(make_condition("Ready", True, "R", "x" * 5000)["message"]) == 1024


@pytest.mark.parametrize(
    ("reason", "valid"),
    [("DatasetUnreachable", True), ("A", True), ("a_b:c,d", True), ("", False), ("1Bad", False),
     ("With space", False), ("Trailing:", False)],
)
def test_reason_validity(reason: str, valid: bool) -> None:
    assert is_valid_reason(reason) is valid
    assert sanitize_reason(reason, "Fallback") == (reason if valid else "Fallback")


def test_lookup_helpers() -> None:
    conditions = [ready("True"), {"type": "Progressing", "status": "False"}]
    assert get_condition(conditions, "Ready") == ready("True")
    assert get_condition(conditions, "Missing") is None
    assert is_true(conditions, "Ready") and not is_true(conditions, "Progressing")
    assert not is_true(None, "Ready")
    assert remove_condition(conditions, "Ready") == [{"type": "Progressing", "status": "False"}]
    merged = set_conditions(conditions, [ready("True"), ready("False")], T2)
    assert get_condition(merged, "Ready")["status"] == "False"
