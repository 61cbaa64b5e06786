"""Data checks: spec parsing, each rule against a baseline profile, fail or warn."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pytest
from mlops_runtime.trainer.datachecks import (
    DataChecksSpec,
    Finding,
    category_shift,
    compare_profiles,
    enforce,
    parse_data_checks,
)
from mlops_runtime.trainer.errors import TrainerError
from mlops_runtime.trainer.profile import profile_table

BASELINE = "loans-v2"


def num(null: float = 0.0) -> dict[str, Any]:
    return {"type": "numeric", "nullShare": null, "distinct": 10, "min": 0.0, "max": 9.0,
            "mean": 4.5}


def cat(shares: dict[str, float], null: float = 0.0, other: float = 0.0) -> dict[str, Any]:
    doc: dict[str, Any] = {"type": "categorical", "nullShare": null, "distinct": len(shares),
                           "categories": shares}
    if other:
        doc["otherShare"] = other
    return doc


def profile(**columns: dict[str, Any]) -> dict[str, Any]:
    return {"rows": 100, "target": None, "columns": columns}


def check(previous: dict[str, Any], current: dict[str, Any], **spec: Any) -> list[Finding]:
    return compare_profiles(profile(**previous), profile(**current), DataChecksSpec(**spec),
                            BASELINE)


# ---- parsing spec.dataChecks --------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, None),
        ({}, DataChecksSpec()),
        ({"action": "warn", "maxNullShareIncrease": 0, "maxCategoryShift": 1,
          "allowNewColumns": False, "ignore": ["notes", "id", "notes"]},
         DataChecksSpec("warn", 0.0, 1.0, False, ("notes", "id"))),
        ({"action": None, "maxNullShareIncrease": None, "ignore": None}, DataChecksSpec()),
        ({"maxCategoryShift": 0.05}, DataChecksSpec(max_category_shift=0.05)),
    ],
    ids=["absent", "empty-means-defaults", "everything", "nulls-mean-defaults", "one-field"],
)
def test_parse(raw: Any, expected: DataChecksSpec | None) -> None:
    assert parse_data_checks(raw) == expected


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ([], "dataChecks must be an object, got list"),
        ({"action": "stop"}, "dataChecks.action must be one of fail, warn, got 'stop'"),
        ({"maxNullShareIncrease": 1.5}, "dataChecks.maxNullShareIncrease must be a number"),
        ({"maxNullShareIncrease": -0.1}, "dataChecks.maxNullShareIncrease must be a number"),
        ({"maxNullShareIncrease": "0.1"}, "dataChecks.maxNullShareIncrease must be a number"),
        ({"maxCategoryShift": True}, "dataChecks.maxCategoryShift must be a number"),
        ({"maxCategoryShift": float("nan")}, "dataChecks.maxCategoryShift must be a number"),
        ({"allowNewColumns": "yes"}, "dataChecks.allowNewColumns must be true or false"),
        ({"ignore": "notes"}, "dataChecks.ignore must be a list"),
        ({"ignore": ["a", ""]}, "dataChecks.ignore[1] must be a non-empty column name"),
        ({"ignore": [3]}, "dataChecks.ignore[0] must be a non-empty column name, got 3"),
        ({"maxNullShare": 0.1}, "dataChecks.maxNullShare is not a known field; valid: action"),
    ],
    ids=["not-object", "action", "null-above-1", "null-negative", "null-string",
         "shift-bool", "shift-nan", "allow-not-bool", "ignore-not-list", "ignore-empty-name",
         "ignore-not-string", "unknown-field"],
)
def test_parse_errors_name_the_field(raw: Any, fragment: str) -> None:
    with pytest.raises(TrainerError) as caught:
        parse_data_checks(raw)
    assert caught.value.reason == "InvalidParams"
    assert fragment in caught.value.message


# ---- the rules ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("previous", "current", "spec", "expected"),
    [
        ({"age": num()}, {"age": num()}, {}, []),
        ({"age": num(), "region": cat({"n": 1.0})}, {"age": num()}, {},
         [("region", "columnMissing",
           "column 'region' is in loans-v2's data but not in this dataset")]),
        ({"age": num()}, {"age": cat({"30": 1.0})}, {},
         [("age", "typeChanged",
           "column 'age' changed type: numeric in loans-v2, categorical now")]),
        ({"flag": {"type": "bool", "nullShare": 0.0}}, {"flag": num()}, {},
         [("flag", "typeChanged", "column 'flag' changed type: bool in loans-v2, numeric now")]),
        ({"age": num(0.02)}, {"age": num(0.35)}, {},
         [("age", "nullShare", "column 'age' is missing in 35.0% of rows, 2.0% in loans-v2 "
                               "(at most 10.0% more allowed)")]),
        ({"age": num(0.3)}, {"age": num(0.4)}, {}, []),  # exactly the limit: allowed
        ({"age": num(0.3)}, {"age": num(0.0)}, {}, []),  # fewer nulls: fine
        ({"age": num(0.0)}, {"age": num(0.0004)}, {"max_null_share_increase": 0.0},
         [("age", "nullShare", "missing in 0.04% of rows, 0.0% in loans-v2")]),
        ({"age": num(0.0)}, {"age": num(0.5)}, {"max_null_share_increase": 0.5}, []),
        ({"g": cat({"a": 0.5, "b": 0.5})}, {"g": cat({"a": 0.8, "b": 0.2})}, {},
         [("g", "categoryShift", "column 'g' category mix moved by 0.3 (limit 0.2): 'a' is "
                                 "80.0% of present values now, 50.0% in loans-v2")]),
        ({"g": cat({"a": 0.5, "b": 0.5})}, {"g": cat({"a": 0.6, "b": 0.4})}, {}, []),
        ({"g": cat({"a": 0.5, "b": 0.5})}, {"g": cat({"a": 0.6, "b": 0.4})},
         {"max_category_shift": 0.05}, [("g", "categoryShift", "moved by 0.1 (limit 0.05)")]),
        ({"g": cat({"a": 0.5, "b": 0.5})}, {"g": cat({"c": 0.7, "a": 0.3})}, {},
         [("g", "categoryShift", "moved by 0.7 (limit 0.2): 'c' is 70.0% of present values "
                                 "now, 0.0% in loans-v2")]),
        # More nulls, same mix of present values: the null check speaks, not the shift.
        ({"g": cat({"a": 0.5, "b": 0.5})}, {"g": cat({"a": 0.25, "b": 0.25}, null=0.5)}, {},
         [("g", "nullShare", "missing in 50.0% of rows, 0.0% in loans-v2")]),
        ({"age": num()}, {"age": num(), "score": num()}, {}, []),
        ({"age": num()}, {"age": num(), "score": num()}, {"allow_new_columns": False},
         [("score", "newColumn", "column 'score' is in this dataset but not in loans-v2's "
                                 "data; list it in dataChecks.ignore or set "
                                 "dataChecks.allowNewColumns: true")]),
    ],
    ids=["same", "column-missing", "type-changed", "bool-to-numeric", "null-share",
         "null-at-limit", "null-decrease", "tiny-null-share-visible", "null-limit-raised",
         "category-shift", "shift-under-limit", "shift-limit-lowered", "new-category-took-over",
         "nulls-are-not-a-shift", "new-column-allowed", "new-column-refused"],
)
def test_rules(previous: dict[str, Any], current: dict[str, Any], spec: dict[str, Any],
               expected: list[tuple[str, str, str]]) -> None:
    findings = check(previous, current, **spec)
    assert [(f.column, f.check) for f in findings] == [(c, k) for c, k, _ in expected]
    for finding, (_, _, fragment) in zip(findings, expected, strict=True):
        assert fragment in finding.message
        assert "\n" not in finding.message


@pytest.mark.parametrize(
    ("previous", "current", "expected"),
    [
        ({"x": num(0.1)}, {"x": {"type": "empty", "nullShare": 1.0, "distinct": 0}},
         [("x", "nullShare")]),
        ({"x": {"type": "empty", "nullShare": 1.0, "distinct": 0}}, {"x": num(0.2)}, []),
        ({"x": cat({"a": 0.95})}, {"x": {"type": "empty", "nullShare": 1.0, "distinct": 0}},
         [("x", "nullShare")]),
    ],
    ids=["emptied-is-a-null-finding", "filled-in-is-fine", "categorical-emptied"],
)
def test_an_all_missing_column_is_not_a_type_change(previous: dict[str, Any],
                                                    current: dict[str, Any],
                                                    expected: list[tuple[str, str]]) -> None:
    assert [(f.column, f.check) for f in check(previous, current)] == expected


def test_a_type_change_is_reported_alone() -> None:
    findings = check({"age": num(0.0)}, {"age": cat({"x": 0.1}, null=0.9)})
    assert [f.check for f in findings] == ["typeChanged"]
    assert (findings[0].previous, findings[0].current) == ("numeric", "categorical")


def test_ignore_skips_every_rule_for_the_column() -> None:
    previous = {"gone": num(), "typed": num(), "nulls": num(), "kept": num(0.0)}
    current = {"typed": cat({"a": 1.0}), "nulls": num(0.9), "kept": num(0.5), "new": num()}
    findings = check(previous, current, allow_new_columns=False,
                     ignore=("gone", "typed", "nulls", "new"))
    assert [(f.column, f.check) for f in findings] == [("kept", "nullShare")]


def test_order_is_the_baselines_column_order_then_new_columns() -> None:
    previous = {"b": num(), "a": num(), "c": num(), "d": cat({"x": 1.0})}
    current = {"z": num(), "d": cat({"y": 1.0}, null=0.0), "c": cat({"1": 1.0}),
               "a": num(0.9), "y": num()}
    findings = check(previous, current, allow_new_columns=False)
    assert [(f.column, f.check) for f in findings] == [
        ("b", "columnMissing"), ("a", "nullShare"), ("c", "typeChanged"),
        ("d", "categoryShift"), ("z", "newColumn"), ("y", "newColumn")]
    assert findings == check(previous, current, allow_new_columns=False)


def test_null_share_and_category_shift_together() -> None:
    findings = check({"g": cat({"a": 0.9, "b": 0.1})}, {"g": cat({"b": 0.5}, null=0.5)})
    assert [f.check for f in findings] == ["nullShare", "categoryShift"]
    assert findings[1].previous == {"category": "a", "share": 0.9, "distance": 0.9}
    assert findings[1].current == {"category": "a", "share": 0.0, "distance": 0.9}


# ---- the category distance ----------------------------------------------------------------
@pytest.mark.parametrize(
    ("before", "after", "distance", "moved"),
    [
        (cat({"a": 0.5, "b": 0.5}), cat({"a": 0.5, "b": 0.5}), 0.0, "a"),
        (cat({"a": 1.0}), cat({"b": 1.0}), 1.0, "a"),
        (cat({"a": 0.5, "b": 0.5}), cat({"b": 0.5, "a": 0.5}), 0.0, "a"),
        # The tail beyond the listed categories is one "other" bucket on each side.
        (cat({"a": 0.6}, other=0.4), cat({"a": 0.6}, other=0.4), 0.0, "a"),
        (cat({"a": 0.6}, other=0.4), cat({"a": 0.2}, other=0.8), 0.4, "a"),
        # Shares are of present values: 40% of rows out of 50% present is 80%.
        (cat({"a": 0.5, "b": 0.5}), cat({"a": 0.4, "b": 0.1}, null=0.5), 0.3, "a"),
    ],
    ids=["same", "disjoint", "order-irrelevant", "same-tail", "tail-grew", "renormalised"],
)
def test_category_distance(before: dict[str, Any], after: dict[str, Any], distance: float,
                           moved: str) -> None:
    result = category_shift(before, after)
    assert result is not None
    assert result[0] == pytest.approx(distance)
    assert result[1] == moved


def test_no_distance_without_present_values() -> None:
    assert category_shift(cat({"a": 1.0}), cat({}, null=1.0)) is None


# ---- fail or warn ---------------------------------------------------------------------------
def findings_of_two() -> list[Finding]:
    return check({"region": cat({"n": 1.0}), "age": num()}, {"age": cat({"1": 1.0})})


def test_fail_raises_with_every_message() -> None:
    with pytest.raises(TrainerError) as caught:
        enforce(findings_of_two(), DataChecksSpec(action="fail"), BASELINE)
    assert caught.value.reason == "DataCheckFailed"
    assert caught.value.message == (
        "2 data check(s) failed against loans-v2: column 'region' is in loans-v2's data but "
        "not in this dataset; column 'age' changed type: numeric in loans-v2, categorical now")


def test_warn_returns_the_messages_instead() -> None:
    warnings = enforce(findings_of_two(), DataChecksSpec(action="warn"), BASELINE)
    assert warnings == [f.message for f in findings_of_two()]
    assert len(warnings) == 2


@pytest.mark.parametrize("action", ["fail", "warn"])
def test_no_findings_no_complaint(action: str) -> None:
    assert enforce([], DataChecksSpec(action=action), BASELINE) == []


def test_findings_are_strict_json() -> None:
    findings = check({"g": cat({"a": 1.0}), "x": num()}, {"g": cat({"b": 1.0}), "y": num()},
                     allow_new_columns=False)
    docs = [f.to_dict() for f in findings]
    assert [d["check"] for d in docs] == ["categoryShift", "columnMissing", "newColumn"]
    assert set(docs[0]) == {"column", "check", "message", "previous", "current"}
    json.dumps(docs, allow_nan=False)


# ---- from data frames to a verdict -------------------------------------------------------------
def test_profiles_of_real_frames() -> None:
    rows = 200
    before = pd.DataFrame({
        "age": np.arange(rows, dtype=float),
        "region": ["north", "south"] * (rows // 2),
        "member": [True, False] * (rows // 2),
        "notes": ["x"] * rows,
        "default": [0, 1] * (rows // 2),
    })
    after = before.drop(columns=["notes"]).assign(
        age=[np.nan if i % 4 == 0 else float(i) for i in range(rows)],
        region=["north"] * 150 + [None] * 10 + [""] * 10 + ["south"] * 30,
        member=pd.Series([True, None] * (rows // 2), dtype=object),
    )
    spec = parse_data_checks({"action": "warn", "maxCategoryShift": 0.2})
    assert spec is not None
    findings = compare_profiles(profile_table(before, "default"),
                                profile_table(after, "default"), spec, BASELINE)
    assert [(f.column, f.check) for f in findings] == [
        ("age", "nullShare"), ("region", "categoryShift"), ("member", "nullShare"),
        ("notes", "columnMissing")]
    assert "'north' is 83.3% of present values now, 50.0% in loans-v2" in findings[1].message
    assert enforce(findings, spec, BASELINE) == [f.message for f in findings]
    assert compare_profiles(profile_table(before), profile_table(before), spec, BASELINE) == []
