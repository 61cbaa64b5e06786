"""The target moves while a canary is in flight: abandoned for the new version, for
the stable one, or for an unapproved one."""

from __future__ import annotations

from dataclasses import replace

from mlops_operator.domain.rollout import (
    Action,
    Weights,
)
from mlops_operator.domain.vocabulary import HistoryEvent, RolloutReason

from tests.unit.domain.rollout_sim import (
    DEGRADED,
    HEALTHY,
    SPEC,
    V1,
    V2,
    V3,
    Sim,
    events,
    history,
)


def test_target_changed_mid_canary_restarts_with_the_new_version() -> None:
    sim = Sim()
    sim.tick()
    sim.tick()
    assert sim.status.current_weight == 20
    sim.spec = replace(SPEC, model_version=V3)
    d = sim.tick()
    assert d.weights == Weights(100, 0)  # traffic off the abandoned canary now
    assert d.actions == (Action.SET_WEIGHT, Action.CREATE_CANARY)
    assert events(d) == [RolloutReason.CANARY_ABANDONED, RolloutReason.CANARY_STARTED]
    assert (d.status.canary_version, d.status.current_step_index) == (V3, 0)
    assert (d.canary_version, d.canary_replicas) == (V3, 1)
    assert history(d.status)[-2:] == [(V2, HistoryEvent.ABANDONED),
                                      (V3, HistoryEvent.CANARY_STARTED)]


def test_target_back_to_stable_mid_canary_clears_it() -> None:
    sim = Sim()
    sim.tick()
    sim.tick()
    sim.spec = replace(SPEC, model_version=V1)
    d = sim.tick()
    assert d.status.phase is HEALTHY and d.status.canary_version is None
    assert d.actions == (Action.SET_WEIGHT, Action.SCALE_DOWN_CANARY)
    assert d.weights == Weights(100, 0) and d.canary_replicas == 0


def test_unapproved_target_changes_nothing() -> None:
    sim = Sim(approved=False)
    d = sim.tick(target_message="ModelVersion iris-v2 is Pending")
    assert d.status.phase is DEGRADED and d.status.canary_version is None
    assert d.actions == () and d.weights == Weights(100, 0)
    assert (d.stable_version, d.stable_replicas) == (V1, 4)
    assert d.status.message == "iris-v2 cannot go live: ModelVersion iris-v2 is Pending"
    assert d.conditions[1]["reason"] == RolloutReason.TARGET_NOT_APPROVED
    assert sim.tick(target_message="ModelVersion iris-v2 is Pending").events == ()
    sim.approved = True
    assert sim.tick().actions == (Action.CREATE_CANARY,)


def test_target_unapproved_mid_canary_abandons_it() -> None:
    sim = Sim()
    sim.tick()
    sim.tick()
    sim.approved = False
    d = sim.tick()
    assert d.status.phase is DEGRADED and d.weights == Weights(100, 0)
    assert d.actions == (Action.SET_WEIGHT, Action.SCALE_DOWN_CANARY)
    assert d.status.rolled_back_version is None
