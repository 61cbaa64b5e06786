"""The spec's switches: ``paused`` holds where it is, ``promote`` skips what is left,
``abort`` rolls back."""

from __future__ import annotations

from dataclasses import replace

from mlops_operator.domain.rollout import (
    Action,
    FiringAlert,
    Weights,
    checks_to_measure,
)
from mlops_operator.domain.vocabulary import RolloutReason

from tests.unit.domain.rollout_sim import (
    HEALTHY,
    PAUSED,
    ROLLED_BACK,
    SPEC,
    V2,
    V3,
    Sim,
    at,
    events,
    to_analysis,
)


def test_paused_holds_the_current_step() -> None:
    sim = Sim(spec=replace(SPEC, paused=True))
    sim.tick()  # start
    for _ in range(5):
        d = sim.tick(dt=60)
        assert d.status.phase is PAUSED and d.weights == Weights(100, 0)
        assert d.status.current_step_index == 0
    assert d.status.pause_reason == "paused by spec.paused at step 1/5 (setWeight 20)"
    sim.spec = SPEC
    d = sim.tick()
    assert d.weights == Weights(80, 20)
    assert events(d) == [RolloutReason.WEIGHT_SET, RolloutReason.RESUMED]


def test_paused_still_rolls_back_on_alert() -> None:
    sim = Sim(spec=replace(SPEC, paused=True))
    sim.tick()
    d = sim.tick(alerts=(FiringAlert("Boom"),))
    assert d.status.phase is ROLLED_BACK


def test_paused_during_promotion_holds_it() -> None:
    sim = Sim(spec=replace(SPEC, steps=(), paused=True))
    sim.tick()
    d = sim.tick()
    assert d.status.phase is PAUSED
    assert d.status.pause_reason == "paused by spec.paused at promotion (ScalingUp)"
    assert d.weights == Weights(100, 0)


def test_promote_skips_remaining_steps_even_mid_analysis() -> None:
    sim = Sim()
    to_analysis(sim)
    sim.tick(dt=10, values={"error-rate": None})
    assert sim.status.phase is PAUSED
    sim.spec = replace(SPEC, promote=True)
    assert checks_to_measure(sim.spec, sim.status, at(sim.clock + 60)) == ()
    d = sim.run_until(lambda d: d.status.phase is HEALTHY)
    assert d.status.stable_version == V2


def test_abort_rolls_back_and_blocks_new_canaries() -> None:
    sim = Sim()
    sim.tick()
    sim.tick()
    sim.spec = replace(SPEC, abort=True)
    d = sim.tick()
    assert d.status.phase is ROLLED_BACK and d.weights == Weights(100, 0)
    assert d.status.rollback_reason == "Aborted: spec.abort is set"
    sim.spec = replace(SPEC, model_version=V3, abort=True)
    d = sim.tick()
    assert d.status.phase is ROLLED_BACK and d.status.rolled_back_version == V3
    assert Action.CREATE_CANARY not in d.actions and d.canary_version is None
