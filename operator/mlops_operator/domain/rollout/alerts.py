"""Firing alerts kept in the status: what Alertmanager sent, merged with what the
status remembers, minus what it resolved and what it stopped re-sending; and the one
that rolls the canary back.

Alertmanager re-sends a firing alert every ``repeat_interval``; one not seen for
:data:`ALERT_TTL` is taken to be gone (its resolution was lost). Only alerts the
Deployment accepts (``spec.strategy.alerts``) are kept.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace

from mlops_operator.domain.durations import DurationError, as_datetime, seconds_since, to_rfc3339
from mlops_operator.domain.rollout.status import FiringAlert, RolloutStatus

#: How long a firing alert is believed without a re-send (3x a 5 min repeat_interval).
ALERT_TTL = 900.0


def merge_alerts(
    kept: Iterable[FiringAlert],
    received: Sequence[FiringAlert],
    resolved: Iterable[str],
    accepted: Iterable[str],
    now: str,
) -> tuple[tuple[FiringAlert, ...], float | None]:
    """The alerts to keep, sorted by name, and seconds until the first one expires."""
    wanted = set(accepted)
    by_name = {a.name: a for a in kept if a.name in wanted}
    for alert in received:
        if alert.name in wanted:
            by_name[alert.name] = replace(alert, started_at=_stamp(alert.started_at),
                                          last_seen=_stamp(alert.last_seen) or now)
    for name in resolved:
        by_name.pop(name, None)
    alive = {}
    for name, alert in by_name.items():
        age = seconds_since(alert.last_seen, now) if alert.last_seen else 0.0
        if age <= ALERT_TTL:
            alive[name] = (alert, ALERT_TTL - age)
    expiry = min((left for _, left in alive.values()), default=None)
    return tuple(alive[name][0] for name in sorted(alive)), expiry


def alert_against_canary(status: RolloutStatus) -> FiringAlert | None:
    """The first kept alert (accepted by spec.strategy.alerts, sorted by name) that
    started after the canary did, or whose start is unknown: it rolls the canary back."""
    for alert in status.alerts:
        if alert.started_at is None or status.canary_started_at is None:
            return alert
        if seconds_since(status.canary_started_at, alert.started_at) >= 0:
            return alert
    return None


def _stamp(moment: object) -> str | None:
    """RFC 3339, as the status stores times; an unreadable time is treated as unknown."""
    if moment is None or moment == "":
        return None
    try:
        return to_rfc3339(as_datetime(moment))  # type: ignore[arg-type]
    except (DurationError, ValueError, TypeError):
        return None
