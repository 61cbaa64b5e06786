"""The fairness rules of the quality gate: every verdict, and every malformed spec."""

from __future__ import annotations

from typing import Any

import pytest
from mlops_operator.domain import gates

GATE = {"sensitiveFeatures": ["sex"], "minGroupSize": 30,
        "limits": [{"metric": "demographic_parity_difference", "max": 0.1},
                   {"metric": "demographic_parity_ratio", "min": 0.8}]}


def report(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "minGroupSize": 30,
        "metrics": {"demographic_parity_difference": 0.333, "demographic_parity_ratio": 0.548,
                    "equalized_odds_difference": 0.21, "equalized_odds_ratio": 0.45,
                    "group_min_recall": None},
        "extremes": {"selectionRate": ["sex=female", "sex=male"],
                     "recall": ["sex=female", "sex=male"],
                     "falsePositiveRate": ["sex=female", "sex=male"]},
        "groups": {"sex=female": {"count": 415, "selectionRate": 0.405, "recall": 0.7,
                                  "falsePositiveRate": 0.1},
                   "sex=male": {"count": 485, "selectionRate": 0.738, "recall": 0.8,
                                "falsePositiveRate": 0.31}},
        "smallGroups": [],
    }
    base.update(overrides)
    return base


def judge(gate: dict[str, Any], fairness: Any) -> gates.GateResult:
    return gates.evaluate_gate({"fairness": gate}, {"accuracy": 0.8}, fairness=fairness)


def test_a_biased_version_is_rejected_naming_the_groups_and_their_rates() -> None:
    result = judge(GATE, report())
    assert not result.approved
    first = result.reasons[0]
    assert (first.metric, first.value, first.threshold, first.passed) == (
        "demographic_parity_difference", 0.333, 0.1, False)
    assert first.groups == ("sex=female", "sex=male")
    assert first.message == ("demographic_parity_difference = 0.333 above max 0.1 "
                             "(selection rate sex=female 0.405 vs sex=male 0.738)")
    assert "demographic_parity_ratio = 0.548 below min 0.8" in result.message


def test_a_fair_version_passes_every_limit() -> None:
    fair = report(metrics={"demographic_parity_difference": 0.073,
                           "demographic_parity_ratio": 0.88})
    result = judge(GATE, fair)
    assert result.approved and [r.passed for r in result.reasons] == [True, True]
    assert result.reasons[0].message.startswith("demographic_parity_difference = 0.073 within "
                                                "max 0.1")


@pytest.mark.parametrize("value,passed", [(0.1, True), (0.1000000000001, True), (0.1001, False)])
def test_bounds_are_inclusive(value: float, passed: bool) -> None:
    result = judge(GATE, report(metrics={"demographic_parity_difference": value,
                                         "demographic_parity_ratio": 0.9}))
    assert result.reasons[0].passed is passed


def test_a_group_too_small_to_judge_fails_naming_it_and_the_minimum() -> None:
    small = report(metrics={"demographic_parity_difference": 0.01,
                            "demographic_parity_ratio": 0.99},
                   smallGroups=["sex=other"],
                   groups={**report()["groups"], "sex=other": {"count": 12}})
    result = judge(GATE, small)
    assert not result.approved
    reason = result.reasons[0]
    assert (reason.metric, reason.threshold, reason.groups) == ("minGroupSize", 30,
                                                                ("sex=other",))
    assert "sex=other has 12 hold-out rows, fewer than qualityGate.fairness.minGroupSize 30" \
        in reason.message


@pytest.mark.parametrize("fairness", [None, {}, {"metrics": "x"}, "text"])
def test_no_per_group_metrics_fails_rather_than_passing(fairness: Any) -> None:
    result = judge(GATE, fairness)
    assert not result.approved
    assert result.reasons[0].message.startswith("fairness not judged: the trainer reported no")


def test_a_metric_that_could_not_be_computed_fails() -> None:
    gate = {**GATE, "limits": [{"metric": "group_min_recall", "min": 0.5}]}
    reason = judge(gate, report()).reasons[0]
    assert not reason.passed and reason.value is None
    assert reason.message.startswith("group_min_recall could not be computed (recall")


def test_equalized_odds_names_the_worse_of_recall_and_false_positive_rate() -> None:
    gate = {**GATE, "limits": [{"metric": "equalized_odds_difference", "max": 0.1}]}
    reason = judge(gate, report()).reasons[0]
    assert "false positive rate sex=female 0.1 vs sex=male 0.31" in reason.message


def test_no_fairness_block_means_no_fairness_reasons() -> None:
    result = gates.evaluate_gate({"metrics": [{"name": "accuracy", "min": 0.5}]},
                                 {"accuracy": 0.8}, fairness=report())
    assert [r.metric for r in result.reasons] == ["accuracy"]


@pytest.mark.parametrize("fairness,fragment", [
    ("x", "qualityGate.fairness must be an object"),
    ({"limits": [{"metric": "demographic_parity_difference", "max": 0.1}]},
     "sensitiveFeatures must list at least one column"),
    ({"sensitiveFeatures": ["sex"]}, "limits must list at least one limit"),
    ({"sensitiveFeatures": ["sex"], "limits": ["x"]}, "limits[0] must be an object"),
    ({"sensitiveFeatures": ["sex"], "limits": [{"metric": "accuracy", "max": 1}]},
     "limits[0].metric 'accuracy' is not a fairness metric"),
    ({"sensitiveFeatures": ["sex"], "limits": [{"metric": "demographic_parity_ratio"}]},
     "limits[0] (demographic_parity_ratio) needs min or max"),
    ({"sensitiveFeatures": ["sex"],
      "limits": [{"metric": "demographic_parity_ratio", "min": "high"}]},
     "limits[0].min must be a finite number"),
])
def test_malformed_fairness_gates_are_gate_errors(fairness: Any, fragment: str) -> None:
    with pytest.raises(gates.GateError, match=fragment.replace("[", r"\[").replace("(", r"\(")
                       .replace(")", r"\)")):
        gates.validate_gate({"fairness": fairness})
