"""Ready, Reconciling and Stalled: the conditions tools read to know when work is done.

kstatus (what Flux's health checks, kpt and cli-utils use) reads only
``status.observedGeneration`` and two "abnormal-true" conditions: ``Reconciling`` True means
InProgress, ``Stalled`` True means Failed, neither means Current. ``kubectl wait
--for=condition=Ready`` and Argo CD read ``Ready``. Each kind's phase maps to one triple here,
so every tool tells the same story; the phase stays the richer word for people.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mlops_operator.domain.conditions import make_condition
from mlops_operator.domain.vocabulary import (
    ConditionType,
    RolloutPhase,
    RolloutReason,
    TrainingPhase,
    VersionPhase,
)


@dataclass(frozen=True)
class Health:
    """Whether the object reached what its spec asks (ready), is still working on it
    (reconciling) or cannot get there without someone changing something (stalled)."""

    ready: bool
    reconciling: bool
    stalled: bool


DONE = Health(ready=True, reconciling=False, stalled=False)
WORKING = Health(ready=False, reconciling=True, stalled=False)
STUCK = Health(ready=False, reconciling=False, stalled=True)

#: A TrainingJob without a phase has not been looked at yet: it is still to be worked on.
TRAINING_HEALTH: dict[TrainingPhase | None, Health] = {
    None: WORKING,
    TrainingPhase.PENDING: WORKING,
    TrainingPhase.RUNNING: WORKING,
    TrainingPhase.SUCCEEDED: DONE,
    TrainingPhase.FAILED: STUCK,
}
#: A ModelVersion without a phase waits for its TrainingJob's gate or its verification.
VERSION_HEALTH: dict[VersionPhase | None, Health] = {
    None: WORKING,
    VersionPhase.VERIFYING: WORKING,
    VersionPhase.APPROVED: DONE,
    VersionPhase.REJECTED: STUCK,
    VersionPhase.INVALID: STUCK,
}
#: Paused (for lack of data, or by spec) is work not finished; a rolled-back Deployment
#: serves its old version but will not reach the one its spec names until the spec changes.
ROLLOUT_HEALTH: dict[RolloutPhase, Health] = {
    RolloutPhase.PROGRESSING: WORKING,
    RolloutPhase.PAUSED: WORKING,
    RolloutPhase.HEALTHY: DONE,
    RolloutPhase.DEGRADED: STUCK,
    RolloutPhase.ROLLED_BACK: STUCK,
}


def rollout_health(phase: RolloutPhase, reason: str, target_rejected: bool) -> Health:
    """A Deployment's health: its phase's, except that one whose target version does not
    exist or is not judged yet is waiting for it (a TrainingJob applied with it from Git
    will record it), not stuck; a Rejected or Invalid target is stuck."""
    if reason == RolloutReason.TARGET_NOT_APPROVED and not target_rejected:
        return WORKING
    return ROLLOUT_HEALTH[phase]


def health_conditions(health: Health, reason: str, message: str,
                      generation: int | None) -> tuple[dict[str, Any], ...]:
    """The three conditions of ``health``, each with the phase's reason and message."""
    return tuple(
        make_condition(type_, value, reason, message, observed_generation=generation)
        for type_, value in ((ConditionType.READY, health.ready),
                             (ConditionType.RECONCILING, health.reconciling),
                             (ConditionType.STALLED, health.stalled))
    )
