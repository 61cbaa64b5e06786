"""Spec parsing and validation: every bad input names what is wrong."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from mlops_runtime.trainer.errors import TrainerError
from mlops_runtime.trainer.spec import (
    ESTIMATORS,
    build_estimator,
    effective_params,
    load_spec_json,
    parse_spec,
)

BASE: dict[str, Any] = {
    "model": "iris",
    "dataset": {"uri": "sklearn://iris", "target": "target"},
    "estimator": {"name": "LogisticRegression", "params": {"max_iter": 200}},
}


def spec_with(**changes: Any) -> dict[str, Any]:
    """BASE with nested overrides: ``estimator__name="X"`` sets spec["estimator"]["name"]."""
    spec = copy.deepcopy(BASE)
    for dotted, value in changes.items():
        *parents, leaf = dotted.split("__")
        node = spec
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return spec


def failure(raw: dict[str, Any]) -> TrainerError:
    with pytest.raises(TrainerError) as caught:
        parse_spec(raw)
    return caught.value


def test_valid_spec_defaults() -> None:
    spec = parse_spec(BASE)
    assert spec.task == "classification"
    assert spec.dataset.test_fraction == 0.2
    assert spec.dataset.random_seed == 42
    assert spec.estimator.scaler == "standard"
    assert effective_params(spec.estimator, 42) == {"max_iter": 200, "random_state": 42}


def test_tree_models_default_to_no_scaler() -> None:
    spec = parse_spec(spec_with(estimator={"name": "RandomForestRegressor"}))
    assert spec.estimator.scaler == "none"
    assert spec.task == "regression"


def test_unknown_estimator_names_it_and_lists_allowed() -> None:
    error = failure(spec_with(estimator__name="XGBoost"))
    assert error.reason == "UnknownEstimator"
    assert "'XGBoost'" in error.message
    assert all(name in error.message for name in ESTIMATORS)


def test_unknown_param_is_named() -> None:
    error = failure(spec_with(estimator__params={"max_iter": 10, "learning_rat": 0.1}))
    assert error.reason == "InvalidParams"
    assert "'learning_rat'" in error.message and "LogisticRegression" in error.message


def test_bad_param_value_fails_before_any_io() -> None:
    error = failure(spec_with(estimator__params={"max_iter": "lots"}))
    assert error.reason == "InvalidParams"
    assert "max_iter" in error.message


def test_svc_is_built_with_probabilities() -> None:
    spec = parse_spec(spec_with(estimator={"name": "SVC"}))
    assert build_estimator(spec.estimator, 1).get_params()["probability"] is True
    error = failure(spec_with(estimator={"name": "SVC", "params": {"probability": False}}))
    assert error.reason == "InvalidParams" and "probability" in error.message


@pytest.mark.parametrize(
    ("changes", "needle"),
    [
        ({"task": "regression"}, "does not match"),
        ({"task": "ranking"}, "task must be one of"),
        ({"dataset__testFraction": 1.5}, "testFraction"),
        ({"dataset__randomSeed": -1}, "randomSeed"),
        ({"dataset__format": "xlsx"}, "dataset.format"),
        ({"dataset__features": ["a", "target"]}, "target column"),
        ({"dataset__columnScale": {"a": "big"}}, "columnScale"),
        ({"estimator__scaler": "robust"}, "scaler"),
        ({"model": ""}, "model"),
    ],
)
def test_invalid_spec_fields(changes: dict[str, Any], needle: str) -> None:
    error = failure(spec_with(**changes))
    assert error.reason == "InvalidParams"
    assert needle in error.message


def test_missing_sections() -> None:
    raw = copy.deepcopy(BASE)
    del raw["estimator"]
    assert "'estimator'" in failure(raw).message


@pytest.mark.parametrize("text", [None, "", "not json", "[1, 2]"])
def test_spec_json_must_be_an_object(text: str | None) -> None:
    with pytest.raises(TrainerError) as caught:
        load_spec_json(text)
    assert caught.value.reason == "InvalidParams"


def test_unknown_reason_is_a_bug() -> None:
    with pytest.raises(ValueError):
        TrainerError("Oops", "x")
