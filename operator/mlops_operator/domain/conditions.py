"""Standard Kubernetes conditions as plain dicts, merged purely.

Conditions follow ``metav1.Condition``: type, status ("True"/"False"/"Unknown"),
reason (CamelCase), message, lastTransitionTime, observedGeneration. The time
only moves when the status flips, so ``kubectl describe`` shows how long a
state has held, and re-running a handler does not churn the object.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from mlops_operator.domain.durations import as_datetime, to_rfc3339

TRUE = "True"
FALSE = "False"
UNKNOWN = "Unknown"
STATUSES = (TRUE, FALSE, UNKNOWN)

#: metav1.Condition's reason pattern.
_REASON = re.compile(r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$")
MAX_MESSAGE = 1024


def condition_status(value: bool | str | None) -> str:
    """The status string ("True", "False", "Unknown") from a bool, None or the string."""
    if value is None:
        return UNKNOWN
    if isinstance(value, bool):
        return TRUE if value else FALSE
    if value in STATUSES:
        return value
    raise ValueError(f"condition status must be True, False or Unknown, not {value!r}")


def is_valid_reason(reason: str) -> bool:
    """Whether the API server accepts ``reason`` as a condition reason."""
    return bool(_REASON.match(reason)) and len(reason) <= 1024


def sanitize_reason(reason: object, fallback: str) -> str:
    """``reason`` if it is a valid CamelCase reason, else ``fallback``."""
    return reason if isinstance(reason, str) and is_valid_reason(reason) else fallback


def truncate(message: str, limit: int = MAX_MESSAGE) -> str:
    """Cut long messages (log tails) so the status stays small."""
    return message if len(message) <= limit else message[: limit - 3] + "..."


def make_condition(
    type_: str,
    status: bool | str | None,
    reason: str,
    message: str = "",
    *,
    observed_generation: int | None = None,
) -> dict[str, Any]:
    """A condition without a time; :func:`set_condition` stamps it."""
    if not is_valid_reason(reason):
        raise ValueError(f"invalid condition reason {reason!r}: must be CamelCase")
    condition: dict[str, Any] = {
        "type": type_,
        "status": condition_status(status),
        "reason": reason,
        "message": truncate(message),
    }
    if observed_generation is not None:
        condition["observedGeneration"] = observed_generation
    return condition


def get_condition(conditions: Iterable[Mapping[str, Any]] | None, type_: str) -> dict | None:
    """The condition of ``type_``, or None."""
    for condition in conditions or ():
        if condition.get("type") == type_:
            return dict(condition)
    return None


def is_true(conditions: Iterable[Mapping[str, Any]] | None, type_: str) -> bool:
    """Whether the condition of ``type_`` exists and is "True"."""
    condition = get_condition(conditions, type_)
    return condition is not None and condition.get("status") == TRUE


def set_condition(
    conditions: Sequence[Mapping[str, Any]] | None,
    new: Mapping[str, Any],
    now: datetime | str,
) -> list[dict[str, Any]]:
    """A new list with ``new`` merged in; the inputs are not modified.

    lastTransitionTime is kept when the status did not change (reason and
    message may still be updated) and set to ``now`` when it did or the
    condition is new. Other conditions keep their order; a new type goes last.
    """
    if not new.get("type"):
        raise ValueError("a condition needs a type")
    status = condition_status(new.get("status"))
    stamp = to_rfc3339(as_datetime(now))
    merged = {key: value for key, value in new.items() if key != "lastTransitionTime"}
    merged["status"] = status
    merged.setdefault("reason", "Unknown")
    merged.setdefault("message", "")
    result: list[dict[str, Any]] = []
    found = False
    for existing in conditions or ():
        if existing.get("type") != new["type"]:
            result.append(dict(existing))
            continue
        if found:  # a duplicate type: drop it, one condition per type
            continue
        found = True
        if existing.get("status") == status and existing.get("lastTransitionTime"):
            merged["lastTransitionTime"] = existing["lastTransitionTime"]
        else:
            merged["lastTransitionTime"] = stamp
        result.append(merged)
    if not found:
        merged["lastTransitionTime"] = stamp
        result.append(merged)
    return result


def set_conditions(
    conditions: Sequence[Mapping[str, Any]] | None,
    new: Iterable[Mapping[str, Any]],
    now: datetime | str,
) -> list[dict[str, Any]]:
    """:func:`set_condition` for several conditions in order."""
    result = [dict(c) for c in conditions or ()]
    for condition in new:
        result = set_condition(result, condition, now)
    return result


def remove_condition(
    conditions: Sequence[Mapping[str, Any]] | None, type_: str
) -> list[dict[str, Any]]:
    """A new list without conditions of ``type_``."""
    return [dict(c) for c in conditions or () if c.get("type") != type_]
