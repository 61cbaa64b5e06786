"""Durations ("30s", "5m", "1h", "1m30s", "250ms") and RFC 3339 timestamps.

Specs carry durations as short strings (like Argo Rollouts and Flagger) and the
status carries times as RFC 3339 strings, so a status read back after an
operator restart compares exactly equal to the one written.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime

from mlops_operator.domain.errors import SpecError

_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
_ORDER = ("h", "m", "s", "ms")
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")


class DurationError(SpecError):
    """A duration string that cannot be parsed; the message quotes it."""


def parse_duration(text: str | int | float) -> float:
    """Seconds in ``text``; units h, m, s, ms in that order, e.g. "1m30s".

    A plain non-negative number is taken as seconds (YAML authors write ``30``).
    """
    if isinstance(text, bool):
        raise DurationError(f"invalid duration {text!r}: expected e.g. '30s', '5m', '1h'")
    if isinstance(text, int | float):
        if not math.isfinite(text) or text < 0:
            raise DurationError(f"invalid duration {text!r}: must be a non-negative number")
        return float(text)
    if not isinstance(text, str):
        raise DurationError(f"invalid duration {text!r}: expected a string like '30s'")
    stripped = text.strip()
    if not stripped:
        raise DurationError("invalid duration '': expected e.g. '30s', '5m', '1h'")
    total = 0.0
    position = 0
    last_unit = -1
    for match in _PART.finditer(stripped):
        if match.start() != position:
            break
        unit = match.group(2)
        rank = _ORDER.index(unit)
        if rank <= last_unit:
            raise DurationError(
                f"invalid duration {text!r}: units must appear once, in the order h, m, s, ms"
            )
        last_unit = rank
        total += float(match.group(1)) * _UNIT_SECONDS[unit]
        position = match.end()
    if position != len(stripped) or last_unit < 0:
        raise DurationError(
            f"invalid duration {text!r}: expected e.g. '30s', '5m', '1h', '1m30s' "
            "(units h, m, s, ms)"
        )
    return total


def format_duration(seconds: float) -> str:
    """The inverse of :func:`parse_duration` for messages, e.g. 90 -> "1m30s"."""
    if seconds < 0 or not math.isfinite(seconds):
        raise DurationError(f"cannot format duration {seconds!r}")
    millis = round(seconds * 1000)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    parts = []
    if hours:
        parts.append(f"{hours}h")
    if minutes:
        parts.append(f"{minutes}m")
    if secs:
        parts.append(f"{secs}s")
    if millis:
        parts.append(f"{millis}ms")
    return "".join(parts) or "0s"


def to_rfc3339(moment: datetime) -> str:
    """UTC, whole seconds, "Z" suffix: the form Kubernetes itself writes."""
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment!r}: pass a timezone-aware time")
    return moment.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(text: str) -> datetime:
    """An aware datetime from an RFC 3339 string ("Z" or an offset)."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except (AttributeError, ValueError) as error:
        raise ValueError(f"invalid RFC 3339 time {text!r}") from error
    if moment.tzinfo is None:
        raise ValueError(f"invalid RFC 3339 time {text!r}: no timezone")
    return moment


def as_datetime(moment: datetime | str) -> datetime:
    """Accept either form; handlers pass datetimes, the status holds strings."""
    if isinstance(moment, str):
        return parse_rfc3339(moment)
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment!r}: pass a timezone-aware time")
    return moment


def seconds_since(earlier: datetime | str, now: datetime | str) -> float:
    """Elapsed seconds from ``earlier`` to ``now`` (negative if clocks disagree)."""
    return (as_datetime(now) - as_datetime(earlier)).total_seconds()
