"""The canary's start and its setWeight and pause steps: pods before traffic, the
progress deadline, what failing pods say (``rollout.canary``, ``rollout.holds``)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from mlops_operator.domain.rollout import (
    Action,
    RolloutStatus,
    TrackState,
    Weights,
    canary_replicas_for,
    set_weight,
)
from mlops_operator.domain.vocabulary import HistoryEvent, RolloutReason

from tests.unit.domain.rollout_sim import (
    CRASHING,
    MISMATCH,
    PROGRESSING,
    ROLLED_BACK,
    SPEC,
    V1,
    V2,
    Sim,
    events,
    history,
)


def test_new_target_starts_a_canary_at_weight_zero() -> None:
    sim = Sim(converge=False)
    d = sim.tick()
    s = d.status
    assert (s.phase, s.canary_version, s.current_step_index, s.current_weight) == (
        PROGRESSING, V2, 0, 0)
    assert s.stable_version == V1 and s.canary_started_at == s.step_started_at
    assert d.actions == (Action.CREATE_CANARY,) and events(d) == [RolloutReason.CANARY_STARTED]
    assert d.weights == Weights(100, 0)
    assert (d.stable_version, d.canary_version, d.canary_replicas) == (V1, V2, 1)
    assert history(s) == [(V2, HistoryEvent.CANARY_STARTED)]


def test_status_without_step_index_starts_the_steps_over() -> None:
    status = RolloutStatus(phase=PROGRESSING, stable_version=V1, canary_version=V2,
                           current_weight=0)
    sim = Sim(status=status, canary=TrackState(V2, 1))
    d = sim.tick()
    assert d.status.current_step_index == 1 and d.weights == Weights(80, 20)


def test_set_weight_waits_for_ready_canary_pods() -> None:
    sim = Sim(converge=False)
    sim.tick()
    d = sim.tick()  # no canary pods yet: weight stays 0, but 1 pod (20% of 4) is wanted
    assert d.weights == Weights(100, 0) and d.canary_replicas == 1
    assert d.status.message == "waiting for canary pods for 20% (0/1 pods ready)"
    sim.canary = TrackState(V1, 1)  # wrong version does not count
    assert sim.tick().weights == Weights(100, 0)
    sim.canary = TrackState(V2, 1)
    d = sim.tick()
    assert d.weights == Weights(80, 20) and d.actions == (Action.SET_WEIGHT,)
    assert events(d) == [RolloutReason.WEIGHT_SET] and d.status.current_step_index == 1


def test_set_weight_scales_canary_before_moving_traffic() -> None:
    spec = replace(SPEC, steps=(set_weight(20), set_weight(75)))
    sim = Sim(spec=spec, converge=False)
    sim.tick()
    sim.canary = TrackState(V2, 1)
    assert sim.tick().weights == Weights(80, 20)
    d = sim.tick()  # 75% needs 3 pods: scale first, keep 20%
    assert d.canary_replicas == 3 and d.weights == Weights(80, 20)
    sim.canary = TrackState(V2, 3)
    assert sim.tick().weights == Weights(25, 75)


def test_canary_progress_deadline_rolls_back() -> None:
    sim = Sim(converge=False)
    sim.tick()
    assert sim.tick(dt=100).status.phase is PROGRESSING
    d = sim.tick(dt=30)
    assert d.status.phase is ROLLED_BACK and d.status.rolled_back_version == V2
    assert d.status.rollback_reason.startswith("ProgressDeadlineExceeded: canary pods for 20%")
    assert Action.SCALE_DOWN_CANARY in d.actions


def test_a_canary_whose_pods_cannot_start_is_rolled_back_without_waiting() -> None:
    sim = Sim(converge=False)
    sim.tick()
    sim.canary = TrackState(problem=MISMATCH)
    d = sim.tick(dt=2)  # seconds, not the 120 s progress deadline
    assert d.status.phase is ROLLED_BACK and d.status.rolled_back_version == V2
    assert d.status.rollback_reason.startswith("ChecksumMismatch: canary pods for 20% cannot")
    assert "model checksum mismatch" in d.status.rollback_reason
    assert Action.SCALE_DOWN_CANARY in d.actions and d.weights == Weights(100, 0)


def test_a_transient_pod_problem_is_reported_once_and_waits_for_the_deadline() -> None:
    sim = Sim(converge=False)
    sim.tick()
    sim.canary = TrackState(problem=CRASHING)
    d = sim.tick()
    assert d.status.phase is PROGRESSING and events(d) == ["CrashLoopBackOff"]
    assert d.status.message.endswith("; CrashLoopBackOff: back-off 10s restarting failed container")
    assert dict(d.conditions[1])["reason"] == "CrashLoopBackOff"
    assert sim.tick().events == ()  # the same problem again: no new Event
    assert sim.tick(dt=130).status.phase is ROLLED_BACK  # the deadline still applies


def test_timed_pause_waits_its_duration() -> None:
    sim = Sim()
    sim.tick()
    d = sim.tick()
    assert d.status.current_step_index == 1 and d.weights == Weights(80, 20)
    d = sim.tick(dt=10)
    assert d.status.phase is PROGRESSING and d.status.current_step_index == 1
    assert d.requeue_after == pytest.approx(20)
    assert "pausing 30s until 2024-01-01T00:00:40Z" in d.status.message
    d = sim.tick(dt=20)
    assert d.status.current_step_index == 2


@pytest.mark.parametrize(
    ("weight", "replicas", "expected"),
    [(0, 4, 1), (1, 4, 1), (20, 4, 1), (25, 4, 1), (26, 4, 2), (50, 4, 2), (100, 4, 4),
     (50, 1, 1), (100, 1, 1), (10, 50, 5)],
)
def test_canary_replicas_for(weight: int, replicas: int, expected: int) -> None:
    assert canary_replicas_for(weight, replicas) == expected
