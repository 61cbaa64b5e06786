"""Shadow steps: the canary gets mirrored copies of live requests and no user traffic; a
shadow that disagrees is rolled back before it answers anyone."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from mlops_operator.domain.checks import Builtin, CheckSpec, Comparison
from mlops_operator.domain.rollout import (
    DEFAULT_CHECKS,
    Mirror,
    RolloutSpec,
    RolloutSpecError,
    Step,
    StepKind,
    TrackState,
    Weights,
    checks_to_measure,
    pause,
    set_weight,
)
from mlops_operator.domain.vocabulary import RolloutReason

from tests.unit.domain.rollout_sim import (
    PAUSED,
    PROGRESSING,
    ROLLED_BACK,
    SPEC,
    V2,
    Sim,
    at,
    events,
)

AGREE = CheckSpec(name="agreement", threshold=0.95, builtin=Builtin.PREDICTION_AGREEMENT,
                  direction=Comparison.ABOVE, interval=10, count=2)
SHADOW = Step(StepKind.SHADOW, duration=60, checks=(AGREE,), percent=50)
SHADOWED = replace(SPEC, steps=(SHADOW, set_weight(50), pause(None)))


def test_the_shadow_gets_copies_and_no_user_traffic_then_the_steps_go_on() -> None:
    sim = Sim(spec=SHADOWED)
    d = sim.tick()
    assert d.mirror == Mirror(V2, 50)  # the stable pods restart with the mirror settings
    assert d.weights == Weights(100, 0) and d.canary_replicas == 2  # 50 % of 4 replicas
    assert checks_to_measure(SHADOWED, d.status, at(sim.clock + 10)) == ()  # nothing yet
    d = sim.tick()  # the canary is ready and every stable pod mirrors to it
    assert RolloutReason.SHADOW_STARTED in events(d) and d.status.shadow_started_at is not None
    for _ in range(3):
        d = sim.tick(dt=10, values={"agreement": 0.99})
        assert d.weights == Weights(100, 0) and d.mirror == Mirror(V2, 50)
    # Checks passed after 20 s, but the shadow lasts its full minute.
    assert d.status.phase is PROGRESSING and d.status.current_step_index == 0
    assert "left" in d.status.message and "shadowing 50%" in d.status.message
    d = sim.run_until(lambda d: d.status.current_step_index == 1, dt=10)
    assert RolloutReason.SHADOW_SUCCEEDED in events(d) and sim.clock >= 60
    d = sim.run_until(lambda d: d.status.phase is PAUSED)
    assert d.weights == Weights(50, 50) and d.mirror is None


def test_a_disagreeing_shadow_is_rolled_back_before_it_answers_anyone() -> None:
    sim = Sim(spec=SHADOWED)
    sim.tick()
    decisions = [sim.tick(dt=10, values={"agreement": 0.6}) for _ in range(3)]
    d = decisions[-1]
    assert d.status.phase is ROLLED_BACK
    assert d.status.rollback_reason.startswith("ShadowFailed: ")
    assert all(x.weights.canary == 0 for x in sim.log)  # never a user request
    assert d.mirror is None and d.canary_replicas == 0


def test_no_agreement_data_holds_the_shadow_it_never_passes_by_default() -> None:
    sim = Sim(spec=SHADOWED)
    sim.tick()
    sim.tick()
    d = sim.tick(dt=70, values={})
    assert d.status.phase is PROGRESSING and d.mirror == Mirror(V2, 50)
    assert checks_to_measure(SHADOWED, d.status, at(sim.clock + 10)) == (AGREE,)


def test_the_shadow_waits_for_its_pods_before_it_counts() -> None:
    sim = Sim(spec=SHADOWED, converge=False)
    sim.tick()
    d = sim.tick(values={"agreement": 0.99})
    assert d.mirror == Mirror(V2, 50) and "waiting for shadow pods" in d.status.message


def test_measuring_starts_once_every_stable_pod_mirrors_and_the_wait_has_a_deadline() -> None:
    sim = Sim(spec=SHADOWED, converge=False)
    sim.tick()
    sim.canary = TrackState(V2, 2)
    d = sim.tick()  # stable pods still restarting without the mirror settings
    assert "waiting for the stable pods to copy 50% of requests to iris-v2" in d.status.message
    assert d.status.shadow_started_at is None and RolloutReason.SHADOW_STARTED not in events(d)
    assert checks_to_measure(SHADOWED, d.status, at(sim.clock + 10)) == ()
    sim.stable = TrackState("iris-v1", 4, mirror_to=V2)
    d = sim.tick()
    assert RolloutReason.SHADOW_STARTED in events(d)
    # The first measurement waits one interval: copies take that long to arrive.
    assert checks_to_measure(SHADOWED, d.status, at(sim.clock + 9)) == ()
    assert d.requeue_after == 10
    assert checks_to_measure(SHADOWED, d.status, at(sim.clock + 10)) == (AGREE,)
    stuck = Sim(spec=SHADOWED, converge=False)
    stuck.tick()
    stuck.canary = TrackState(V2, 2)
    d = stuck.tick(dt=121)
    assert d.status.phase is ROLLED_BACK
    assert d.status.rollback_reason.startswith("ProgressDeadlineExceeded: the stable pods")


def test_parse_shadow_defaults_and_errors() -> None:
    spec = RolloutSpec.from_dict({"modelVersion": "v2", "strategy": {"steps": [
        {"shadow": {"duration": "2m"}}, {"setWeight": 100}]}})
    step = spec.steps[0]
    assert (step.kind, step.percent, step.duration) == (StepKind.SHADOW, 100, 120.0)
    assert [c.name for c in step.checks] == ["predictionAgreement",
                                             *(c.name for c in DEFAULT_CHECKS)]
    assert step.checks[0].direction is Comparison.ABOVE and step.checks[0].threshold == 0.95
    assert step.describe() == "shadow 100% for 2m"


@pytest.mark.parametrize(("steps", "message"), [
    ([{"shadow": {"percent": 0}}], r"steps\[0\]\.shadow\.percent must be an integer 1\.\.100"),
    ([{"shadow": {"percent": True}}], r"steps\[0\]\.shadow\.percent"),
    ([{"shadow": {"duration": "soon"}}], r"steps\[0\]\.shadow\.duration"),
    ([{"shadow": {"mirror": 1}}], r"steps\[0\]\.shadow must be"),
    ([{"shadow": {"checks": ["nope"]}}], r"steps\[0\]\.shadow\.checks\[0\]: unknown check"),
    ([{"setWeight": 10}, {"shadow": {}}],
     r"steps\[1\]: a shadow step must come before the canary gets traffic \(steps\[0\]"),
])
def test_invalid_shadow_steps_name_the_field(steps: list[Any], message: str) -> None:
    with pytest.raises(RolloutSpecError, match=message):
        RolloutSpec.from_dict({"modelVersion": "v2", "strategy": {"steps": steps}})


def test_a_shadow_after_a_zero_weight_step_is_fine() -> None:
    spec = RolloutSpec.from_dict({"modelVersion": "v2", "strategy": {"steps": [
        {"setWeight": 0}, {"shadow": {}}]}})
    assert spec.steps[1].kind is StepKind.SHADOW
