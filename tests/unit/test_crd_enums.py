"""The CRDs' enums and the registries in the code name the same things: a name admitted by
the API server but unknown to the code fails only at run time, and a name the code knows
but the schema refuses can never be used."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from mlops_operator.domain.gates import METRIC_DIRECTIONS
from mlops_operator.routers import ROUTERS
from mlops_runtime.trainer.spec import ESTIMATORS

REPO = Path(__file__).resolve().parents[2]


def spec_schema(crd: str) -> dict[str, Any]:
    document = yaml.safe_load((REPO / "crds" / crd).read_text())
    version = document["spec"]["versions"][0]
    return version["schema"]["openAPIV3Schema"]["properties"]["spec"]


def at(schema: dict[str, Any], *path: str) -> dict[str, Any]:
    """The schema of the field at ``path`` (``[]`` steps into an array's items)."""
    for step in path:
        schema = schema["items"] if step == "[]" else schema["properties"][step]
    return schema


def test_the_estimator_enum_is_the_trainers_allowlist() -> None:
    names = at(spec_schema("trainingjob.yaml"), "estimator", "name")["enum"]
    assert sorted(names) == sorted(ESTIMATORS)


def test_the_router_enum_is_the_router_registry() -> None:
    assert sorted(at(spec_schema("deployment.yaml"), "router", "type")["enum"]) == sorted(ROUTERS)


@pytest.mark.parametrize("path", [("metrics", "[]", "name"), ("maxRegression", "metric")])
def test_quality_gate_metric_enums_are_the_metrics_the_gate_can_judge(path: tuple) -> None:
    gate = at(spec_schema("trainingjob.yaml"), "qualityGate")
    assert sorted(at(gate, *path)["enum"]) == sorted(METRIC_DIRECTIONS)
