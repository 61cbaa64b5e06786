"""RolloutSpec parsed and validated; an invalid one holds everything as it is
(``rollout.spec``, ``rollout.finish``'s hold)."""

from __future__ import annotations

import pytest
from mlops_operator.domain.rollout import (
    Observations,
    PromotionStage,
    RolloutSpec,
    RolloutSpecError,
    RolloutStatus,
    StepKind,
    TrackState,
    Weights,
    decide,
    decide_from_dicts,
)
from mlops_operator.domain.vocabulary import RolloutReason

from tests.unit.domain.rollout_sim import (
    DEGRADED,
    HEALTHY_V1,
    PROGRESSING,
    V1,
    V2,
    Sim,
    at,
    events,
)


def test_spec_from_dict_full() -> None:
    spec = RolloutSpec.from_dict(
        {
            "modelVersion": V2,
            "replicas": 3,
            "paused": True,
            "strategy": {
                "progressDeadline": "5m",
                "analysis": {"checks": [{"name": "err", "builtin": "errorRate",
                                         "threshold": 0.01}]},
                "steps": [
                    {"setWeight": 10},
                    {"pause": {"duration": "1m"}},
                    {"pause": {}},
                    {"pause": None},
                    {"analysis": {}},
                    {"analysis": {"checks": ["err", "latencyP99",
                                             {"name": "q", "query": "x", "threshold": 1}]}},
                ],
            },
        },
        generation=7,
    )
    assert (spec.model_version, spec.replicas, spec.paused, spec.promote, spec.abort) == (
        V2, 3, True, False, False)
    assert spec.progress_deadline == 300 and spec.generation == 7
    kinds = [s.kind for s in spec.steps]
    assert kinds == [StepKind.SET_WEIGHT, StepKind.PAUSE, StepKind.PAUSE, StepKind.PAUSE,
                     StepKind.ANALYSIS, StepKind.ANALYSIS]
    assert [s.duration for s in spec.steps[1:4]] == [60, None, None]
    assert [c.name for c in spec.steps[4].checks] == ["err"]  # the deployment's default checks
    assert [c.name for c in spec.steps[5].checks] == ["err", "latencyP99", "q"]
    assert spec.steps[5].checks[0].threshold == 0.01


def test_spec_defaults() -> None:
    spec = RolloutSpec.from_dict({"modelVersion": V2})
    assert spec.replicas == 1 and spec.progress_deadline == 600
    assert [s.describe() for s in spec.steps] == [
        "setWeight 20", "analysis errorRate, latencyP99", "setWeight 50",
        "analysis errorRate, latencyP99"]
    assert RolloutSpec.from_dict({"modelVersion": V2, "strategy": {"steps": []}}).steps == ()


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ({}, "spec.modelVersion must name a ModelVersion"),
        ({"modelVersion": ""}, "spec.modelVersion"),
        ({"modelVersion": V2, "replicas": 0}, "spec.replicas"),
        ({"modelVersion": V2, "replicas": "2"}, "spec.replicas"),
        ({"modelVersion": V2, "promote": "yes"}, "spec.promote must be true or false"),
        ({"modelVersion": V2, "strategy": {"stepz": []}}, "unknown field(s) stepz"),
        ({"modelVersion": V2, "strategy": {"steps": {}}}, "steps must be a list"),
        ({"modelVersion": V2, "strategy": {"steps": [{"setWeight": 120}]}}, "0..100"),
        ({"modelVersion": V2, "strategy": {"steps": [{"setWeight": "20"}]}}, "0..100"),
        ({"modelVersion": V2, "strategy": {"steps": [{"setWeight": 20, "pause": {}}]}},
         "exactly one of"),
        ({"modelVersion": V2, "strategy": {"steps": [{"wait": 5}]}}, "unknown step 'wait'"),
        ({"modelVersion": V2, "strategy": {"steps": [{"pause": {"duration": "soon"}}]}},
         "steps[0].pause.duration: invalid duration"),
        ({"modelVersion": V2, "strategy": {"steps": [{"pause": {"for": "1m"}}]}}, "pause must be"),
        ({"modelVersion": V2, "strategy": {"steps": [{"analysis": {"checks": ["nope"]}}]}},
         "unknown check 'nope'"),
        ({"modelVersion": V2, "strategy": {"steps": [{"analysis": {"checks": []}}]}},
         "non-empty list"),
        ({"modelVersion": V2, "strategy": {"steps": [{"analysis": {"checks": [
            "errorRate", "errorRate"]}}]}}, "duplicate check name(s) errorRate"),
        ({"modelVersion": V2, "strategy": {"steps": [{"analysis": {"checks": [
            {"name": "q", "query": "x"}]}}]}}, "steps[0].analysis.checks[0]: check 'q': threshold"),
        ({"modelVersion": V2, "strategy": {"analysis": {"checks": ["errorRate"]}}},
         "non-empty list of checks"),
        ({"modelVersion": V2, "strategy": {"analysis": {"metrics": []}}}, "analysis must be"),
        ({"modelVersion": V2, "strategy": {"progressDeadline": "forever"}}, "progressDeadline"),
        ({"modelVersion": V2, "strategy": {"alerts": "CanaryLatencyHigh"}},
         "spec.strategy.alerts must be a list of alert names"),
        ({"modelVersion": V2, "strategy": {"alerts": [""]}}, "spec.strategy.alerts"),
        ("not a spec", "spec must be an object"),
    ],
)
def test_spec_errors(spec: object, fragment: str) -> None:
    with pytest.raises(RolloutSpecError) as caught:
        RolloutSpec.from_dict(spec)  # type: ignore[arg-type]
    assert fragment in str(caught.value)


def test_invalid_analysis_step_shape() -> None:
    with pytest.raises(RolloutSpecError, match=r"steps\[0\].analysis must be"):
        RolloutSpec.from_dict({"modelVersion": V2, "strategy": {"steps": [
            {"analysis": {"check": ["errorRate"]}}]}})


def test_a_followed_model_parses_and_a_half_follow_names_the_field() -> None:
    spec = RolloutSpec.from_dict({"model": "iris", "follow": "latestApproved"})
    assert spec.model_version == ""  # the handler resolves it before deciding
    with pytest.raises(RolloutSpecError, match=r"spec\.follow must be latestApproved"):
        RolloutSpec.from_dict({"model": "iris"})
    with pytest.raises(RolloutSpecError, match=r"spec\.modelVersion must name a ModelVersion"):
        RolloutSpec.from_dict({"replicas": 2})


def test_invalid_spec_holds_traffic_and_says_why() -> None:
    sim = Sim()
    sim.tick()
    sim.tick()
    held = sim.status
    obs = sim.observe()
    bad = {"modelVersion": V2, "replicas": 4, "strategy": {"steps": [{"setWeight": 500}]}}
    d = decide_from_dicts(bad, held.to_dict(), obs, generation=9)
    assert d.status.phase is DEGRADED and events(d) == [RolloutReason.INVALID_SPEC]
    assert d.weights == Weights(80, 20) and (d.canary_version, d.canary_replicas) == (V2, 1)
    assert (d.stable_version, d.stable_replicas) == (V1, 4)
    assert d.conditions[1]["reason"] == RolloutReason.INVALID_SPEC
    assert d.conditions[1]["observedGeneration"] == 9
    assert d.actions == ()
    again = decide_from_dicts(bad, d.status.to_dict(), obs, generation=9)
    assert again.events == ()
    good = {"modelVersion": V2, "replicas": 4, "strategy": {"steps": [
        {"setWeight": 20}, {"pause": {"duration": "30s"}}]}}
    fixed = decide_from_dicts(good, d.status.to_dict(), obs)
    assert fixed.status.phase is PROGRESSING and fixed.weights == Weights(80, 20)


def test_decide_from_dicts_matches_decide() -> None:
    obs = Observations(now=at(5), target_approved=True, stable=TrackState(V1, 1))
    raw = {"modelVersion": V2, "strategy": {"steps": [{"setWeight": 50}]}}
    expected = decide(RolloutSpec.from_dict(raw), HEALTHY_V1, obs)
    assert decide_from_dicts(raw, HEALTHY_V1.to_dict(), obs) == expected


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (RolloutStatus(), (None, 0, None, 0, Weights(100, 0))),
        (HEALTHY_V1, (V1, 3, None, 0, Weights(100, 0))),
        (RolloutStatus(phase=PROGRESSING, stable_version=V1, canary_version=V2,
                       current_step_index=2, current_weight=100,
                       promotion=PromotionStage.UPDATING_STABLE),
         (V2, 3, V2, 3, Weights(0, 100))),
        (RolloutStatus(phase=PROGRESSING, stable_version=V1, canary_version=V2,
                       current_step_index=2, current_weight=0,
                       promotion=PromotionStage.SCALING_UP),
         (V1, 3, V2, 3, Weights(100, 0))),
    ],
)
def test_invalid_spec_holds_every_stage(status: RolloutStatus, expected: tuple) -> None:
    obs = Observations(now=at(0), target_approved=True, stable=TrackState(V1, 3))
    d = decide_from_dicts({"modelVersion": V2, "strategy": "fast"}, status.to_dict(), obs)
    assert (d.stable_version, d.stable_replicas, d.canary_version, d.canary_replicas,
            d.weights) == expected
    assert "spec.strategy must be an object" in d.status.message
    assert d.weights.as_dict() == {"stable": expected[4].stable, "canary": expected[4].canary}
