"""Thin kopf handlers: read the resource, ask the domain layer, apply through adapters."""

from __future__ import annotations

import datetime as dt

from mlops_operator.domain.durations import to_rfc3339

#: kopf memo keys shared by the handlers.
SETTINGS_KEY = "mlops_settings"
ALERTS_KEY = "mlops_alerts"


def now() -> dt.datetime:
    """The handlers' clock: UTC, whole seconds (what Kubernetes writes)."""
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def stamp() -> str:
    """``now()`` as an RFC 3339 string for status fields."""
    return to_rfc3339(now())
