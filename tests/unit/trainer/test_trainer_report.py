"""Metrics, statistics and the 4 KiB termination message; pure functions."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mlops_runtime.trainer import evaluate, report
from mlops_runtime.trainer.export import input_schema, jsonable, predictions_match


def test_classification_metrics() -> None:
    y = np.array([0, 1, 2, 0, 1, 2])
    proba = np.eye(3)[y] * 0.8 + 0.2 / 3
    metrics = evaluate.classification_metrics(y, y, proba, [0, 1, 2])
    # each row is 0.13 off on its class and 0.07 on the other two: 0.13² + 2 × 0.07²
    assert metrics == {"accuracy": 1.0, "f1": 1.0, "balanced_accuracy": 1.0, "roc_auc": 1.0,
                       "pr_auc": 1.0, "brier": pytest.approx((0.4 / 3) ** 2 + 2 * (0.2 / 3) ** 2)}


def test_wrong_and_unsure_predictions_score_lower() -> None:
    y = np.array(["no", "no", "no", "yes"])
    proba = np.array([[0.6, 0.4], [0.4, 0.6], [0.7, 0.3], [0.45, 0.55]])
    metrics = evaluate.classification_metrics(y, np.array(["no", "yes", "no", "yes"]), proba,
                                              ["no", "yes"])
    assert metrics["accuracy"] == 0.75
    assert metrics["balanced_accuracy"] == pytest.approx((2 / 3 + 1) / 2)  # mean class recall
    # "yes" ranks 2nd of 4 by P(yes): precision 1/2 at full recall
    assert metrics["pr_auc"] == pytest.approx(0.5)
    # binary Brier of P(yes): (0.4² + 0.6² + 0.3² + 0.45²) / 4
    assert metrics["brier"] == pytest.approx((0.16 + 0.36 + 0.09 + 0.2025) / 4)


def test_binary_auc_and_absent_class() -> None:
    y = np.array([0, 1, 1, 0])
    proba = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.7, 0.3]])
    metrics = evaluate.classification_metrics(y, proba.argmax(axis=1), proba, [0, 1])
    assert metrics["accuracy"] == 0.75 and metrics["roc_auc"] == 1.0
    only_one = evaluate.classification_metrics(np.zeros(3), np.zeros(3), np.ones((3, 2)), [0, 1])
    assert only_one["roc_auc"] is None and only_one["pr_auc"] is None
    assert only_one["balanced_accuracy"] == 1.0


def test_regression_metrics() -> None:
    metrics = evaluate.regression_metrics(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 5.0]))
    assert math.isclose(metrics["rmse"] or 0, math.sqrt(4 / 3))
    assert math.isclose(metrics["mae"] or 0, 2 / 3)
    assert metrics["r2"] == -1.0
    assert evaluate.round_metrics({"x": 1 / 3, "y": None}) == {"x": 0.333333, "y": None}


def test_feature_stats_have_eleven_quantile_edges() -> None:
    x = np.column_stack([np.arange(101.0), np.full(101, 7.0)])
    stats = evaluate.feature_stats(x, ["ramp", "flat"])
    assert stats["ramp"]["quantileEdges"] == [float(v) for v in range(0, 101, 10)]
    assert stats["flat"] == {
        "count": 101,
        "mean": 7.0,
        "std": 0.0,
        "min": 7.0,
        "max": 7.0,
        "quantileEdges": [7.0] * 11,
    }
    assert set(evaluate.summary_stats(stats)["ramp"]) == {"mean", "std", "min", "max"}


def test_prediction_distributions() -> None:
    classes = evaluate.class_distribution(np.array(["a", "a", "b", "a"]), ["a", "b", "c"])
    assert classes["frequencies"] == {"a": 0.75, "b": 0.25, "c": 0.0}
    histogram = evaluate.value_histogram(np.arange(10.0))
    assert histogram["counts"] == [1] * 10 and len(histogram["binEdges"]) == 11


def test_schema_and_jsonable() -> None:
    schema = input_schema(["a", "b"], ["float", "int"], "classification", "y", np.array([0, 1]))
    assert schema["classes"] == [0, 1] and schema["features"][1] == {"name": "b", "type": "int"}
    assert jsonable({"n": np.float64("nan"), "t": (np.int64(3),), "o": object}) == {
        "n": None,
        "t": [3],
        "o": repr(object),
    }


def test_prediction_comparison() -> None:
    assert predictions_match(np.array([[1.00001]]), np.array([1.0]), classifier=False)
    assert not predictions_match(np.array([1.1]), np.array([1.0]), classifier=False)
    assert predictions_match(np.array(["a", "b"], dtype=object), np.array(["a", "b"]), True)
    assert not predictions_match(np.array([0, 1]), np.array([0, 2]), True)


def _payload(stats: dict[str, Any], uri_length: int) -> dict[str, Any]:
    uri = "pvc://models/" + "x" * uri_length
    return {
        "ok": True,
        "task": "regression",
        "metrics": {"rmse": 1.0, "mae": 0.5, "r2": 0.9},
        "artifacts": {"onnx": None, "skops": {"uri": uri + "/model.skops", "sha256": "0" * 64}},
        "preferredFormat": "skops",
        "onnxMatches": False,
        "dataset": {"uri": "sklearn://diabetes", "sha256": "1" * 64, "rows": 442, "columns": 11},
        "inputSchema": {"features": [{"name": n, "type": "float"} for n in stats], "task": "r"},
        "params": {"estimator": "Ridge", "estimatorParams": {"alpha": 1.0}},
        "referenceStats": stats,
        "predictionStats": {"type": "histogram", "counts": [1] * 10},
        "framework": {"sklearn": "1.9"},
        "metadataUri": uri + "/metadata.json",
    }


def test_small_message_is_complete() -> None:
    payload = _payload({"a": {"mean": 1.0, "std": 0.0, "min": 1.0, "max": 1.0}}, 10)
    assert json.loads(report.success_message(payload)) == payload


@settings(max_examples=40, deadline=None)
@given(
    features=st.integers(min_value=0, max_value=400),
    uri_length=st.integers(min_value=0, max_value=1500),
)
def test_success_message_always_fits(features: int, uri_length: int) -> None:
    stats = {
        f"feature_{i}": {"mean": 1.234567, "std": 2.5, "min": -1e9, "max": 1e9}
        for i in range(features)
    }
    payload = _payload(stats, uri_length)
    text = report.success_message(payload)
    assert len(text.encode()) <= report.MAX_MESSAGE_BYTES
    parsed = json.loads(text)
    assert parsed["ok"] is True
    if "referenceStats" not in parsed:
        assert parsed["statsTruncated"] is True
    if len(report.compact_json(payload)) <= report.MAX_MESSAGE_BYTES:
        assert parsed == payload


@given(st.text(max_size=6000))
def test_failure_message_always_fits(message: str) -> None:
    text = report.failure_message("DatasetMalformed", message)
    assert len(text.encode()) <= report.MAX_MESSAGE_BYTES
    parsed = json.loads(text)
    assert parsed["ok"] is False and parsed["reason"] == "DatasetMalformed"
    assert message.startswith(parsed["message"].removesuffix("..."))


def test_the_hold_out_evaluation_does_not_repeat_the_metrics_and_the_operator_restores_them(
) -> None:
    import json

    from mlops_operator.builders.training import hold_out_evaluation
    from mlops_runtime.trainer import report

    metrics = {"accuracy": 0.9}
    payload = {"ok": True, "metrics": metrics,
               "evaluation": {"data": "hold-out", "rows": 30, "metrics": metrics,
                              "champion": {"name": "m-v1", "metrics": {"accuracy": 0.8}}}}
    sent = json.loads(report.success_message(payload))
    assert "metrics" not in sent["evaluation"] and sent["evaluation"]["champion"]
    assert hold_out_evaluation(sent) == payload["evaluation"]
    other = {**payload, "evaluation": {**payload["evaluation"], "data": "evaluation",
                                       "metrics": {"accuracy": 0.7}}}
    assert json.loads(report.success_message(other))["evaluation"] == other["evaluation"]
