"""The ASGI application: the route table (``routes.py``) over one endpoints object
(``endpoints.py``) over the data plane (``service.py``), with one error mapper
(``errors.py``).

Inference never goes through pydantic: the raw body goes to the decoder (orjson +
numpy), because body parsing costs more than the model itself for one-row requests.
The exact inference URLs are answered by a small ASGI middleware before routing
(``fastpath.py``); the routes built from the table answer everything else with the
same handlers (wrong model names, 405s).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.exceptions import HTTPException
from starlette.routing import Route

from mlops_runtime import __version__
from mlops_runtime.server.endpoints import Endpoints
from mlops_runtime.server.errors import http_exception_handler
from mlops_runtime.server.fastpath import InferenceFastPath
from mlops_runtime.server.openapi import openapi_document
from mlops_runtime.server.routes import ROUTES
from mlops_runtime.server.runtime import LoadedModel, load_model
from mlops_runtime.server.service import ModelService
from mlops_runtime.server.settings import Settings

log = logging.getLogger("mlops_runtime.server")

def create_app(settings: Settings, loaded: LoadedModel | None = None) -> FastAPI:
    """Build the app; loads (and verifies) the model unless one is passed in."""
    if loaded is None:
        loaded = load_model(
            settings.model_uri, settings.sha256, settings.model_format, settings.input_schema
        )
    service = ModelService(settings, loaded)
    endpoints = Endpoints(service, openapi_document(service))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if service.mirror is not None:
            await service.mirror.start()
        if service.prediction_log is not None:
            await service.prediction_log.start()
        service.ready = True
        log.info("serving model %s version %s (%s, sha256 %s) track %s", service.name,
                 service.version, loaded.model_format, loaded.sha256, settings.track)
        yield
        service.ready = False
        if service.mirror is not None:
            await service.mirror.stop()
        if service.prediction_log is not None:
            await service.prediction_log.stop()
        if service.batcher is not None:
            log.info("adaptive batching: %d model calls for %d rows", service.batcher.calls,
                     service.batcher.rows)

    app = FastAPI(title="mlops-runtime model server", version=__version__, docs_url=None,
                  redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.service = service
    for route in ROUTES:
        app.router.routes.append(
            Route(route.path, getattr(endpoints, route.endpoint), methods=[route.method]))
    app.add_exception_handler(HTTPException, http_exception_handler)
    app.add_middleware(InferenceFastPath, service=service)
    return app
