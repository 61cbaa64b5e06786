"""Small interfaces between the handlers and the outside world.

Implementations live in ``providers/`` (metrics) and ``routers/`` (traffic),
each chosen by name from a registry; an unknown name is a validation error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


class ProviderError(Exception):
    """The metric provider could not answer (unreachable, bad query, server error)."""


class MetricProvider(Protocol):
    """Runs one query and returns an instant vector as (labels, value) pairs."""

    def query(self, promql: str) -> list[tuple[dict[str, str], float]]: ...


@dataclass(frozen=True)
class TrafficPlan:
    """What a router needs the workloads to look like for a traffic split."""

    stable_replicas: int
    canary_replicas: int
    tracks_in_service: tuple[str, ...]  # which tracks the main Service selects


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
