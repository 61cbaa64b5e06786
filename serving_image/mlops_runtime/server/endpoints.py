"""What each URL of the route table answers, as methods of one object.

Inference goes to the data plane (:class:`~.service.ModelService`); everything else
is small and, where it can be, computed once (metadata, health bodies).
"""

from __future__ import annotations

from typing import Any

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from mlops_runtime import __version__
from mlops_runtime.server import request_ids
from mlops_runtime.server.errors import JSON
from mlops_runtime.server.fastpath import read_asgi_body
from mlops_runtime.server.service import ModelService, Reader

_LIVE = orjson.dumps({"live": True})
_READY = orjson.dumps({"ready": True})
_NOT_READY = orjson.dumps({"ready": False, "error": "model not ready"})


class Endpoints:
    """The handlers of :data:`~.routes.ROUTES`, by the names the table uses."""

    def __init__(self, service: ModelService, openapi: dict[str, Any]) -> None:
        self.service = service
        self.max_body = service.settings.max_body_bytes
        self._metadata = orjson.dumps(service.model_metadata())
        self._server = orjson.dumps(
            {"name": "mlops-runtime", "version": __version__, "extensions": []})
        self._openapi = orjson.dumps(openapi)

    def _reader(self, request: Request) -> Reader:
        return lambda: read_asgi_body(request.scope, request.receive, self.max_body)

    def _model(self, request: Request) -> None:
        """404 unless the URL names this server's model (and version, if any)."""
        model = request.path_params["model"]
        version = request.path_params.get("version")
        if not self.service.is_served(model, version):
            raise HTTPException(404, self.service.not_found(model, version))

    async def predict(self, request: Request) -> Response:
        """``POST /predict`` through routing (the fast path answers most calls)."""
        given = request.headers.get(request_ids.HEADER_FIELD)
        status, body = await self.service.handle_predict(self._reader(request), given)
        return self._answer(status, body, given)

    async def infer(self, request: Request) -> Response:
        """V2 inference for any model name in the URL (a wrong one is a 404 naming both)."""
        params = request.path_params
        given = request.headers.get(request_ids.HEADER_FIELD)
        status, body = await self.service.handle_infer(
            self._reader(request), params["model"], params.get("version"), given)
        return self._answer(status, body, given)

    @staticmethod
    def _answer(status: int, body: bytes, given: str | None) -> Response:
        """The JSON answer, echoing the client's ``X-Request-Id``."""
        headers = {request_ids.HEADER_FIELD: given} if given is not None else None
        return Response(body, status_code=status, media_type=JSON, headers=headers)

    async def live(self, _: Request) -> Response:
        return Response(_LIVE, media_type=JSON)

    async def ready(self, _: Request) -> Response:
        if self.service.ready:
            return Response(_READY, media_type=JSON)
        return Response(_NOT_READY, status_code=503, media_type=JSON)

    async def server_metadata(self, _: Request) -> Response:
        return Response(self._server, media_type=JSON)

    async def model_metadata(self, request: Request) -> Response:
        self._model(request)
        return Response(self._metadata, media_type=JSON)

    async def model_ready(self, request: Request) -> Response:
        self._model(request)
        return await self.ready(request)

    async def metrics(self, _: Request) -> Response:
        return Response(generate_latest(self.service.registry), media_type=CONTENT_TYPE_LATEST)

    async def openapi(self, _: Request) -> Response:
        return Response(self._openapi, media_type=JSON)
