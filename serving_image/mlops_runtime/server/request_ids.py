"""Prediction IDs: every answer names the request and each of its rows, so a label that
arrives later can be joined with the prediction it judges.

A client may name the request (``id`` in the body, else an ``X-Request-Id`` header) and
each row (``ids`` in a /predict body, ``parameters.ids`` in a v2 body: the keys its own
warehouse will send labels for); otherwise the server makes a random request ID. A
one-row request's row ID is its request ID; row ``i`` of a larger one is
``<request id>-<i>``, so a row ID never needs the request it came in.
"""

from __future__ import annotations

import uuid
from typing import Any

from mlops_runtime.server.jsontypes import InputError, json_type

#: The header a client (or a proxy such as Envoy) names a request with; echoed back.
HEADER = b"x-request-id"
HEADER_FIELD = "X-Request-Id"
#: Longest ID accepted: room for a UUID with a prefix, small enough for a log key.
MAX_LENGTH = 128


def checked(value: Any, field: str) -> str:
    """A client's ID: a non-empty printable string of at most ``MAX_LENGTH`` characters."""
    if type(value) is not str:
        raise InputError(f"{field}: expected a string, got {json_type(value)}")
    if not value or len(value) > MAX_LENGTH or not value.isprintable():
        raise InputError(f"{field}: expected 1 to {MAX_LENGTH} printable characters")
    return value


def request_id(in_body: Any, in_header: str | None) -> str:
    """The request's ID: the body's ``id``, else the header's, else a new random one."""
    if in_body is not None:
        return checked(in_body, "id")
    if in_header is not None:
        return checked(in_header, HEADER_FIELD)
    return uuid.uuid4().hex


def row_ids(request: str, n_rows: int, given: Any, field: str) -> list[str]:
    """One ID per row: the client's (checked: strings, one per row, no repeats) or derived
    from the request ID."""
    if given is None:
        return [request] if n_rows == 1 else [f"{request}-{i}" for i in range(n_rows)]
    if type(given) is not list:
        raise InputError(f"{field}: expected a list of strings, one per row")
    if len(given) != n_rows:
        raise InputError(f"{field}: {len(given)} IDs for {n_rows} rows; give one per row")
    for index, value in enumerate(given):
        checked(value, f"{field}[{index}]")
    if len(set(given)) != n_rows:
        first: dict[str, int] = {}
        for index, value in enumerate(given):
            if value in first:
                raise InputError(f"{field}[{index}]: {value!r} repeats {field}[{first[value]}]")
            first[value] = index
    return given


def header_value(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The ``X-Request-Id`` of an ASGI request's headers, if any."""
    for key, value in headers:
        if key == HEADER:
            return value.decode("latin-1")
    return None
