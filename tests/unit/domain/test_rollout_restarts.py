"""All state is in the status: a restart at any tick resumes exactly, the same inputs
give the same decision, and the status round-trips through its dict form."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from mlops_operator.domain.analysis import Measurement
from mlops_operator.domain.rollout import (
    MAX_HISTORY,
    HistoryEntry,
    Observations,
    RolloutStatus,
    TrackState,
    decide,
)
from mlops_operator.domain.vocabulary import HistoryEvent

from tests.unit.domain.rollout_sim import (
    FULL_RUN,
    HEALTHY,
    HEALTHY_V1,
    PAUSED,
    SPEC,
    V1,
    V2,
    Sim,
    at,
    full_run,
)


def test_full_run_reaches_healthy() -> None:
    log = full_run()
    assert log[-1].status.phase is HEALTHY and log[-1].status.stable_version == V2
    phases = [d.status.phase for d in log]
    assert PAUSED in phases and phases.index(PAUSED) < phases.index(HEALTHY)


@pytest.mark.parametrize("restart_at", range(len(FULL_RUN)))  # every tick of the script
def test_restart_at_any_tick_resumes_exactly(restart_at: int) -> None:
    assert full_run(restart_at) == full_run()


def test_same_inputs_same_decision_at_every_tick() -> None:
    sim = Sim()
    statuses = [sim.status]
    for decision in full_run():
        statuses.append(decision.status)
    obs = Observations(now=at(1000), target_approved=True, stable=TrackState(V1, 4),
                       canary=TrackState(V2, 4), measurements={"error-rate": Measurement.of(
                           0.01, at(1000))})
    for status in statuses:
        first = decide(SPEC, status, obs)
        assert decide(SPEC, status, obs) == first
        assert decide(SPEC, RolloutStatus.from_dict(status.to_dict()), obs) == first


def test_status_dict_has_every_key_and_round_trips() -> None:
    empty = RolloutStatus().to_dict()
    assert set(empty) == {
        "phase", "stableVersion", "canaryVersion", "currentStepIndex", "currentWeight",
        "stepStartedAt", "canaryStartedAt", "shadowStartedAt", "promotion", "pauseReason",
        "message", "analysis", "lastAnalysis", "rolledBackVersion", "rollbackReason", "history",
        "firingAlerts", "previousStableVersions"}
    assert empty["canaryVersion"] is None  # null clears the field in a merge patch
    for decision in full_run():
        data = json.loads(json.dumps(decision.status.to_dict()))
        assert RolloutStatus.from_dict(data) == decision.status
    assert RolloutStatus.from_dict(None) == RolloutStatus()
    assert RolloutStatus.from_dict({"phase": "Bogus", "extra": 1}) == RolloutStatus()


def test_history_is_bounded() -> None:
    entries = tuple(HistoryEntry(f"iris-v{i}", HistoryEvent.PROMOTED, "2024-01-01T00:00:00Z")
                    for i in range(MAX_HISTORY))
    sim = Sim(status=replace(HEALTHY_V1, history=entries))
    d = sim.tick()
    assert len(d.status.history) == MAX_HISTORY
    assert d.status.history[-1].event == HistoryEvent.CANARY_STARTED
    assert d.status.history[0].version == "iris-v1"
