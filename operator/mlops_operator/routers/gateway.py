"""Gateway API router: exact weights on an HTTPRoute's backendRefs."""

from __future__ import annotations

from typing import Any

from mlops_operator import builders, names
from mlops_operator.ports import TrafficPlan

HTTPROUTE_API = "gateway.networking.k8s.io/v1"


def build_http_route(deployment: dict[str, Any], weight: int, port: int) -> dict[str, Any]:
    """The HTTPRoute sending ``weight`` % to the canary Service, the rest to stable."""
    meta = deployment["metadata"]
    gateway = deployment["spec"]["router"]["gatewayAPI"]
    backends = [
        {"name": names.service_name(meta["name"], "stable"), "port": port, "weight": 100 - weight}
    ]
    if weight > 0:
        backends.append(
            {"name": names.service_name(meta["name"], "canary"), "port": port, "weight": weight}
        )
    spec: dict[str, Any] = {
        "parentRefs": gateway["parentRefs"],
        "rules": [{"backendRefs": backends}],
    }
    if gateway.get("hostnames"):
        spec["hostnames"] = gateway["hostnames"]
    return {
        "apiVersion": HTTPROUTE_API,
        "kind": "HTTPRoute",
        "metadata": {
            "name": meta["name"],
            "namespace": meta["namespace"],
            "labels": {names.DEPLOYMENT_LABEL: meta["name"]},
            "ownerReferences": [
                {
                    "apiVersion": deployment["apiVersion"],
                    "kind": deployment["kind"],
                    "name": meta["name"],
                    "uid": meta["uid"],
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": spec,
    }


class GatewayAPIRouter:
    def plan(
        self, weight: int, replicas: int, stable_replicas: int, canary_replicas: int
    ) -> TrafficPlan:
        return TrafficPlan(
            stable_replicas, canary_replicas, ("canary",) if weight >= 100 else ("stable",),
            weight if canary_replicas else 0,
        )

    def manifests(self, deployment: dict[str, Any], weight: int) -> list[dict[str, Any]]:
        """The HTTPRoute carrying the split, and the main Service.

        In-cluster clients that skip the gateway reach the version carrying the majority.
        """
        port = int(deployment["spec"].get("port", 80))
        tracks = ("canary",) if weight >= 100 else ("stable",)
        return [build_http_route(deployment, weight, port),
                builders.build_main_service(deployment, tracks)]
