"""Traffic routers by name (``spec.router.type``)."""

from __future__ import annotations

from typing import Any

from mlops_operator.ports import TrafficRouter
from mlops_operator.routers.gateway import GatewayAPIRouter
from mlops_operator.routers.replicas import ReplicaRouter

ROUTERS: dict[str, type] = {"replicas": ReplicaRouter, "gatewayAPI": GatewayAPIRouter}


def router_for(deployment: dict[str, Any]) -> TrafficRouter:
    name = ((deployment.get("spec") or {}).get("router") or {}).get("type", "replicas")
    try:
        return ROUTERS[name]()
    except KeyError:
        raise ValueError(
            f"spec.router.type: unknown router {name!r}; known: {', '.join(ROUTERS)}"
        ) from None
