"""JSON values in request bodies: parsing, type names and the client error they raise.

Shared by the body decoders (``payloads.py``) and the error mapper; slow-path helpers
only run once a fast check has failed, to write a message that names the field.
"""

from __future__ import annotations

from typing import Any

import orjson

NUMBER_TYPES = frozenset((int, float))  # what JSON numbers parse to


class InputError(Exception):
    """A client error: becomes a 4xx ``{"error": message}``; never a 5xx."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def json_type(value: object) -> str:
    """JSON name of a parsed value, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def is_number(value: object) -> bool:
    """A JSON number (not a boolean)."""
    return type(value) in NUMBER_TYPES


def loads_body(body: bytes) -> Any:
    """The parsed body; empty or invalid JSON is a 400 saying so."""
    if not body:
        raise InputError("body: empty; expected a JSON object")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise InputError(f"body: invalid JSON: {error}") from None


def first_non_number(data: Any, path: str) -> str | None:
    """Depth-first search for the first leaf that is not a number (slow path only).

    Iterative, so a deeply nested payload cannot hit Python's recursion limit.
    """
    stack: list[tuple[Any, str]] = [(data, path)]
    while stack:
        item, where = stack.pop()
        if type(item) is list:
            stack.extend((child, f"{where}[{i}]") for i, child in reversed(list(enumerate(item))))
        elif not is_number(item):
            return f"{where}: expected a number, got {json_type(item)}"
    return None
