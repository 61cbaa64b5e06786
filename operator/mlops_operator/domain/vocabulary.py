"""Every word the operator writes into the API: phases, condition types, condition and
Event reasons, rollout history events.

One home, so that a word written in one place and matched in another (a handler
counting ``RolledBack`` history entries, the demo waiting for ``Healthy``) cannot
drift apart. They are ``StrEnum``s: a member *is* its string, so the JSON sent to
the API server is byte-identical to a literal, and a string read back from the API
compares equal to the member. The values are the CRDs' public contract: never change
one (``tests/unit/domain/test_domain_vocabulary.py`` pins them).

The names Kubernetes itself writes (pod and Job condition types, container waiting
reasons) are its vocabulary, not ours, and stay where they are read.
"""

from __future__ import annotations

from enum import StrEnum


class EventType(StrEnum):
    """``Event.type``: the only two Kubernetes knows."""

    NORMAL = "Normal"
    WARNING = "Warning"


class ConditionType(StrEnum):
    """``status.conditions[].type`` of the three kinds."""

    # All three kinds (domain.health): the tools' view of the phase
    READY = "Ready"  # it reached what its spec asks
    RECONCILING = "Reconciling"  # work toward the spec is under way
    STALLED = "Stalled"  # it cannot reach its spec until someone changes something
    AVAILABLE = "Available"  # Deployment: a ready pod serves the stable version
    PROGRESSING = "Progressing"  # Deployment: a rollout is under way (or why not)
    SUCCEEDED = "Succeeded"  # TrainingJob: the training finished well
    RETRAINING = "Retraining"  # TrainingJob with spec.retrain: armed, and waiting for what
    APPROVED = "Approved"  # ModelVersion of a TrainingJob: its quality gate passed
    VERIFIED = "Verified"  # ModelVersion registered by hand: its artifact checks out


# ---- phases ------------------------------------------------------------------------
class RolloutPhase(StrEnum):
    """Deployment.status.phase."""

    PROGRESSING = "Progressing"
    PAUSED = "Paused"
    HEALTHY = "Healthy"
    DEGRADED = "Degraded"
    ROLLED_BACK = "RolledBack"


class TrainingPhase(StrEnum):
    """TrainingJob.status.phase."""

    PENDING = "Pending"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"

    @property
    def terminal(self) -> bool:
        """Succeeded and Failed never change again."""
        return self in TRAINING_FINISHED


class VersionPhase(StrEnum):
    """ModelVersion.status.phase (none until it is judged or verified)."""

    VERIFYING = "Verifying"  # registered by hand: the verification Job runs
    APPROVED = "Approved"  # the only phase a Deployment serves
    REJECTED = "Rejected"  # its TrainingJob's quality gate failed
    INVALID = "Invalid"  # misnamed, or its artifact failed verification


#: TrainingJob phases that never change again (its handler stops looking).
TRAINING_FINISHED = (TrainingPhase.SUCCEEDED, TrainingPhase.FAILED)
#: ModelVersion phases that are final: judged by a gate or by verification.
VERSION_JUDGED = (VersionPhase.APPROVED, VersionPhase.REJECTED, VersionPhase.INVALID)


# ---- the Deployment ------------------------------------------------------------------
class PodReason(StrEnum):
    """Why a track's pods are not ready, when the pods say (``domain.pods``); becomes the
    Deployment's condition and Event reason. A stuck container's own waiting reason
    (CrashLoopBackOff, ...) is passed on as Kubernetes wrote it."""

    OOM_KILLED = "OOMKilled"  # also Kubernetes' own terminated reason, passed on
    CHECKSUM_MISMATCH = "ChecksumMismatch"
    MODEL_LOAD_FAILED = "ModelLoadFailed"
    CONTAINER_FAILED = "ContainerFailed"
    UNSCHEDULABLE = "Unschedulable"


class RolloutReason(StrEnum):
    """Reasons of a Deployment's conditions and Events, and the codes that start its
    ``rollbackReason`` ("AlertFiring: alert ... is firing")."""

    UNKNOWN = "Unknown"
    # Ready
    NOTHING_DEPLOYED = "NothingDeployed"
    STABLE_READY = "StableReady"
    STABLE_NOT_READY = "StableNotReady"
    # Progressing (and the Events of the same moves)
    DEPLOYING = "Deploying"
    DEPLOYED = "Deployed"
    HEALTHY = "Healthy"
    ROLLOUT_COMPLETE = "RolloutComplete"
    PROGRESS_DEADLINE_EXCEEDED = "ProgressDeadlineExceeded"
    TARGET_NOT_APPROVED = "TargetNotApproved"
    INVALID_SPEC = "InvalidSpec"
    CHILD_REFUSED = "ChildRefused"  # the API server refused a workload, Service or route
    CANARY_STARTED = "CanaryStarted"
    FAST_ROLLBACK = "FastRollback"
    CANARY_PROGRESSING = "CanaryProgressing"
    WAITING_FOR_PODS = "WaitingForPods"
    WEIGHT_SET = "WeightSet"
    PAUSED = "Paused"
    PAUSED_BY_SPEC = "PausedBySpec"
    RESUMED = "Resumed"
    SHADOW_STARTED = "ShadowStarted"
    SHADOWING = "Shadowing"
    SHADOW_SUCCEEDED = "ShadowSucceeded"
    ANALYSING = "Analysing"
    ANALYSIS_SUCCEEDED = "AnalysisSucceeded"
    ANALYSIS_INCONCLUSIVE = "AnalysisInconclusive"
    PROMOTING = "Promoting"
    BAKING = "Baking"
    BAKE_SUCCEEDED = "BakeSucceeded"
    PROMOTED = "Promoted"
    CANARY_ABANDONED = "CanaryAbandoned"
    ROLLED_BACK = "RolledBack"
    ONE_SHOT_IGNORED = "OneShotIgnored"  # a promote/abort annotation named another version
    # why a canary was rolled back (the code before the colon of rollbackReason)
    ABORTED = "Aborted"
    ALERT_FIRING = "AlertFiring"
    ANALYSIS_FAILED = "AnalysisFailed"
    SHADOW_FAILED = "ShadowFailed"
    BAKE_FAILED = "BakeFailed"


class HistoryEvent(StrEnum):
    """``status.history[].event``: what happened to a version."""

    DEPLOYED = "Deployed"  # the first version, ready
    CANARY_STARTED = "CanaryStarted"
    FAST_ROLLBACK = "FastRollback"  # a recent stable version again, without the steps
    BAKING = "Baking"
    BAKED = "Baked"
    PROMOTED = "Promoted"
    ROLLED_BACK = "RolledBack"
    ABANDONED = "Abandoned"  # the spec moved on before the canary finished


#: History events that end a rollout: the ``outcome`` label of the rollouts metric.
ROLLOUT_OUTCOMES = (HistoryEvent.PROMOTED, HistoryEvent.ROLLED_BACK, HistoryEvent.ABANDONED)


# ---- TrainingJob and ModelVersion -------------------------------------------------
class TrainingReason(StrEnum):
    """Reasons of a TrainingJob's ``Succeeded`` condition and Events. A failure the
    trainer reports with its own valid reason, and a stuck container's waiting reason,
    are passed on instead; phase changes are Events named after the phase."""

    JOB_NOT_CREATED = "JobNotCreated"
    JOB_CREATED = "JobCreated"  # Event
    POD_PENDING = "PodPending"
    TRAINING_RUNNING = "TrainingRunning"
    RETRYING = "Retrying"
    TRAINING_SUCCEEDED = "TrainingSucceeded"
    TRAINING_FAILED = "TrainingFailed"
    DEADLINE_EXCEEDED = "DeadlineExceeded"  # also the Job's own reason, passed on
    NO_RESULT = "NoResult"
    INVALID_RESULT = "InvalidResult"  # a result a ModelVersion cannot be built from
    INVALID_QUALITY_GATE = "InvalidQualityGate"
    JOB_REFUSED = "JobRefused"  # the API server refused the training Job built from the spec
    VERSION_REFUSED = "VersionRefused"  # ... or the ModelVersion recorded from its result
    MODEL_VERSION_CREATED = "ModelVersionCreated"  # Event
    DATA_CHECK_WARNINGS = "DataCheckWarnings"  # Event: the data moved; dataChecks only warn


class TriggerType(StrEnum):
    """Why a retrain run started (``type`` of its trigger, in its annotation, the parent's
    ``status.retrain`` and the version's lineage)."""

    SCHEDULE = "schedule"
    ALERT = "alert"


class RetrainReason(StrEnum):
    """Reasons of the ``Retraining`` condition and of the retrain loop's Events."""

    WAITING = "Waiting"
    RUN_ACTIVE = "RunActive"
    MAX_RUNS_REACHED = "MaxRunsReached"
    INVALID_SPEC = "InvalidSpec"
    RETRAIN_STARTED = "RetrainStarted"  # Event
    RETRAIN_SKIPPED = "RetrainSkipped"  # Event
    RETRAIN_LIMIT_REACHED = "RetrainLimitReached"  # Event
    INVALID_RETRAIN_SPEC = "InvalidRetrainSpec"  # Event


class VersionReason(StrEnum):
    """Reasons of a ModelVersion's ``Approved`` and ``Verified`` conditions; its Events
    are named after the phase it reached. A verification failure with its own valid
    reason is passed on instead."""

    QUALITY_GATE_PASSED = "QualityGatePassed"
    QUALITY_GATE_FAILED = "QualityGateFailed"
    VERIFYING = "Verifying"  # the verification Job runs
    JOB_REFUSED = "JobRefused"  # the API server refused the verification Job
    CHECKSUM_VERIFIED = "ChecksumVerified"
    VERIFICATION_FAILED = "VerificationFailed"
    BAD_NAME = "BadName"


class CardReason(StrEnum):
    """Events about a ModelVersion's model card."""

    WRITTEN = "ModelCardWritten"
    FAILED = "ModelCardFailed"


class AuditAction(StrEnum):
    """Audit trail records that are not an Event's reason: what was done to a spec."""

    CREATED = "Created"
    SPEC_CHANGED = "SpecChanged"
    DELETED = "Deleted"
