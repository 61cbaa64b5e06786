"""The one error shape clients see, ``{"error": "..."}``, and the one mapping from an
exception to its HTTP status, shared by every endpoint and the framework's handlers."""

from __future__ import annotations

import logging

import orjson
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from mlops_runtime.server.payloads import InputError

log = logging.getLogger("mlops_runtime.server")

JSON = "application/json"


class InjectedFault(Exception):
    """Raised by ``--fault-error-rate`` (demos/tests only) to answer HTTP 500."""


def error_body(message: str) -> bytes:
    """``{"error": message}`` as bytes."""
    return orjson.dumps({"error": message})


_FAULT = (500, error_body("injected fault (--fault-error-rate)"))
_INTERNAL = (500, error_body("internal error"))


def status_of(error: BaseException, where: str) -> tuple[int, bytes]:
    """Status and body for ``error``: a client's mistake is its 4xx naming the field,
    an injected fault 500, anything else a logged 500 that says nothing internal."""
    if isinstance(error, InputError):
        return error.status, error_body(error.message)
    if isinstance(error, HTTPException):
        return error.status_code, error_body(str(error.detail))
    if isinstance(error, InjectedFault):
        return _FAULT
    log.error("unexpected error in %s", where, exc_info=error)
    return _INTERNAL


def error_response(error: BaseException, where: str = "a request") -> Response:
    """:func:`status_of` as a Starlette response (keeping an HTTPException's headers)."""
    status, body = status_of(error, where)
    response = Response(body, status_code=status, media_type=JSON)
    if isinstance(error, HTTPException) and error.headers:
        response.headers.update(error.headers)
    return response


async def http_exception_handler(_: Request, error: Exception) -> Response:
    """Starlette's 404/405 (and anything raised as HTTPException) in the one shape."""
    return error_response(error)
