"""Replica-ratio router: one Service over both tracks; pod counts set the split.

Works on any cluster (kube-proxy, or the local cluster's proxy, picks a ready
endpoint per connection). At 0 % and 100 % the Service selects only one track,
so those two weights are exact; in between the split is canary pods over all
pods, as close to the weight as ``replicas`` allows.
"""

from __future__ import annotations

from typing import Any

from mlops_operator import builders, names
from mlops_operator.ports import TrafficPlan


def replica_split(weight: int, replicas: int) -> tuple[int, int]:
    """(stable, canary) pod counts whose ratio is closest to ``weight`` % of ``replicas``."""
    if replicas <= 1:
        return 1, 1
    canary = min(replicas - 1, max(1, round(replicas * weight / 100)))
    return replicas - canary, canary


class ReplicaRouter:
    def plan(
        self, weight: int, replicas: int, stable_replicas: int, canary_replicas: int
    ) -> TrafficPlan:
        if weight <= 0 or canary_replicas == 0:
            return TrafficPlan(stable_replicas, canary_replicas, ("stable",))
        if weight >= 100:
            return TrafficPlan(stable_replicas, canary_replicas, ("canary",))
        stable, canary = replica_split(weight, replicas)
        # While a promotion scales the canary up, never hold it below what was decided.
        return TrafficPlan(stable, max(canary, canary_replicas), names.TRACKS)

    def manifests(self, deployment: dict[str, Any], weight: int) -> list[dict[str, Any]]:
        """The main Service's selector follows the weight (both tracks in between)."""
        tracks = ("stable",) if weight <= 0 else ("canary",) if weight >= 100 else names.TRACKS
        return [builders.build_main_service(deployment, tracks)]
