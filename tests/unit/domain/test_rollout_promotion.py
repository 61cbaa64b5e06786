"""Promotion: the canary grows to full size, takes all traffic, the stable workload
moves to it, then the canary goes (``rollout.promotion``)."""

from __future__ import annotations

from dataclasses import replace

from mlops_operator.domain.rollout import (
    Action,
    PromotionStage,
    TrackState,
    Weights,
    set_weight,
)
from mlops_operator.domain.vocabulary import HistoryEvent, RolloutReason

from tests.unit.domain.rollout_sim import (
    HEALTHY,
    PAUSED,
    SPEC,
    STEPS,
    V1,
    V2,
    Sim,
    events,
    history,
    to_analysis,
)


def test_happy_path_promotes() -> None:
    sim = Sim()
    to_analysis(sim)
    d = sim.run_until(lambda d: d.status.current_step_index == 3, dt=10,
                      values={"error-rate": 0.01})
    assert events(d) == [RolloutReason.ANALYSIS_SUCCEEDED]
    assert d.status.last_analysis["verdict"] == "Successful"
    d = sim.tick()
    assert d.weights == Weights(50, 50) and d.status.current_step_index == 4
    d = sim.tick()  # indefinite pause
    assert d.status.phase is PAUSED and events(d) == [RolloutReason.PAUSED]
    assert "set spec.promote to continue" in d.status.pause_reason
    assert d.conditions[1]["status"] == "Unknown"
    assert sim.tick(dt=3600).status.phase is PAUSED
    sim.spec = replace(SPEC, promote=True)
    d = sim.tick()  # first the canary grows to full size, traffic unchanged
    assert d.status.promotion is PromotionStage.SCALING_UP
    assert d.weights == Weights(50, 50) and d.canary_replicas == 4
    assert events(d) == [RolloutReason.PROMOTING]
    d = sim.tick()
    assert d.status.promotion is PromotionStage.UPDATING_STABLE
    assert d.weights == Weights(0, 100) and d.canary_replicas == 4
    assert d.actions == (Action.SET_WEIGHT, Action.PROMOTE_CANARY_TO_STABLE)
    assert d.stable_version == V2 and d.status.stable_version == V1  # not final yet
    d = sim.tick()
    assert d.status.phase is HEALTHY and d.status.stable_version == V2
    assert d.status.canary_version is None and d.weights == Weights(100, 0)
    assert d.actions == (Action.SET_WEIGHT, Action.SCALE_DOWN_CANARY)
    assert (d.stable_version, d.canary_version, d.canary_replicas) == (V2, None, 0)
    assert events(d) == [RolloutReason.PROMOTED]
    assert history(d.status) == [(V2, HistoryEvent.CANARY_STARTED), (V2, HistoryEvent.PROMOTED)]
    d = sim.tick()
    assert d.status.phase is HEALTHY and d.actions == () and d.events == ()


def test_promotion_waits_for_full_canary_and_stable_readiness() -> None:
    spec = replace(SPEC, steps=())
    sim = Sim(spec=spec, converge=False)
    d = sim.tick()
    assert d.status.promotion is PromotionStage.SCALING_UP and d.canary_replicas == 4
    sim.canary = TrackState(V2, 3)
    d = sim.tick()
    assert d.weights == Weights(100, 0) and "0/4" not in d.status.message
    sim.canary = TrackState(V2, 4)
    d = sim.tick()
    assert d.weights == Weights(0, 100) and d.stable_version == V2
    sim.stable = TrackState(V2, 2)  # stable pods rolling to V2
    d = sim.tick()
    assert d.status.promotion is PromotionStage.UPDATING_STABLE and d.weights == Weights(0, 100)
    assert d.status.message == "waiting for stable pods on iris-v2 (2/4 pods ready)"
    sim.stable = TrackState(V2, 4)
    assert sim.tick().status.phase is HEALTHY


def test_set_weight_100_step_then_promotion() -> None:
    spec = replace(SPEC, steps=(set_weight(100),))
    sim = Sim(spec=spec)
    d = sim.run_until(lambda d: d.status.phase is HEALTHY)
    assert d.status.stable_version == V2
    assert any(Action.PROMOTE_CANARY_TO_STABLE in x.actions for x in sim.log)


def test_no_steps_promotes_once_ready() -> None:
    sim = Sim(spec=replace(SPEC, steps=()))
    d = sim.run_until(lambda d: d.status.phase is HEALTHY)
    assert d.status.stable_version == V2 and len(sim.log) == 3


def test_steps_shortened_mid_rollout_promote_what_passed() -> None:
    sim = Sim()
    to_analysis(sim)
    sim.spec = replace(SPEC, steps=STEPS[:2])
    d = sim.tick()
    assert d.status.promotion is PromotionStage.SCALING_UP and d.canary_replicas == 4
