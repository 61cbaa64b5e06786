"""Small interfaces between the handlers and the outside world.

Implementations live in ``providers/`` (metrics), ``routers/`` (traffic) and
``k8s/`` (the API server), each chosen by name from a registry; an unknown name
is a validation error.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from mlops_operator.domain.checks import CheckSpec


class ProviderError(Exception):
    """The metric provider could not answer (unreachable, bad query, server error)."""


class CheckUnavailable(Exception):
    """This check cannot be measured for this target (e.g. the ModelVersion lacks the
    training statistics it compares with); the message says what is missing."""


@dataclass(frozen=True)
class Reading:
    """A check's value with the evidence behind it, for people (e.g. the confidence
    intervals a liveAccuracy value came from); ``value`` None is no data yet."""

    value: float | None
    detail: str


@dataclass(frozen=True)
class CanaryTarget:
    """Where a check looks: one track of one mlops Deployment, and its ModelVersion's
    spec (the training statistics the distribution checks compare with)."""

    deployment: str
    namespace: str
    model: str
    version: str
    model_version_spec: Mapping[str, Any] = field(default_factory=dict)
    track: str = "canary"


class MetricObserver(Protocol):
    """Measures checks; the rollout sees only the numbers it returns."""

    def observe(self, check: CheckSpec, target: CanaryTarget) -> float | Reading | None:
        """The check's current value (a :class:`Reading` when it has a detail to show),
        or None while there is no data.

        Raises :class:`ProviderError` when the backend cannot answer and
        :class:`CheckUnavailable` when the check cannot be measured for ``target``.
        """
        ...


@dataclass(frozen=True)
class TrafficPlan:
    """What a router needs the workloads to look like for a traffic split."""

    stable_replicas: int
    canary_replicas: int
    tracks_in_service: tuple[str, ...]  # which tracks the main Service selects
    effective_weight: int  # the canary's real share of traffic that this plan gives


class TrafficRouter(Protocol):
    """Moves traffic between the stable and canary tracks of one Deployment."""

    def plan(
        self, weight: int, replicas: int, stable_replicas: int, canary_replicas: int
    ) -> TrafficPlan:
        """Pure: the replica counts and Service membership that realise ``weight`` %."""
        ...

    def manifests(self, deployment: dict[str, Any], weight: int) -> list[dict[str, Any]]:
        """Pure: the objects (Services, routes) that send ``weight`` % to the canary."""
        ...


class Conflict(Exception):
    """The object to create already exists."""


class Refused(Exception):
    """The API server refused an object the operator built from a user's spec (invalid,
    or turned away by an admission policy or a quota); ``str()`` names the object and
    carries the API server's own message, which names the field."""

    def __init__(self, kind: str, name: str, message: str) -> None:
        super().__init__(f"the API server refused {kind} {name}: {message}")
        self.kind, self.name, self.message = kind, name, message


class KubernetesPort(Protocol):
    """The API server operations the handlers make, on plain dicts.

    Reads the watches already answer (pods, ModelVersions, children) are not here:
    handlers get those from kopf's indexes. ``k8s.api.Kube`` is the real one.
    """

    def apply_if_changed(self, body: dict[str, Any], observed: dict[str, Any] | None) -> bool:
        """Server-side apply ``body`` unless ``observed`` (the watch's copy) matches it."""
        ...

    def delete(self, api_version: str, kind: str, namespace: str, name: str) -> None:
        """Delete if present (absent is success)."""
        ...

    def get_custom(self, namespace: str, plural: str, name: str) -> dict[str, Any] | None: ...

    def list_custom(
        self, namespace: str, plural: str, labels: str = ""
    ) -> list[dict[str, Any]]: ...

    def create_custom(
        self, namespace: str, plural: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        """Create; raises :class:`Conflict` when it exists."""
        ...

    def patch_custom_status(
        self, namespace: str, plural: str, name: str, status: dict[str, Any],
        resource_version: str | None = None,
    ) -> dict[str, Any]:
        """Merge-patch the status subresource; returns the object as stored.

        With ``resource_version``, only if the object is still at it, else :class:`Conflict`
        (for a writer sharing ``status.conditions`` with another handler).
        """
        ...

    def remove_custom_annotations(
        self, namespace: str, plural: str, name: str, keys: list[str]
    ) -> None:
        """Drop these annotations (absent ones, or an absent object, are no error)."""
        ...

    def get_job(self, namespace: str, name: str) -> dict[str, Any] | None: ...

    def create_job(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        """Create; raises :class:`Conflict` when it exists."""
        ...

    def job_pods(self, namespace: str, job_name: str) -> list[dict[str, Any]]:
        """The Job's pods, oldest first."""
        ...

    def pod_log_tail(
        self, namespace: str, pod: str, container: str, lines: int = 20
    ) -> list[str]: ...

    def ensure_claim(self, namespace: str, name: str, size: str = "1Gi") -> None:
        """Create the PersistentVolumeClaim unless it exists."""
        ...

    def post_event(self, obj: dict[str, Any], type_: str, reason: str, message: str,
                   details: Mapping[str, Any] | None = None) -> None:
        """An Event about ``obj`` for ``kubectl describe`` (type Normal or Warning);
        ``details``, the values behind a decision, go to the audit trail only."""
        ...
