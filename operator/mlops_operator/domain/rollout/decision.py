"""What goes into a decision (what the handler observed) and what comes out (the
desired traffic split and workloads, events and conditions).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from mlops_operator.domain.analysis import (
    Measurement,
)
from mlops_operator.domain.pods import PodProblem
from mlops_operator.domain.rollout.status import (
    FiringAlert,
    RolloutStatus,
)
from mlops_operator.domain.vocabulary import EventType


class Action(StrEnum):
    """What changed in this decision, in the order to apply it (informational:
    the declarative fields of :class:`Decision` are the source of truth)."""

    SET_WEIGHT = "SetWeight"
    DEPLOY_STABLE = "DeployStable"
    CREATE_CANARY = "CreateCanary"
    PROMOTE_CANARY_TO_STABLE = "PromoteCanaryToStable"
    SCALE_DOWN_CANARY = "ScaleDownCanary"


@dataclass(frozen=True)
class TrackState:
    """What one track's workload runs: its version and how many pods are ready."""

    version: str | None = None
    ready_replicas: int = 0
    problem: PodProblem | None = None  # why its pods are not ready, if they say
    mirror_to: str | None = None  # the shadow every ready pod copies live requests to


@dataclass(frozen=True, kw_only=True)
class Observations:
    """What the handler saw this tick."""

    now: datetime | str
    target_approved: bool  # spec.modelVersion names an Approved ModelVersion
    target_message: str = ""  # why not, e.g. "ModelVersion iris-v4 is Rejected: ..."
    target_rejected: bool = False  # judged Rejected/Invalid: it will never go live
    stable: TrackState = field(default_factory=TrackState)
    canary: TrackState = field(default_factory=TrackState)
    measurements: Mapping[str, Measurement] = field(default_factory=dict)  # by check name
    alerts: Sequence[FiringAlert] = ()  # firing, as Alertmanager last sent them
    resolved_alerts: frozenset[str] = frozenset()  # names Alertmanager said are resolved
    prometheus_reachable: bool = True
    prometheus_error: str = ""


@dataclass(frozen=True)
class Weights:
    """Traffic split in percent; always sums to 100."""

    stable: int = 100
    canary: int = 0

    def as_dict(self) -> dict[str, int]:
        """``{"stable": s, "canary": c}``."""
        return {"stable": self.stable, "canary": self.canary}


@dataclass(frozen=True)
class Event:
    """A Kubernetes Event to post on the Deployment."""

    type: EventType
    reason: str  # a RolloutReason, PodReason, or a container's own waiting reason
    message: str


@dataclass(frozen=True)
class Mirror:
    """The stable servers copy ``percent`` % of live requests to the canary ``version``."""

    version: str
    percent: int


@dataclass(frozen=True)
class Decision:
    """The desired state after this tick, plus what to tell people."""

    status: RolloutStatus
    weights: Weights
    stable_version: str | None  # version the stable workload must run (None: nothing yet)
    stable_replicas: int
    canary_version: str | None  # None: no canary
    canary_replicas: int
    actions: tuple[Action, ...] = ()
    events: tuple[Event, ...] = ()
    conditions: tuple[dict[str, Any], ...] = ()  # without lastTransitionTime: use set_condition
    requeue_after: float | None = None  # seconds until something is due (pause end, measurement)
    mirror: Mirror | None = None  # a shadow step: what the stable servers mirror, and where


def canary_replicas_for(weight: int, replicas: int) -> int:
    """Canary pods needed to carry ``weight`` percent: at least 1, at most ``replicas``."""
    if weight <= 0:
        return 1
    return min(replicas, max(1, math.ceil(replicas * weight / 100)))
