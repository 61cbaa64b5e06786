"""The Alertmanager webhook as an HTTP adapter: authenticate, validate, fold alerts.

Alertmanager posts ``{"alerts": [{"status", "labels", "annotations", "startsAt"}]}``
with ``Authorization: Bearer <token>`` (its ``http_config.authorization``); the
token is read from ``MLOPS_ALERT_WEBHOOK_TOKEN_FILE`` (a mounted Secret) on each
request, so a rotated Secret takes effect without a restart. Without a valid
token the answer is 401 and nothing changes; a body over ``MAX_BODY_BYTES`` is
413, anything that is not Alertmanager's JSON 400. Alerts carrying
``namespace`` and ``deployment`` labels are folded into a table of firing alerts
(Alertmanager re-sends them while they fire); ``handlers.alerts`` serves this app
and wakes the Deployments it names. Firing alerts carrying ``namespace`` and
``model`` are reported as :class:`ModelAlert` to a second callback (retraining);
this module does not know what, if anything, they start.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web

log = logging.getLogger(__name__)
MAX_BODY_BYTES = 256 * 1024
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="mlops-operator alerts"'}


def authorized(header: str | None, token_file: str | None) -> bool:
    """Whether ``header`` carries the bearer token in ``token_file`` (constant-time)."""
    if not header or not token_file:
        return False
    scheme, _, presented = header.partition(" ")
    try:
        expected = Path(token_file).read_text().strip()
    except OSError:
        return False
    return (scheme.lower() == "bearer" and bool(expected)
            and hmac.compare_digest(presented.strip().encode(), expected.encode()))


def malformed(payload: Any) -> str | None:
    """Why ``payload`` is not an Alertmanager webhook body (None if it is one)."""
    if not isinstance(payload, dict):
        return "the body must be a JSON object"
    alerts = payload.get("alerts", [])
    if not isinstance(alerts, list) or not all(isinstance(a, dict) for a in alerts):
        return "alerts must be a list of objects"
    for index, alert in enumerate(alerts):
        for field in ("labels", "annotations"):
            if not isinstance(alert.get(field) or {}, dict):
                return f"alerts[{index}].{field} must be an object"
    return None


@dataclass(frozen=True)
class AlertState:
    """The last word Alertmanager sent about one alert of one Deployment."""

    message: str
    starts_at: str | None
    received_at: str  # RFC 3339, this operator's clock
    resolved: bool = False


#: Resolved entries are kept this long so every Deployment's next reconcile sees them.
KEEP_RESOLVED = timedelta(hours=1)


def record(table: dict[tuple[str, str], dict[str, AlertState]], payload: dict[str, Any],
           now: datetime | None = None) -> set[tuple[str, str]]:
    """Fold one webhook payload into the alert table; return the Deployments touched."""
    moment = (now or datetime.now(UTC)).replace(microsecond=0)
    received = moment.isoformat().replace("+00:00", "Z")
    touched = set()
    for alert in payload.get("alerts") or []:
        labels = alert.get("labels") or {}
        namespace, name = labels.get("namespace"), labels.get("deployment")
        if not namespace or not name:
            continue
        key = (str(namespace), str(name))
        alertname = str(labels.get("alertname", "alert"))
        annotations = alert.get("annotations") or {}
        message = annotations.get("summary") or annotations.get("description") or alertname
        starts_at = alert.get("startsAt")
        table.setdefault(key, {})[alertname] = AlertState(
            str(message), str(starts_at) if starts_at else None, received,
            resolved=alert.get("status") != "firing")
        touched.add(key)
    _forget_old_resolutions(table, moment)
    return touched


def _forget_old_resolutions(table: dict[tuple[str, str], dict[str, AlertState]],
                            now: datetime) -> None:
    cutoff = (now - KEEP_RESOLVED).isoformat().replace("+00:00", "Z")
    for key in list(table):
        alerts = table[key]
        for alertname in [n for n, a in alerts.items() if a.resolved and a.received_at < cutoff]:
            del alerts[alertname]
        if not alerts:
            del table[key]


@dataclass(frozen=True)
class ModelAlert:
    """A firing alert about a model (labels ``namespace`` and ``model``)."""

    namespace: str
    model: str
    alertname: str
    labels: dict[str, str]
    starts_at: str | None


def model_alerts(payload: dict[str, Any]) -> list[ModelAlert]:
    """The firing alerts of ``payload`` that name a namespace and a model."""
    found = []
    for alert in payload.get("alerts") or []:
        labels = {str(k): str(v) for k, v in (alert.get("labels") or {}).items()}
        if alert.get("status") != "firing" or not labels.get("namespace") \
                or not labels.get("model"):
            continue
        starts_at = alert.get("startsAt")
        found.append(ModelAlert(labels["namespace"], labels["model"],
                                labels.get("alertname", "alert"), labels,
                                str(starts_at) if starts_at else None))
    return found


#: Called with the Deployments (namespace, name) an accepted post touched.
OnAlerts = Callable[[set[tuple[str, str]]], None]
#: Called with the firing model alerts of an accepted post (when there are any).
OnModelAlerts = Callable[[list[ModelAlert]], None]


def make_app(
    table: dict[tuple[str, str], dict[str, AlertState]], token_file: str | None,
    on_alerts: OnAlerts, on_model_alerts: OnModelAlerts | None = None,
) -> web.Application:
    """The receiver's one route: authenticate, validate, fold into ``table``, report."""

    async def receive(request: web.Request) -> web.Response:
        if not authorized(request.headers.get("Authorization"), token_file):
            return web.json_response({"error": "a valid bearer token is required"},
                                     status=401, headers=CHALLENGE)
        try:
            payload = await request.json()  # over MAX_BODY_BYTES: aiohttp answers 413
        except ValueError:
            return web.json_response({"error": "the body must be Alertmanager's JSON"},
                                     status=400)
        problem = malformed(payload)
        if problem:
            return web.json_response({"error": problem}, status=400)
        touched = record(table, payload)
        on_alerts(touched)
        models = model_alerts(payload)
        if models and on_model_alerts is not None:
            on_model_alerts(models)
        return web.json_response({"deployments": len(touched), "models": len(models)})

    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app.router.add_post("/alerts", receive)
    return app
