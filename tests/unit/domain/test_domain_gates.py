"""Quality gate: bounds, regression against the best Approved version, errors."""

from __future__ import annotations

import pytest
from mlops_operator.domain.gates import (
    Direction,
    GateError,
    best_previous,
    evaluate_gate,
    metric_direction,
    validate_gate,
)

ACC_90 = {"metrics": [{"name": "accuracy", "min": 0.9}]}
RMSE_60 = {"metrics": [{"name": "rmse", "max": 60}]}
REGRESSION = {"maxRegression": {"metric": "accuracy", "tolerance": 0.02,
                                "compareWith": "bestApproved"}}
RMSE_REGRESSION = {"maxRegression": {"metric": "rmse", "tolerance": 5,
                                     "compareWith": "bestApproved"}}
CHAMPION = {"maxRegression": {"metric": "accuracy", "tolerance": 0.02}}
RMSE_CHAMPION = {"maxRegression": {"metric": "rmse", "tolerance": 5, "compareWith": "champion"}}


def scored(own: dict, champion: dict | None, rows: int = 200, data: str = "hold-out") -> dict:
    """A version's spec.evaluation: its own and the champion's scores on the same rows."""
    evaluation: dict = {"data": data, "rows": rows, "metrics": own}
    if champion is not None:
        evaluation["champion"] = champion
    return evaluation


@pytest.mark.parametrize(
    ("gate", "metrics", "best", "approved", "messages"),
    [
        (None, {}, None, True, []),
        ({}, {"accuracy": 0.1}, None, True, []),
        (ACC_90, {"accuracy": 0.95}, None, True, ["accuracy = 0.95 within min 0.9"]),
        (ACC_90, {"accuracy": 0.9}, None, True, ["accuracy = 0.9 within min 0.9"]),  # inclusive
        (ACC_90, {"accuracy": 0.85}, None, False, ["accuracy = 0.85 below min 0.9"]),
        (ACC_90, {}, None, False, ["accuracy is missing from the results"]),
        (ACC_90, {"accuracy": None}, None, False, ["accuracy is missing from the results"]),
        (ACC_90, {"accuracy": "high"}, None, False, ["accuracy is not a number ('high')"]),
        (ACC_90, {"accuracy": float("nan")}, None, False, ["accuracy is not a number (nan)"]),
        (RMSE_60, {"rmse": 59.5}, None, True, ["rmse = 59.5 within max 60"]),
        (RMSE_60, {"rmse": 61}, None, False, ["rmse = 61 above max 60"]),
        (
            {"metrics": [{"name": "r2", "min": 0.5, "max": 0.99}]},
            {"r2": 0.995},
            None,
            False,
            ["r2 = 0.995 within min 0.5", "r2 = 0.995 above max 0.99"],
        ),
        (
            {"metrics": [{"name": "accuracy", "min": 0.9}, {"name": "f1", "min": 0.9}]},
            {"accuracy": 0.95, "f1": 0.8},
            None,
            False,
            ["accuracy = 0.95 within min 0.9", "f1 = 0.8 below min 0.9"],
        ),
        (REGRESSION, {"accuracy": 0.5}, None, True,
         ["accuracy regression not checked: no previous Approved version"]),
        (REGRESSION, {"accuracy": 0.5}, {"f1": 0.9}, True,
         ["accuracy regression not checked: best version has no accuracy"]),
        (REGRESSION, {}, None, False, ["accuracy is missing from the results"]),
        (REGRESSION, {"accuracy": 0.92}, {"accuracy": 0.93}, True, None),
        (REGRESSION, {"accuracy": 0.91}, {"accuracy": 0.93}, True, None),  # exactly tolerance
        (REGRESSION, {"accuracy": 0.9}, {"accuracy": 0.93}, False, None),
        (REGRESSION, {}, {"accuracy": 0.93}, False, ["accuracy is missing from the results"]),
        (RMSE_REGRESSION, {"rmse": 54}, {"rmse": 50}, True, None),
        (RMSE_REGRESSION, {"rmse": 55}, {"rmse": 50}, True, None),
        (RMSE_REGRESSION, {"rmse": 56}, {"rmse": 50}, False, None),
        (RMSE_REGRESSION, {"rmse": 10}, {"rmse": 50}, True, None),  # better is fine
    ],
)
def test_evaluate_gate(
    gate: dict | None, metrics: dict, best: dict | None, approved: bool, messages: list | None
) -> None:
    result = evaluate_gate(gate, metrics, best)
    assert result.approved is approved
    if messages is not None:
        assert [r.message for r in result.reasons] == messages
    assert all(set(r) == {"metric", "value", "threshold", "passed", "message"}
               for r in result.reason_dicts())
    assert result.to_dict()["approved"] is approved


V2 = "iris-v2"


@pytest.mark.parametrize(
    ("gate", "evaluation", "approved", "message"),
    [
        # the challenger's own hold-out metric is high, but on the same rows it is worse
        (CHAMPION, scored({"accuracy": 0.80}, {"name": V2, "metrics": {"accuracy": 0.86}}),
         False, "accuracy = 0.8 vs champion iris-v2 0.86 on the same 200 hold-out rows: "
                "regressed below limit 0.84 (tolerance 0.02)"),
        (CHAMPION, scored({"accuracy": 0.84}, {"name": V2, "metrics": {"accuracy": 0.86}}),
         True, "accuracy = 0.84 vs champion iris-v2 0.86 on the same 200 hold-out rows: "
               "within limit 0.84 (tolerance 0.02)"),  # exactly the tolerance
        (CHAMPION, scored({"accuracy": 0.9}, {"name": V2, "metrics": {"accuracy": 0.86}},
                          rows=50, data="evaluation"),
         True, "accuracy = 0.9 vs champion iris-v2 0.86 on the same 50 evaluation rows: "
               "within limit 0.84 (tolerance 0.02)"),
        (RMSE_CHAMPION, scored({"rmse": 56}, {"name": V2, "metrics": {"rmse": 50}}),
         False, "rmse = 56 vs champion iris-v2 50 on the same 200 hold-out rows: "
                "regressed above limit 55 (tolerance 5)"),
        (CHAMPION, scored({"accuracy": 0.5}, None), True,
         "accuracy regression not checked: no Approved champion when this version was trained"),
        (CHAMPION, scored({}, None), False, "accuracy is missing from the results"),
        (CHAMPION, scored({"accuracy": 0.9}, {"name": V2, "error": "cannot read model artifact"}),
         False, "accuracy regression not checked: champion iris-v2 could not be re-scored: "
                "cannot read model artifact"),
        (CHAMPION, scored({"accuracy": 0.9}, {"name": V2, "metrics": {"f1": 0.9}}), False,
         "accuracy regression not checked: champion iris-v2 has no accuracy on the "
         "evaluation rows"),
        # no evaluation at all (a custom trainer): the older comparison, and it says so
        (CHAMPION, None, True, "the trainer did not re-score the champion, so this compares "
         "with the best Approved version's own hold-out: accuracy = 0.95 within regression "
         "limit: best Approved 0.96 with tolerance 0.02 (limit 0.94)"),
    ],
)
def test_champion_regression(gate: dict, evaluation: dict | None, approved: bool,
                             message: str) -> None:
    result = evaluate_gate(gate, {"accuracy": 0.95, "rmse": 40}, {"accuracy": 0.96},
                           evaluation)
    assert result.approved is approved
    assert [r.message for r in result.reasons] == [message]


def test_champion_reason_records_both_scores() -> None:
    result = evaluate_gate(CHAMPION, {"accuracy": 0.95},
                           evaluation=scored({"accuracy": 0.8},
                                             {"name": V2, "metrics": {"accuracy": 0.86}}))
    (reason,) = result.reason_dicts()
    assert reason["value"] == 0.8 and reason["baseline"] == V2
    assert reason["baselineValue"] == 0.86 and reason["threshold"] == pytest.approx(0.84)


def test_compare_with_is_validated() -> None:
    with pytest.raises(GateError, match="compareWith must be one of champion, bestApproved"):
        validate_gate({"maxRegression": {"metric": "accuracy", "tolerance": 0,
                                         "compareWith": "latest"}})


def test_regression_reason_names_limits() -> None:
    result = evaluate_gate(REGRESSION, {"accuracy": 0.9}, {"accuracy": 0.93})
    (reason,) = result.reasons
    assert reason.threshold == pytest.approx(0.91)
    assert reason.value == 0.9 and not reason.passed
    assert "regressed below best Approved 0.93 with tolerance 0.02" in reason.message
    assert result.message == reason.message


def test_full_spec_example() -> None:
    gate = {
        "metrics": [{"name": "accuracy", "min": 0.9}, {"name": "rmse", "max": 60}],
        "maxRegression": {"metric": "accuracy", "tolerance": 0.02},
    }
    result = evaluate_gate(gate, {"accuracy": 0.95}, {"accuracy": 0.96})
    assert not result.approved  # rmse is missing
    assert [r.passed for r in result.reasons] == [True, False, True]
    assert result.message == "rmse is missing from the results"


def test_messages_for_approval() -> None:
    assert evaluate_gate(None, {}).message == "no quality gate"
    assert evaluate_gate(ACC_90, {"accuracy": 1}).message == "all quality gate checks passed"


@pytest.mark.parametrize(
    ("gate", "fragment"),
    [
        ({"metrics": [{"name": "precision_at_k", "min": 0.5}]}, "unknown metric 'precision_at_k'"),
        ({"metrics": [{"name": "accuracy"}]}, "needs min or max"),
        ({"metrics": [{"name": "accuracy", "min": "high"}]}, "must be a finite number"),
        ({"metrics": [{"name": "accuracy", "min": True}]}, "must be a finite number"),
        ({"metrics": [{}]}, "unknown metric None"),
        ({"metrics": "accuracy"}, "must be a list"),
        ({"metrics": ["accuracy"]}, "must be an object"),
        ({"maxRegression": {"metric": "loss", "tolerance": 0.1}}, "unknown metric 'loss'"),
        ({"maxRegression": {"metric": "accuracy"}}, "tolerance must be a finite number"),
        ({"maxRegression": {"metric": "accuracy", "tolerance": -1}}, "must be >= 0"),
        ({"maxRegression": "accuracy"}, "must be an object"),
        ("accuracy", "must be an object"),
    ],
)
def test_invalid_gates_are_errors(gate: object, fragment: str) -> None:
    with pytest.raises(GateError, match=None) as caught:
        evaluate_gate(gate, {"accuracy": 1.0})  # type: ignore[arg-type]
    assert fragment in str(caught.value)
    with pytest.raises(GateError):
        validate_gate(gate)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("metric", "direction"),
    [("accuracy", Direction.HIGHER_IS_BETTER), ("f1", Direction.HIGHER_IS_BETTER),
     ("roc_auc", Direction.HIGHER_IS_BETTER), ("r2", Direction.HIGHER_IS_BETTER),
     ("rmse", Direction.LOWER_IS_BETTER), ("mae", Direction.LOWER_IS_BETTER)],
)
def test_metric_directions(metric: str, direction: Direction) -> None:
    assert metric_direction(metric) is direction


@pytest.mark.parametrize(
    ("candidates", "metric", "expected"),
    [
        ([], "accuracy", None),
        ([{"accuracy": 0.9}, {"accuracy": 0.95}, {"accuracy": 0.93}], "accuracy",
         {"accuracy": 0.95}),
        ([{"rmse": 50}, {"rmse": 40}, {"rmse": 45}], "rmse", {"rmse": 40}),
        ([{"f1": 0.9}, {"accuracy": None}], "accuracy", None),
        ([{"accuracy": None}, {"accuracy": 0.7}], "accuracy", {"accuracy": 0.7}),
    ],
)
def test_best_previous(candidates: list[dict], metric: str, expected: dict | None) -> None:
    assert best_previous(candidates, metric) == expected


def test_best_previous_unknown_metric() -> None:
    with pytest.raises(GateError):
        best_previous([{"x": 1}], "x")
