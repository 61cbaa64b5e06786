"""The FastAPI application: Open Inference Protocol V2, ``/predict``, health, metrics.

Inference never goes through pydantic: the raw body goes to :class:`Decoder`
(orjson + numpy), because FastAPI's body parsing costs more than the model itself
for one-row requests. The exact inference URLs are even answered by a small ASGI
middleware before Starlette's routing; plain Starlette routes share the same
handlers for everything else (wrong model names, 405s). Everything per-request
that can be computed at startup (labels, metadata, error bodies) is.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import partial
from time import perf_counter
from typing import Any

import numpy as np
import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from mlops_runtime import __version__
from mlops_runtime.server.batching import AdaptiveBatcher
from mlops_runtime.server.metrics import ServerMetrics
from mlops_runtime.server.payloads import ONNX_INPUT_NAME, Decoder, InputError
from mlops_runtime.server.runtime import (
    LABEL_OUTPUT,
    PROBABILITIES_OUTPUT,
    LoadedModel,
    Prediction,
    load_model,
)
from mlops_runtime.server.settings import Settings

log = logging.getLogger("mlops_runtime.server")

JSON = "application/json"
_NUMPY = orjson.OPT_SERIALIZE_NUMPY
# Batches above this many rows run in a worker thread so health checks stay answered.
OFFLOAD_ROWS = 2048
_V2_DATATYPES = {
    "f": {2: "FP16", 4: "FP32", 8: "FP64"},
    "i": {1: "INT8", 2: "INT16", 4: "INT32", 8: "INT64"},
    "u": {1: "UINT8", 2: "UINT16", 4: "UINT32", 8: "UINT64"},
    "b": {1: "BOOL"},
}


class InjectedFault(Exception):
    """Raised by ``--fault-error-rate`` (demos/tests only) to answer HTTP 500."""


def json_response(payload: Any, status: int = 200) -> Response:
    """orjson-encoded response; numpy arrays are serialised natively."""
    return Response(orjson.dumps(payload, option=_NUMPY), status_code=status, media_type=JSON)


def error_body(message: str) -> bytes:
    """The one error shape clients see: ``{"error": "..."}``."""
    return orjson.dumps({"error": message})


def error_response(status: int, message: str) -> Response:
    """An error as a Starlette response (non-inference routes)."""
    return Response(error_body(message), status_code=status, media_type=JSON)


_FAULT_BODY = error_body("injected fault (--fault-error-rate)")
_INTERNAL_BODY = error_body("internal error")


def jsonable(array: np.ndarray) -> Any:
    """Numeric contiguous arrays go to orjson as-is; others (strings) as lists."""
    if array.dtype.kind in "biuf" and array.flags.c_contiguous:
        return array
    return array.tolist()


def v2_datatype(array: np.ndarray) -> str:
    """Open Inference Protocol datatype of a numpy array."""
    return _V2_DATATYPES.get(array.dtype.kind, {}).get(array.dtype.itemsize, "BYTES")


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
        name, version = service.name, service.version
        self.routes: dict[str, Callable[[Callable[[], Awaitable[bytes]]], Awaitable[Any]]] = {
            "/predict": service.handle_predict,
            f"/v2/models/{name}/infer": partial(service.handle_infer, model=name, version=None),
            f"/v2/models/{name}/versions/{version}/infer": partial(
                service.handle_infer, model=name, version=version
            ),
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            handler = self.routes.get(scope["path"])
            if handler is not None:
                status, content = await handler(lambda: read_asgi_body(scope, receive, self.limit))
                await send(
                    {
                        "type": "http.response.start",
                        "status": status,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"content-length", str(len(content)).encode()),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": content})
                return
        await self.app(scope, receive, send)


class ModelService:
    """The served model plus everything requests need, built once."""

    def __init__(self, settings: Settings, loaded: LoadedModel) -> None:
        self.settings = settings
        self.loaded = loaded
        self.name = settings.model_name
        self.version = settings.model_version
        self.schema = loaded.schema
        self.decoder = Decoder(loaded.schema, settings.max_rows)
        self.output_names = loaded.output_names
        self.metrics = (
            ServerMetrics(loaded, self.name, self.version, settings.track)
            if settings.metrics
            else None
        )
        self.registry = self.metrics.registry if self.metrics else CollectorRegistry()
        on_batch = self.metrics.observe_batch if self.metrics else None
        self.batcher = (
            AdaptiveBatcher(
                loaded.model.predict, on_batch, settings.batch_max_rows, settings.batch_max_delay
            )
            if settings.batching
            else None
        )
        self.fault_rate = settings.fault_error_rate
        self.fault_latency = settings.fault_latency
        self._random = random.Random()
        self.ready = True

    def fault(self) -> bool:
        """Demo/test fault injection: True for the configured fraction of requests."""
        return self.fault_rate > 0.0 and self._random.random() < self.fault_rate

    async def predict(self, x: np.ndarray) -> Prediction:
        """Run the model (batched if enabled) and record input/prediction metrics."""
        if self.fault_latency:
            await asyncio.sleep(self.fault_latency)  # demo/test fault: a slow canary
        if self.batcher is not None and x.shape[0] < self.batcher.max_rows:
            return await self.batcher.predict(x)  # big requests are batches already
        if x.shape[0] > OFFLOAD_ROWS:
            prediction = await asyncio.to_thread(self.loaded.model.predict, x)
        else:
            prediction = self.loaded.model.predict(x)
        if self.metrics is not None:
            self.metrics.observe_batch(x, prediction)
        return prediction

    def is_served(self, model: str, version: str | None) -> bool:
        """Does a URL's model name (and optional version) name this server's model?"""
        return model == self.name and (version is None or version == self.version)

    def not_found(self, model: str, version: str | None) -> str:
        """404 message naming what was asked for and what is served."""
        wanted = model if version is None else f"{model} version {version}"
        return (
            f"model {wanted!r} not found; this server serves {self.name!r} version {self.version!r}"
        )

    def _finish(self, status: int, content: bytes, start: float, rows: int) -> tuple[int, bytes]:
        if self.metrics is not None:
            self.metrics.observe_request(status, perf_counter() - start, rows)
        return status, content

    async def handle_predict(self, read: Callable[[], Awaitable[bytes]]) -> tuple[int, bytes]:
        """``POST /predict``: records, rows or columns in; predictions out."""
        start = perf_counter()
        rows = 0
        try:
            x = self.decoder.predict_body(await read())
            rows = x.shape[0]
            if self.fault():
                raise InjectedFault
            prediction = await self.predict(x)
            payload: dict[str, Any] = {"predictions": jsonable(prediction.values)}
            if prediction.probabilities is not None:
                payload["probabilities"] = prediction.probabilities
            payload["model"] = self.name
            payload["version"] = self.version
            return self._finish(200, orjson.dumps(payload, option=_NUMPY), start, rows)
        except InputError as error:
            return self._finish(error.status, error_body(error.message), start, rows)
        except InjectedFault:
            return self._finish(500, _FAULT_BODY, start, rows)
        except Exception:
            log.exception("unexpected error in /predict")
            return self._finish(500, _INTERNAL_BODY, start, rows)

    async def handle_infer(
        self, read: Callable[[], Awaitable[bytes]], model: str, version: str | None
    ) -> tuple[int, bytes]:
        """``POST /v2/models/{model}[/versions/{version}]/infer`` (Open Inference Protocol)."""
        start = perf_counter()
        rows = 0
        try:
            if not self.is_served(model, version):
                raise InputError(self.not_found(model, version), 404)
            parsed = self.decoder.infer_body(await read(), self.output_names)
            rows = parsed.x.shape[0]
            if self.fault():
                raise InjectedFault
            prediction = await self.predict(parsed.x)
            payload: dict[str, Any] = {
                "model_name": self.name,
                "model_version": self.version,
                "outputs": self._outputs(prediction, parsed.outputs or self.output_names),
            }
            if parsed.request_id is not None:
                payload["id"] = parsed.request_id
            return self._finish(200, orjson.dumps(payload, option=_NUMPY), start, rows)
        except InputError as error:
            return self._finish(error.status, error_body(error.message), start, rows)
        except InjectedFault:
            return self._finish(500, _FAULT_BODY, start, rows)
        except Exception:
            log.exception("unexpected error in /v2 infer")
            return self._finish(500, _INTERNAL_BODY, start, rows)

    @staticmethod
    def _outputs(prediction: Prediction, wanted: tuple[str, ...]) -> list[dict[str, Any]]:
        values = prediction.values
        outputs: list[dict[str, Any]] = []
        for output in wanted:
            if output == PROBABILITIES_OUTPUT:
                proba = prediction.probabilities
                if proba is not None:
                    outputs.append(
                        {
                            "name": output,
                            "datatype": v2_datatype(proba),
                            "shape": list(proba.shape),
                            "data": jsonable(proba.reshape(-1)),
                        }
                    )
                continue
            data = jsonable(values)
            datatype = v2_datatype(values) if isinstance(data, np.ndarray) else "BYTES"
            shape = [values.shape[0]]
            outputs.append({"name": output, "datatype": datatype, "shape": shape, "data": data})
        return outputs

    def model_metadata(self) -> dict[str, Any]:
        """Open Inference Protocol model metadata."""
        schema = self.schema
        outputs: list[dict[str, Any]]
        if schema.is_classifier:
            n_classes = len(schema.classes) if schema.classes is not None else -1
            outputs = [
                {"name": LABEL_OUTPUT, "datatype": self._label_datatype(), "shape": [-1]},
                {"name": PROBABILITIES_OUTPUT, "datatype": "FP32", "shape": [-1, n_classes]},
            ]
        else:
            outputs = [{"name": self.output_names[0], "datatype": "FP32", "shape": [-1]}]
        return {
            "name": self.name,
            "versions": [self.version],
            "platform": self.loaded.model.platform,
            "inputs": [
                {"name": ONNX_INPUT_NAME, "datatype": "FP32", "shape": [-1, schema.n_features]}
            ],
            "outputs": outputs,
            "parameters": {
                "track": self.settings.track,
                "format": self.loaded.model_format,
                "sha256": self.loaded.sha256,
                "schema": schema.to_json(),
            },
        }

    def _label_datatype(self) -> str:
        classes = self.schema.classes or ()
        if classes and all(isinstance(c, int) and not isinstance(c, bool) for c in classes):
            return "INT64"
        return "BYTES"


def create_app(settings: Settings, loaded: LoadedModel | None = None) -> FastAPI:
    """Build the app; loads (and verifies) the model unless one is passed in."""
    if loaded is None:
        loaded = load_model(
            settings.model_uri, settings.sha256, settings.model_format, settings.input_schema
        )
    service = ModelService(settings, loaded)
    name, version = service.name, service.version
    max_body = settings.max_body_bytes

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        service.ready = True
        log.info(
            "serving model %s version %s (%s, sha256 %s) track %s",
            name,
            version,
            loaded.model_format,
            loaded.sha256,
            settings.track,
        )
        yield
        service.ready = False
        if service.batcher is not None:
            calls = service.batcher.calls
            log.info(
                "adaptive batching: %d model calls for %d rows",
                calls,
                service.batcher.rows,
            )

    app = FastAPI(
        title="mlops-runtime model server",
        version=__version__,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=lifespan,
    )
    app.state.service = service

    def read_request(request: Request) -> Callable[[], Awaitable[bytes]]:
        return lambda: read_asgi_body(request.scope, request.receive, max_body)

    async def predict(request: Request) -> Response:
        """``POST /predict`` through Starlette routing (the fast path handles most calls)."""
        status, content = await service.handle_predict(read_request(request))
        return Response(content, status_code=status, media_type=JSON)

    async def infer(request: Request) -> Response:
        """``POST /v2/models/{name}[/versions/{version}]/infer``, any name (404s included)."""
        params = request.path_params
        status, content = await service.handle_infer(
            read_request(request), params["name"], params.get("version")
        )
        return Response(content, status_code=status, media_type=JSON)

    app.router.routes.append(Route("/predict", predict, methods=["POST"]))
    app.router.routes.append(Route("/v2/models/{name}/infer", infer, methods=["POST"]))
    app.router.routes.append(
        Route("/v2/models/{name}/versions/{version}/infer", infer, methods=["POST"])
    )
    app.add_middleware(InferenceFastPath, service=service)

    live_body = orjson.dumps({"live": True})
    ready_body = orjson.dumps({"ready": True})
    not_ready_body = orjson.dumps({"ready": False, "error": "model not ready"})
    metadata_body = orjson.dumps(service.model_metadata())

    def live() -> Response:
        return Response(live_body, media_type=JSON)

    def ready() -> Response:
        if service.ready:
            return Response(ready_body, media_type=JSON)
        return Response(not_ready_body, status_code=503, media_type=JSON)

    def check_model(model: str, model_version: str | None) -> None:
        if not service.is_served(model, model_version):
            raise StarletteHTTPException(404, service.not_found(model, model_version))

    @app.get("/healthz")
    async def healthz() -> Response:
        """Liveness: the process answers."""
        return live()

    @app.get("/readyz")
    async def readyz() -> Response:
        """Readiness: the model is loaded and we are not shutting down."""
        return ready()

    @app.get("/v2/health/live")
    async def v2_live() -> Response:
        """Open Inference Protocol liveness."""
        return live()

    @app.get("/v2/health/ready")
    async def v2_ready() -> Response:
        """Open Inference Protocol readiness."""
        return ready()

    @app.get("/v2")
    async def v2_server() -> Response:
        """Open Inference Protocol server metadata."""
        return json_response({"name": "mlops-runtime", "version": __version__, "extensions": []})

    @app.get("/v2/models/{model}")
    async def v2_model(model: str) -> Response:
        """Open Inference Protocol model metadata."""
        check_model(model, None)
        return Response(metadata_body, media_type=JSON)

    @app.get("/v2/models/{model}/versions/{model_version}")
    async def v2_model_version(model: str, model_version: str) -> Response:
        """Open Inference Protocol model metadata for one version."""
        check_model(model, model_version)
        return Response(metadata_body, media_type=JSON)

    @app.get("/v2/models/{model}/ready")
    async def v2_model_ready(model: str) -> Response:
        """Open Inference Protocol model readiness."""
        check_model(model, None)
        return ready()

    @app.get("/v2/models/{model}/versions/{model_version}/ready")
    async def v2_model_version_ready(model: str, model_version: str) -> Response:
        """Open Inference Protocol model readiness for one version."""
        check_model(model, model_version)
        return ready()

    @app.get("/metrics")
    async def prometheus_metrics() -> Response:
        """Prometheus exposition of this app's own registry."""
        return Response(generate_latest(service.registry), media_type=CONTENT_TYPE_LATEST)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> Response:
        response = error_response(exc.status_code, str(exc.detail))
        if exc.headers:
            response.headers.update(exc.headers)
        return response

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> Response:
        return error_response(400, f"invalid request: {exc.errors()}")

    return app
