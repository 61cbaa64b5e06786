"""The route table: every URL the model server answers, in one place.

Starlette's routes, the ASGI fast path and the published OpenAPI document are all
built from :data:`ROUTES`, so a URL cannot be served without being documented, or
documented without being served.
"""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from functools import partial
from typing import Protocol

from mlops_runtime.server.service import ModelService, Reader


@dataclass(frozen=True)
class RouteSpec:
    """One URL: its method, path template, the Endpoints method that answers it, and a
    one-line summary (the OpenAPI document's)."""

    method: str
    path: str
    endpoint: str
    summary: str


ROUTES: tuple[RouteSpec, ...] = (
    RouteSpec("POST", "/predict", "predict", "Predict: instances (records or rows) or columns"),
    RouteSpec("POST", "/v2/models/{model}/infer", "infer", "Open Inference Protocol inference"),
    RouteSpec("POST", "/v2/models/{model}/versions/{version}/infer", "infer",
              "Open Inference Protocol inference on one version"),
    RouteSpec("GET", "/healthz", "live", "Liveness: the process answers"),
    RouteSpec("GET", "/readyz", "ready", "Readiness: the model is loaded and serving"),
    RouteSpec("GET", "/v2/health/live", "live", "Open Inference Protocol server liveness"),
    RouteSpec("GET", "/v2/health/ready", "ready", "Open Inference Protocol server readiness"),
    RouteSpec("GET", "/v2", "server_metadata", "Open Inference Protocol server metadata"),
    RouteSpec("GET", "/v2/models/{model}", "model_metadata", "Model metadata"),
    RouteSpec("GET", "/v2/models/{model}/versions/{version}", "model_metadata",
              "Model metadata of one version"),
    RouteSpec("GET", "/v2/models/{model}/ready", "model_ready", "Model readiness"),
    RouteSpec("GET", "/v2/models/{model}/versions/{version}/ready", "model_ready",
              "Readiness of one model version"),
    RouteSpec("GET", "/metrics", "metrics", "Prometheus metrics of this server"),
    RouteSpec("GET", "/openapi.json", "openapi", "This document"),
)

class Inference(Protocol):
    """What the fast path calls for one inference URL: read the body, answer (status,
    bytes); ``header_id`` is the request's ``X-Request-Id``."""

    def __call__(self, read: Reader, header_id: str | None = None
                 ) -> Awaitable[tuple[int, bytes]]: ...


def inference_paths(service: ModelService) -> dict[str, Inference]:
    """The POST inference routes with this server's own model name and version filled
    in: exact paths the fast path can look up (other names go to the router's 404)."""
    paths: dict[str, Inference] = {}
    for route in ROUTES:
        if route.method != "POST":
            continue
        path = route.path.format(model=service.name, version=service.version)
        if route.endpoint == "predict":
            paths[path] = service.handle_predict
        else:
            version = service.version if "{version}" in route.path else None
            paths[path] = partial(service.handle_infer, model=service.name, version=version)
    return paths
