"""Every phase of every kind maps to what kstatus, Flux, Argo CD and ``kubectl wait`` say."""

from __future__ import annotations

import pytest
from mlops_operator.domain.health import (
    ROLLOUT_HEALTH,
    TRAINING_HEALTH,
    VERSION_HEALTH,
    Health,
    health_conditions,
    rollout_health,
)
from mlops_operator.domain.vocabulary import RolloutPhase, TrainingPhase, VersionPhase

#: phase -> (Ready, Reconciling, Stalled), written out once more by hand on purpose.
EXPECTED = {
    "TrainingJob": (TRAINING_HEALTH, {
        None: (False, True, False),
        TrainingPhase.PENDING: (False, True, False),
        TrainingPhase.RUNNING: (False, True, False),
        TrainingPhase.SUCCEEDED: (True, False, False),
        TrainingPhase.FAILED: (False, False, True),
    }),
    "ModelVersion": (VERSION_HEALTH, {
        None: (False, True, False),
        VersionPhase.VERIFYING: (False, True, False),
        VersionPhase.APPROVED: (True, False, False),
        VersionPhase.REJECTED: (False, False, True),
        VersionPhase.INVALID: (False, False, True),
    }),
    "Deployment": (ROLLOUT_HEALTH, {
        RolloutPhase.PROGRESSING: (False, True, False),
        RolloutPhase.PAUSED: (False, True, False),
        RolloutPhase.HEALTHY: (True, False, False),
        RolloutPhase.DEGRADED: (False, False, True),
        RolloutPhase.ROLLED_BACK: (False, False, True),
    }),
}


@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_every_phase_of_the_kind_has_its_health(kind: str) -> None:
    table, expected = EXPECTED[kind]
    enum = {"TrainingJob": TrainingPhase, "ModelVersion": VersionPhase,
            "Deployment": RolloutPhase}[kind]
    assert set(table) - {None} == set(enum), "a phase without health (or one too many)"
    for phase, (ready, reconciling, stalled) in expected.items():
        assert table[phase] == Health(ready, reconciling, stalled), (kind, phase)


@pytest.mark.parametrize("health", sorted({h for t, _ in EXPECTED.values() for h in t.values()},
                                          key=repr))
def test_exactly_one_of_ready_reconciling_and_stalled_is_true(health: Health) -> None:
    assert [health.ready, health.reconciling, health.stalled].count(True) == 1


def test_the_conditions_carry_the_phase_reason_message_and_generation() -> None:
    ready, reconciling, stalled = health_conditions(
        Health(False, False, True), "QualityGateFailed", "accuracy 0.61 < 0.9", 3)
    assert [c["type"] for c in (ready, reconciling, stalled)] == ["Ready", "Reconciling",
                                                                  "Stalled"]
    assert [c["status"] for c in (ready, reconciling, stalled)] == ["False", "False", "True"]
    assert {c["reason"] for c in (ready, reconciling, stalled)} == {"QualityGateFailed"}
    assert {c["message"] for c in (ready, reconciling, stalled)} == {"accuracy 0.61 < 0.9"}
    assert {c["observedGeneration"] for c in (ready, reconciling, stalled)} == {3}


@pytest.mark.parametrize(("phase", "reason", "rejected", "expected"), [
    (RolloutPhase.DEGRADED, "TargetNotApproved", False, (False, True, False)),  # not yet there
    (RolloutPhase.DEGRADED, "TargetNotApproved", True, (False, False, True)),  # Rejected
    (RolloutPhase.DEGRADED, "InvalidSpec", False, (False, False, True)),
    (RolloutPhase.HEALTHY, "RolloutComplete", False, (True, False, False)),
    (RolloutPhase.PAUSED, "Paused", True, (False, True, False)),
])
def test_a_deployment_waiting_for_its_version_is_reconciling_until_the_version_is_judged(
        phase: RolloutPhase, reason: str, rejected: bool,
        expected: tuple[bool, bool, bool]) -> None:
    assert rollout_health(phase, reason, rejected) == Health(*expected)
