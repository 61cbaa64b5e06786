"""The words the operator writes into the API are a public contract: pinned here.

Everywhere else the code and the tests use the enum members, so a renamed value
would pass them all; this table is the one place that fails, on purpose. Change a
value only together with the CRDs, the docs and every consumer of the API.
"""

from __future__ import annotations

import json
from enum import StrEnum

import pytest
from mlops_operator.domain import vocabulary
from mlops_operator.domain.conditions import is_valid_reason
from mlops_operator.domain.vocabulary import (
    ROLLOUT_OUTCOMES,
    TRAINING_FINISHED,
    VERSION_JUDGED,
    AuditAction,
    CardReason,
    ConditionType,
    EventType,
    HistoryEvent,
    PodReason,
    RetrainReason,
    RolloutPhase,
    RolloutReason,
    TrainingPhase,
    TrainingReason,
    TriggerType,
    VersionPhase,
    VersionReason,
)

PINNED: dict[type[StrEnum], set[str]] = {
    EventType: {"Normal", "Warning"},
    ConditionType: {"Ready", "Reconciling", "Stalled", "Available", "Progressing", "Succeeded",
                    "Retraining", "Approved", "Verified"},
    RolloutPhase: {"Progressing", "Paused", "Healthy", "Degraded", "RolledBack"},
    TrainingPhase: {"Pending", "Running", "Succeeded", "Failed"},
    VersionPhase: {"Verifying", "Approved", "Rejected", "Invalid"},
    PodReason: {"OOMKilled", "ChecksumMismatch", "ModelLoadFailed", "ContainerFailed",
                "Unschedulable"},
    RolloutReason: {
        "Unknown", "NothingDeployed", "StableReady", "StableNotReady", "Deploying", "Deployed",
        "Healthy", "RolloutComplete", "ProgressDeadlineExceeded", "TargetNotApproved",
        "InvalidSpec", "ChildRefused", "CanaryStarted", "FastRollback", "CanaryProgressing",
        "WaitingForPods",
        "WeightSet", "Paused", "PausedBySpec", "Resumed", "ShadowStarted", "Shadowing",
        "ShadowSucceeded", "Analysing", "AnalysisSucceeded", "AnalysisInconclusive",
        "Promoting", "Baking", "BakeSucceeded", "Promoted", "CanaryAbandoned", "RolledBack",
        "OneShotIgnored", "Aborted", "AlertFiring", "AnalysisFailed", "ShadowFailed", "BakeFailed",
    },
    HistoryEvent: {"Deployed", "CanaryStarted", "FastRollback", "Baking", "Baked", "Promoted",
                   "RolledBack", "Abandoned"},
    TrainingReason: {
        "JobNotCreated", "JobCreated", "PodPending", "TrainingRunning", "Retrying",
        "TrainingSucceeded", "TrainingFailed", "DeadlineExceeded", "NoResult",
        "InvalidResult", "InvalidQualityGate", "JobRefused", "VersionRefused",
        "ModelVersionCreated", "DataCheckWarnings",
    },
    TriggerType: {"schedule", "alert"},
    RetrainReason: {"Waiting", "RunActive", "MaxRunsReached", "InvalidSpec", "RetrainStarted",
                    "RetrainSkipped", "RetrainLimitReached", "InvalidRetrainSpec"},
    VersionReason: {"QualityGatePassed", "QualityGateFailed", "Verifying", "JobRefused",
                    "ChecksumVerified", "VerificationFailed", "BadName"},
    CardReason: {"ModelCardWritten", "ModelCardFailed"},
    AuditAction: {"Created", "SpecChanged", "Deleted"},
}
DEFINED = sorted((value for value in vars(vocabulary).values()
                  if isinstance(value, type) and issubclass(value, StrEnum)
                  and value.__module__ == vocabulary.__name__), key=lambda e: e.__name__)
#: Enums whose values are condition or Event reasons: the API server checks their form.
REASONS = (PodReason, RolloutReason, HistoryEvent, TrainingReason, RetrainReason,
           VersionReason, CardReason, TrainingPhase, VersionPhase)


def test_every_enum_of_the_vocabulary_is_pinned() -> None:
    assert sorted(PINNED, key=lambda e: e.__name__) == DEFINED


@pytest.mark.parametrize("enum", DEFINED, ids=lambda e: e.__name__)
def test_values_are_exactly_the_pinned_strings(enum: type[StrEnum]) -> None:
    assert {member.value for member in enum} == PINNED[enum]
    assert len(enum.__members__) == len(PINNED[enum])  # no alias: one name per value


@pytest.mark.parametrize("enum", REASONS, ids=lambda e: e.__name__)
def test_reasons_are_valid_condition_reasons(enum: type[StrEnum]) -> None:
    invalid = [member.value for member in enum if not is_valid_reason(member)]
    assert invalid == []


def test_a_member_is_its_string_in_the_api() -> None:
    written = json.dumps({"reason": RolloutReason.ROLLED_BACK, "phase": RolloutPhase.HEALTHY})
    assert written == '{"reason": "RolledBack", "phase": "Healthy"}'
    assert HistoryEvent.ROLLED_BACK == "RolledBack" and "RolledBack" in {RolloutPhase.ROLLED_BACK}
    assert f"{RolloutReason.ABORTED}: why" == "Aborted: why"


def test_the_history_events_a_canary_starts_with_are_also_its_reasons() -> None:
    for start in (HistoryEvent.CANARY_STARTED, HistoryEvent.FAST_ROLLBACK):
        assert RolloutReason(start) == start  # machine._launch uses one for the other


def test_the_groups_hold_members_of_their_enum() -> None:
    assert set(TRAINING_FINISHED) == {p for p in TrainingPhase if p.terminal}
    assert set(VERSION_JUDGED) == set(VersionPhase) - {VersionPhase.VERIFYING}
    assert all(isinstance(e, HistoryEvent) for e in ROLLOUT_OUTCOMES)
