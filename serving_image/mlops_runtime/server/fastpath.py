"""The hot path: the exact inference URLs answered before Starlette's routing.

Routing, ``Request`` objects and response classes cost several times more than a
one-row model call; a dict lookup on the path skips them. The paths come from the
route table (``routes.inference_paths``); anything else goes on to the router.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from mlops_runtime.server import request_ids
from mlops_runtime.server.payloads import InputError
from mlops_runtime.server.routes import inference_paths
from mlops_runtime.server.service import ModelService


async def read_asgi_body(scope: Scope, receive: Receive, limit: int) -> bytes:
    """Whole body, refusing more than ``limit`` bytes (before reading, when declared)."""
    for key, value in scope["headers"]:
        if key == b"content-length":
            try:
                declared = int(value)
            except ValueError:
                raise InputError("content-length: not an integer") from None
            if declared > limit:
                raise InputError(f"body: {declared} bytes exceed the limit of {limit}", 413)
            break
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise InputError("body: client disconnected")
        chunk: bytes = message.get("body", b"")
        if not chunks and not message.get("more_body", False):
            if len(chunk) > limit:
                raise InputError(f"body: more than {limit} bytes", 413)
            return chunk
        size += len(chunk)
        if size > limit:
            raise InputError(f"body: more than {limit} bytes", 413)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


class InferenceFastPath:
    """ASGI middleware answering the exact inference URLs without Starlette routing.

    Routing, ``Request`` objects and response classes cost several times more
    than a one-row model call; this dict lookup skips them. Anything it does not
    recognise (other paths, methods, model names) goes on to the FastAPI router.
    """

    def __init__(self, app: ASGIApp, service: ModelService) -> None:
        self.app = app
        self.limit = service.settings.max_body_bytes
        self.routes = inference_paths(service)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            handler = self.routes.get(scope["path"])
            if handler is not None:
                given = request_ids.header_value(scope["headers"])
                status, content = await handler(
                    lambda: read_asgi_body(scope, receive, self.limit), header_id=given)
                headers = [(b"content-type", b"application/json"),
                           (b"content-length", str(len(content)).encode())]
                if given is not None:
                    headers.append((request_ids.HEADER, given.encode("latin-1")))
                await send({"type": "http.response.start", "status": status,
                            "headers": headers})
                await send({"type": "http.response.body", "body": content})
                return
        await self.app(scope, receive, send)
