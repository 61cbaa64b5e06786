"""Thin kopf handlers: read the resource, ask the domain layer, apply through adapters.

What they share lives in one typed ``context.OperatorContext`` (kopf's memo holds only
that); this module gives them one clock.
"""

from __future__ import annotations

import datetime as dt

from mlops_operator.domain.durations import to_rfc3339


def now() -> dt.datetime:
    """The handlers' clock: UTC, whole seconds (what Kubernetes writes)."""
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def stamp() -> str:
    """``now()`` as an RFC 3339 string for status fields."""
    return to_rfc3339(now())
