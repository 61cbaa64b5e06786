"""The canary rollout of an mlops Deployment, as a pure state machine.

One concern per module: ``spec`` (what the user asked), ``status`` (where the
rollout is), ``decision`` (observations in, desired state out), ``machine``
(``decide``: which state, which move), ``steps`` (setWeight, pause, analysis,
promotion), ``transitions`` (moves several states share), ``tick`` and ``output``
(collecting one decision and finishing it).

``decide(spec, status, observations) -> Decision``. All state lives in the
Deployment's status (:class:`RolloutStatus`, camelCase when serialised), so an
operator restart resumes exactly where it stopped, and running ``decide``
twice on the same inputs gives the same decision.

Two workloads ("tracks") serve a Deployment: ``stable`` and ``canary``. A
:class:`Decision` is declarative: the versions and replica counts of both
tracks and the traffic weights. Apply the weights first, then the workloads:
the machine only raises the canary weight once enough canary pods are ready
(observed on an earlier tick), and when it rolls back it moves traffic to
stable in the same decision that scales the canary away.

Lifecycle of one target version::

    first deploy     stable := target                      -> Healthy when ready
    canary           steps: shadow / setWeight / pause / analysis   (Progressing, Paused)
    promotion        ScalingUp: canary to full replicas, then weight 100
                     UpdatingStable: stable workload := target, wait until ready
                     finalize: stable 100 %, canary scaled away  -> Healthy
    rollback         alert, failed analysis, abort, deadline  -> RolledBack

A rolled-back version is not retried until ``spec.modelVersion`` changes to
something else (GitOps-safe: no flapping against the repository).
"""

from mlops_operator.domain.rollout.decision import (
    CONDITION_PROGRESSING,
    CONDITION_READY,
    Action,
    Decision,
    Event,
    Mirror,
    Observations,
    TrackState,
    Weights,
    canary_replicas_for,
)
from mlops_operator.domain.rollout.machine import decide, decide_from_dicts, hold_invalid_spec
from mlops_operator.domain.rollout.spec import (
    DEFAULT_CHECKS,
    DEFAULT_PROGRESS_DEADLINE,
    Bake,
    RolloutSpec,
    SpecError,
    Step,
    StepKind,
    analysis,
    default_steps,
    pause,
    set_weight,
)
from mlops_operator.domain.rollout.status import (
    MAX_HISTORY,
    AnalysisState,
    FiringAlert,
    HistoryEntry,
    PromotionStage,
    RolloutPhase,
    RolloutStatus,
)
from mlops_operator.domain.rollout.steps import checks_to_measure

__all__ = [
    "CONDITION_PROGRESSING", "CONDITION_READY", "DEFAULT_CHECKS", "DEFAULT_PROGRESS_DEADLINE",
    "MAX_HISTORY", "Action", "AnalysisState", "Bake", "Decision", "Event", "FiringAlert",
    "HistoryEntry", "Mirror", "Observations", "PromotionStage", "RolloutPhase", "RolloutSpec",
    "RolloutStatus", "SpecError", "Step", "StepKind", "TrackState", "Weights", "analysis",
    "canary_replicas_for", "checks_to_measure", "decide", "decide_from_dicts", "default_steps",
    "hold_invalid_spec", "pause", "set_weight",
]
