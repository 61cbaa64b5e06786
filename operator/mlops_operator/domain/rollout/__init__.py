"""The canary rollout of an mlops Deployment, as a pure state machine.

One concern per module, grouped by feature; a module imports only those listed
below it (the ``layers`` contract in pyproject.toml)::

    machine        decide(): which state (rolled back, first deploy, steady,
                   unapproved, a canary to start or in flight) and the feature
                   that moves it; decide_from_dicts
    targets        asked by the handler before deciding: the version a followed
                   model targets, whether the target may go live, track states
    oneshot        asked by the handler after deciding: which one-shot promote /
                   abort annotations are spent (done, moot, or for another version)
    -- features --
    shadow         shadow steps, waiting for the stable pods to mirror
    canary         the canary's start (or a fast revert), setWeight, pause and
                   analysis steps, advancing
    steady         no canary: first deploy, steady state, unapproved target
    promotion      entering promotion, scaling up, updating stable, finalize
    bake           the bake window beside a warm standby
    holds          hold, keep running, wait for pods, report what they say
    rollback       roll back, stay rolled back, abandon, reset the canary
    measurements   which checks are due; this tick's measurements judged
    finish         a finished tick as a Decision; the hold of an invalid spec
    -- foundations --
    tick           one decision in the making (actions, events, wake-up time)
    alerts         firing alerts kept in the status; the one against the canary
    decision       Observations in, Decision out: the types
    status         RolloutStatus: all state, kept in the Deployment's status
    spec           RolloutSpec: what the user asked, parsed and validated

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
    Action,
    Decision,
    Event,
    Mirror,
    Observations,
    TrackState,
    Weights,
    canary_replicas_for,
)
from mlops_operator.domain.rollout.finish import hold_invalid_spec
from mlops_operator.domain.rollout.machine import decide, decide_from_dicts
from mlops_operator.domain.rollout.measurements import checks_to_measure
from mlops_operator.domain.rollout.oneshot import SpentOneShot, spent_one_shots
from mlops_operator.domain.rollout.spec import (
    DEFAULT_CHECKS,
    DEFAULT_PROGRESS_DEADLINE,
    ONE_SHOT,
    Bake,
    RolloutSpec,
    RolloutSpecError,
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
from mlops_operator.domain.rollout.targets import (
    TRACKS,
    followed_version,
    target_approval,
    target_rejected,
    track_states,
)

__all__ = [
    "DEFAULT_CHECKS", "DEFAULT_PROGRESS_DEADLINE", "ONE_SHOT", "MAX_HISTORY", "TRACKS",
    "Action", "AnalysisState", "Bake", "Decision", "Event", "FiringAlert", "HistoryEntry",
    "Mirror", "Observations", "PromotionStage", "RolloutPhase", "RolloutSpec",
    "RolloutSpecError", "RolloutStatus", "SpentOneShot", "Step", "StepKind", "TrackState",
    "Weights", "analysis", "canary_replicas_for", "checks_to_measure", "decide",
    "decide_from_dicts", "default_steps", "followed_version", "hold_invalid_spec", "pause",
    "set_weight", "spent_one_shots", "target_approval", "target_rejected", "track_states",
]
