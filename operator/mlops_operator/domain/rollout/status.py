"""The rollout's whole state, kept in Deployment.status (camelCase when serialised),
so a restarted operator resumes exactly where it stopped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from mlops_operator.domain.analysis import (
    CheckState,
)
from mlops_operator.domain.vocabulary import RolloutPhase

MAX_HISTORY = 20
#: Earlier stable versions remembered for strategy.rollbackWindow (its largest value).
MAX_PREVIOUS_STABLE = 10


@dataclass(frozen=True)
class FiringAlert:
    """A firing Alertmanager alert labelled with this Deployment.

    Kept in the status (so a restarted operator still knows it) until Alertmanager
    resolves it or stops re-sending it (``last_seen`` older than the alert TTL).
    """

    name: str
    message: str = ""
    started_at: datetime | str | None = None  # alerts older than the canary are ignored
    last_seen: str | None = None  # when Alertmanager last sent it (RFC 3339)

    def to_dict(self) -> dict[str, Any]:
        """Status form."""
        started = self.started_at
        return {"name": self.name, "message": self.message,
                "startedAt": started if started is None or isinstance(started, str)
                else started.isoformat(),
                "lastSeenAt": self.last_seen}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FiringAlert:
        """Inverse of :meth:`to_dict`."""
        return cls(name=str(data.get("name") or ""), message=str(data.get("message") or ""),
                   started_at=data.get("startedAt") or None,
                   last_seen=data.get("lastSeenAt") or None)


class PromotionStage(StrEnum):
    """Where a promotion is, once the steps are done (or skipped by promote)."""

    SCALING_UP = "ScalingUp"  # canary -> full replicas, then 100 % of traffic
    BAKING = "Baking"  # 100 % on the new version, the old one as a warm standby
    UPDATING_STABLE = "UpdatingStable"  # stable workload runs the new version


@dataclass(frozen=True)
class HistoryEntry:
    """One line of the rollout history."""

    version: str
    event: str  # a HistoryEvent (as written; read back as the API's string)
    at: str
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Status form."""
        return {"version": self.version, "event": self.event, "at": self.at, "reason": self.reason}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> HistoryEntry:
        """Inverse of :meth:`to_dict`."""
        return cls(
            version=str(data.get("version", "")),
            event=str(data.get("event", "")),
            at=str(data.get("at", "")),
            reason=str(data.get("reason") or ""),
        )


@dataclass(frozen=True)
class AnalysisState:
    """Measurements of the analysis step in progress."""

    step_index: int
    checks: tuple[CheckState, ...] = ()

    def check(self, name: str) -> CheckState:
        """The state of ``name`` (empty if never measured)."""
        for state in self.checks:
            if state.name == name:
                return state
        return CheckState(name)

    def to_dict(self) -> dict[str, Any]:
        """Status form (a list, so a merge patch replaces it whole)."""
        return {"stepIndex": self.step_index, "checks": [c.to_dict() for c in self.checks]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AnalysisState:
        """Inverse of :meth:`to_dict`."""
        return cls(
            step_index=int(data.get("stepIndex", 0)),
            checks=tuple(CheckState.from_dict(c) for c in data.get("checks") or ()),
        )


def _enum_or_none(enum: type[StrEnum], value: Any) -> Any:
    try:
        return enum(value) if value is not None else None
    except ValueError:
        return None


@dataclass(frozen=True)
class RolloutStatus:
    """Everything the state machine remembers, stored in Deployment.status.

    :meth:`to_dict` always writes every key (None as null) so a JSON merge
    patch of the status clears what is no longer set.
    """

    phase: RolloutPhase | None = None
    stable_version: str | None = None
    canary_version: str | None = None
    current_step_index: int | None = None
    current_weight: int = 0
    step_started_at: str | None = None
    canary_started_at: str | None = None
    #: When every ready stable pod began copying live requests to the canary (shadow step).
    shadow_started_at: str | None = None
    promotion: PromotionStage | None = None
    pause_reason: str | None = None
    message: str | None = None
    analysis: AnalysisState | None = None
    last_analysis: Mapping[str, Any] | None = None
    rolled_back_version: str | None = None
    rollback_reason: str | None = None
    history: tuple[HistoryEntry, ...] = ()
    alerts: tuple[FiringAlert, ...] = ()  # firing alerts this Deployment accepts
    #: Versions that were stable before the current one, the most recent first.
    previous_stable_versions: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """camelCase status fields."""
        return {
            "phase": self.phase.value if self.phase else None,
            "stableVersion": self.stable_version,
            "canaryVersion": self.canary_version,
            "currentStepIndex": self.current_step_index,
            "currentWeight": self.current_weight,
            "stepStartedAt": self.step_started_at,
            "canaryStartedAt": self.canary_started_at,
            "shadowStartedAt": self.shadow_started_at,
            "promotion": self.promotion.value if self.promotion else None,
            "pauseReason": self.pause_reason,
            "message": self.message,
            "analysis": self.analysis.to_dict() if self.analysis else None,
            "lastAnalysis": dict(self.last_analysis) if self.last_analysis else None,
            "rolledBackVersion": self.rolled_back_version,
            "rollbackReason": self.rollback_reason,
            "history": [h.to_dict() for h in self.history],
            "firingAlerts": [a.to_dict() for a in self.alerts],
            "previousStableVersions": list(self.previous_stable_versions),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> RolloutStatus:
        """Read the status back; absent keys take their defaults, other keys are ignored."""
        data = data or {}
        index = data.get("currentStepIndex")
        return cls(
            phase=_enum_or_none(RolloutPhase, data.get("phase")),
            stable_version=data.get("stableVersion") or None,
            canary_version=data.get("canaryVersion") or None,
            current_step_index=int(index) if index is not None else None,
            current_weight=int(data.get("currentWeight") or 0),
            step_started_at=data.get("stepStartedAt") or None,
            canary_started_at=data.get("canaryStartedAt") or None,
            shadow_started_at=data.get("shadowStartedAt") or None,
            promotion=_enum_or_none(PromotionStage, data.get("promotion")),
            pause_reason=data.get("pauseReason") or None,
            message=data.get("message") or None,
            analysis=AnalysisState.from_dict(data["analysis"]) if data.get("analysis") else None,
            last_analysis=dict(data["lastAnalysis"]) if data.get("lastAnalysis") else None,
            rolled_back_version=data.get("rolledBackVersion") or None,
            rollback_reason=data.get("rollbackReason") or None,
            history=tuple(HistoryEntry.from_dict(h) for h in data.get("history") or ()),
            alerts=tuple(FiringAlert.from_dict(a) for a in data.get("firingAlerts") or ()
                         if isinstance(a, Mapping) and a.get("name")),
            previous_stable_versions=tuple(
                v for v in data.get("previousStableVersions") or () if isinstance(v, str) and v),
        )
