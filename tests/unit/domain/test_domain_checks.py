"""Check specs: parsing, defaults, errors that name the field, and the CRD's enum."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from mlops_operator.domain.checks import (
    AnalysisSpecError,
    Builtin,
    CheckSpec,
    Comparison,
    MissingData,
    template_placeholders,
)

CRD = Path(__file__).resolve().parents[3] / "crds" / "deployment.yaml"


def test_check_spec_defaults_and_round_trip() -> None:
    spec = CheckSpec.from_dict({"name": "lat", "query": "q{deployment=\"{{deployment}}\"}",
                                "threshold": 0.3})
    assert (spec.direction, spec.interval, spec.count, spec.failure_limit) == (
        Comparison.BELOW, 30.0, 3, 0)
    assert (spec.inconclusive_limit, spec.consecutive_error_limit, spec.on_missing_data) == (
        0, 4, MissingData.INCONCLUSIVE)
    assert CheckSpec.from_dict(spec.to_dict()) == spec


def test_check_spec_full() -> None:
    spec = CheckSpec.from_dict({
        "name": "acc", "query": "sum(x)", "threshold": 0.9, "direction": "above",
        "interval": "1m30s", "count": 5, "failureLimit": 2, "inconclusiveLimit": 1,
        "consecutiveErrorLimit": 0, "onMissingData": "fail",
    })
    assert spec.interval == 90 and spec.count == 5 and spec.failure_limit == 2
    assert spec.on_missing_data is MissingData.FAIL and spec.direction is Comparison.ABOVE
    assert spec.consecutive_error_limit == 0


BUILTIN_DEFAULTS = [
    ("errorRate", 0.05, Comparison.BELOW), ("latencyP99", 0.5, Comparison.BELOW),
    ("predictionShift", 0.2, Comparison.BELOW), ("inputDrift", 0.5, Comparison.BELOW),
    ("predictionAgreement", 0.95, Comparison.ABOVE),
    ("liveAccuracy", -0.05, Comparison.ABOVE),
]


def test_the_defaults_table_covers_every_builtin() -> None:
    assert [name for name, _, _ in BUILTIN_DEFAULTS] == [b.value for b in Builtin]


@pytest.mark.parametrize(("builtin", "threshold", "direction"), BUILTIN_DEFAULTS)
def test_builtin_defaults(builtin: str, threshold: float, direction: Comparison) -> None:
    spec = CheckSpec.from_dict({"name": "c", "builtin": builtin})
    assert spec.threshold == threshold and spec.direction is direction
    assert CheckSpec.for_builtin(builtin).name == builtin


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({"query": "x", "threshold": 1}, "needs a non-empty name"),
        ({"name": " ", "query": "x", "threshold": 1}, "needs a non-empty name"),
        ({"name": "c", "threshold": 1}, "exactly one of query or builtin"),
        ({"name": "c", "query": "x", "builtin": "errorRate"}, "exactly one of query or builtin"),
        ({"name": "c", "query": "x"}, "threshold is required"),
        ({"name": "c", "query": ""}, "non-empty PromQL"),
        ({"name": "c", "builtin": "cpu"}, "builtin must be one of"),
        ({"name": "c", "query": "x", "threshold": "1"}, "finite number"),
        ({"name": "c", "query": "x", "threshold": 1, "direction": "under"}, "direction"),
        ({"name": "c", "query": "x", "threshold": 1, "interval": "soon"}, "invalid duration"),
        ({"name": "c", "query": "x", "threshold": 1, "interval": "0s"}, "positive"),
        ({"name": "c", "query": "x", "threshold": 1, "count": 0}, "count must be an integer >= 1"),
        ({"name": "c", "query": "x", "threshold": 1, "failureLimit": -1}, "failureLimit"),
        ({"name": "c", "query": "x", "threshold": 1, "inconclusiveLimit": 1.5},
         "inconclusiveLimit"),
        ({"name": "c", "query": "x", "threshold": 1, "onMissingData": "ignore"}, "onMissingData"),
        ({"name": "c", "query": "x", "threshold": 1, "failurelimit": 2}, "unknown field(s)"),
        ({"name": "c", "query": "x{a=\"{{pod}}\"}", "threshold": 1}, "unknown placeholder"),
        ({"name": "c", "builtin": "errorRate", "window": "1 minute"}, "invalid duration"),
        ("errorRate", "must be an object"),
        ({"name": "c", "builtin": "errorRate", "tolerance": 0.1}, "tolerance belongs to"),
        ({"name": "c", "builtin": "liveAccuracy", "tolerance": 0.1, "threshold": 0.9},
         "not both"),
        ({"name": "c", "builtin": "liveAccuracy", "tolerance": 2}, "between 0 and 1"),
    ],
)
def test_check_spec_errors(data: object, fragment: str) -> None:
    with pytest.raises(AnalysisSpecError) as caught:
        CheckSpec.from_dict(data)  # type: ignore[arg-type]
    assert fragment in str(caught.value)




@pytest.mark.parametrize(("data", "tolerance", "threshold"), [
    ({}, 0.05, -0.05),  # compared with stable, 0.05 worse allowed
    ({"tolerance": 0.0}, 0.0, 0.0),
    ({"tolerance": 0.1}, 0.1, -0.1),
    ({"threshold": 0.9}, None, 0.9),  # the canary's own accuracy
])
def test_live_accuracy_compares_with_stable_unless_a_threshold_is_set(
        data: dict[str, float], tolerance: float | None, threshold: float) -> None:
    spec = CheckSpec.from_dict({"name": "acc", "builtin": "liveAccuracy", **data})
    assert (spec.tolerance, spec.threshold, spec.window) == (tolerance, threshold, "10m")
    assert spec.direction is Comparison.ABOVE
    assert CheckSpec.from_dict(spec.to_dict()) == spec


def test_template_placeholders() -> None:
    assert template_placeholders("a{{track}}b{{track}}{{model}}") == {"track", "model"}
    assert template_placeholders("sum(rate(x[1m]))") == frozenset()


@pytest.mark.parametrize("template", ["x{{pod}}", "x{{ Namespace }}", "x{{namespace", "{{}}"])
def test_unknown_or_malformed_placeholders_are_refused(template: str) -> None:
    with pytest.raises(AnalysisSpecError):
        template_placeholders(template)


def test_the_crd_admits_exactly_the_builtin_checks() -> None:
    """Adding a Builtin without the CRD enum (or the reverse) fails here, not at admission."""
    text = CRD.read_text()
    enums = [line.split("enum:", 1)[1].strip() for line in text.splitlines()
             if "enum: [errorRate" in line]
    assert enums, "the CRD has no builtin enum"
    for enum in enums:
        assert yaml.safe_load(enum) == [b.value for b in Builtin]
