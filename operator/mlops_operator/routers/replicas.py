"""Replica-ratio router: one Service over both tracks; pod counts set the split.

Works on any cluster (kube-proxy picks a ready endpoint per connection). At 0 % and
100 % the Service selects only one track, so those two weights are exact; in between
the split is canary pods over all pods. So that the split is what the step asked for
(within ``TOLERANCE`` points), pods are surged above ``replicas`` where needed: 25 %
of 2 replicas runs 3 stable pods and 1 canary. ``effective_weight`` is what the pods
really give, and is what the Deployment's status shows.
"""

from __future__ import annotations

from typing import Any

from mlops_operator import builders, names
from mlops_operator.ports import TrafficPlan

#: How far (in points) the pod ratio may be from the step's weight.
TOLERANCE = 5
#: Pods a split may use when ``replicas`` is smaller: enough for any weight within
#: ``TOLERANCE`` (1 canary in 20 pods is 5 %).
SPLIT_PODS = 20


def replica_split(weight: int, replicas: int, min_canary: int = 1) -> tuple[int, int]:
    """(stable, canary) pod counts for ``weight`` %: the fewest pods, at least ``replicas``
    and at least ``min_canary`` canaries, whose ratio is within ``TOLERANCE`` points of the
    weight; when none is (a promotion holding many canaries at a low weight), the closest."""
    min_canary = max(1, min_canary)
    smallest = max(2, replicas, min_canary + 1)
    best: tuple[float, int, int] | None = None
    for total in range(smallest, max(smallest, SPLIT_PODS, replicas + min_canary) + 1):
        canary = min(total - 1, max(min_canary, round(total * weight / 100)))
        error = abs(100 * canary / total - weight)
        if error <= TOLERANCE:
            return total - canary, canary
        if best is None or error < best[0]:
            best = (error, total - canary, canary)
    assert best is not None
    return best[1], best[2]


def split_weight(stable: int, canary: int) -> int:
    """The canary's share of the pods, in whole percent."""
    return round(100 * canary / (stable + canary)) if stable + canary else 0


class ReplicaRouter:
    def plan(
        self, weight: int, replicas: int, stable_replicas: int, canary_replicas: int
    ) -> TrafficPlan:
        if weight <= 0 or canary_replicas == 0:
            return TrafficPlan(stable_replicas, canary_replicas, ("stable",), 0)
        if weight >= 100:
            return TrafficPlan(stable_replicas, canary_replicas, ("canary",), 100)
        # While a promotion scales the canary up, never hold it below what was decided.
        stable, canary = replica_split(weight, replicas, canary_replicas)
        return TrafficPlan(stable, canary, names.TRACKS, split_weight(stable, canary))

    def manifests(self, deployment: dict[str, Any], weight: int) -> list[dict[str, Any]]:
        """The main Service's selector follows the weight (both tracks in between)."""
        tracks = ("stable",) if weight <= 0 else ("canary",) if weight >= 100 else names.TRACKS
        return [builders.build_main_service(deployment, tracks)]
