"""A custom trainer's result: what a ModelVersion can be built from, and the field named
when it cannot (table test; the builder must never meet a result that fails here)."""

from __future__ import annotations

from typing import Any

import pytest
from mlops_operator import builders
from mlops_operator.domain.results import result_problem

ARTIFACT = {"uri": "s3://b/m.onnx", "sha256": "a" * 64}
GOOD: dict[str, Any] = {"ok": True, "artifacts": {"onnx": ARTIFACT}}
JOB = {"metadata": {"name": "tj", "uid": "0" * 36, "namespace": "ns"}, "spec": {"model": "m"}}


@pytest.mark.parametrize(
    ("result", "problem"),
    [
        (GOOD, None),
        ({**GOOD, "artifacts": {"onnx": ARTIFACT, "skops": None}}, None),
        ({**GOOD, "preferredFormat": "onnx", "plots": ["roc"], "metadataUri": "s3://b/m.json",
          "metrics": {"accuracy": 1.0}, "diagnostics": {}, "crossValidation": {"folds": 2}},
         None),
        ({"ok": True}, "result.artifacts must name an onnx or skops artifact"),
        ({**GOOD, "artifacts": "s3://b/m.onnx"}, "result.artifacts must name"),
        ({**GOOD, "artifacts": {}}, "result.artifacts must name"),
        ({**GOOD, "artifacts": {"onnx": {"uri": "s3://b/m.onnx"}}},
         "result.artifacts.onnx must be an object with string uri and sha256"),
        ({**GOOD, "artifacts": {"onnx": ARTIFACT, "pickle": ARTIFACT}},
         "result.artifacts.pickle: unknown format"),
        ({**GOOD, "preferredFormat": "skops"},
         "result.preferredFormat 'skops' is not among result.artifacts"),
        ({**GOOD, "metrics": [0.9]}, "result.metrics must be an object, got list"),
        ({**GOOD, "diagnostics": "good"}, "result.diagnostics must be an object, got str"),
        ({**GOOD, "inputSchema": 3}, "result.inputSchema must be an object, got int"),
        ({**GOOD, "plots": "roc"}, "result.plots must be a list of names"),
        ({**GOOD, "plots": [1]}, "result.plots must be a list of names"),
        ({**GOOD, "metadataUri": 5}, "result.metadataUri must be a string"),
    ],
)
def test_result_problem_names_the_field(result: dict[str, Any], problem: str | None) -> None:
    found = result_problem(result)
    if problem is None:
        assert found is None
        builders.build_model_version(JOB, "m-v1", 1, result, "img")  # and it builds
    else:
        assert found is not None and found.startswith(problem)
