"""Alertmanager webhook receiver: a firing alert labelled with a Deployment rolls it back.

Alertmanager posts ``{"alerts": [{"status", "labels", "annotations", "startsAt"}]}``
with ``Authorization: Bearer <token>`` (its ``http_config.authorization``); the
token is read from ``MLOPS_ALERT_WEBHOOK_TOKEN_FILE`` (a mounted Secret) on each
request, so a rotated Secret takes effect without a restart. Without a valid
token the answer is 401 and nothing changes; a body over ``MAX_BODY_BYTES`` is
413, anything that is not Alertmanager's JSON 400. Alerts carrying
``namespace`` and ``deployment`` labels are kept in memory (Alertmanager
re-sends them while they fire) and wake that Deployment's reconcile loop.
"""

from __future__ import annotations

import hmac
import logging
from pathlib import Path
from typing import Any

import kopf
from aiohttp import web

from mlops_operator.config import Settings
from mlops_operator.handlers import ALERTS_KEY, WAKEUPS_KEY, init_memo

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


def record(alerts_by_deployment: dict, payload: dict[str, Any]) -> set[tuple[str, str]]:
    """Fold one webhook payload into the firing-alert table; return the Deployments touched."""
    touched = set()
    for alert in payload.get("alerts") or []:
        labels = alert.get("labels") or {}
        namespace, name = labels.get("namespace"), labels.get("deployment")
        if not namespace or not name:
            continue
        key = (namespace, name)
        firing = alerts_by_deployment.setdefault(key, {})
        alertname = labels.get("alertname", "alert")
        annotations = alert.get("annotations") or {}
        message = annotations.get("summary") or annotations.get("description") or alertname
        if alert.get("status") == "firing":
            firing[alertname] = (message, alert.get("startsAt"))
        else:
            firing.pop(alertname, None)
        touched.add(key)
    return touched


def make_app(memo: kopf.Memo, token_file: str | None) -> web.Application:
    """The receiver's one route: authenticate, validate, record, wake."""

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
        touched = record(memo[ALERTS_KEY], payload)
        for namespace, name in touched:
            log.info("%s/%s: alert update received", namespace, name)
            memo[WAKEUPS_KEY].wake((namespace, name))
        return web.json_response({"deployments": len(touched)})

    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app.router.add_post("/alerts", receive)
    return app


@kopf.on.startup()
async def start_receiver(memo: kopf.Memo, **_: Any) -> None:
    settings = Settings.from_env()  # startup handlers may run before main.configure
    init_memo(memo)
    token_file = settings.alert_webhook_token_file
    if not token_file or not Path(token_file).is_file():
        log.warning("no alert webhook token (MLOPS_ALERT_WEBHOOK_TOKEN_FILE=%s): every "
                    "post to /alerts is refused with 401", token_file or "")
    runner = web.AppRunner(make_app(memo, token_file))
    await runner.setup()
    await web.TCPSite(runner, settings.alert_webhook_host, settings.alert_webhook_port).start()
    memo["mlops_alert_runner"] = runner
    log.info(
        "Alertmanager webhook on http://%s:%d/alerts",
        settings.alert_webhook_host,
        settings.alert_webhook_port,
    )


@kopf.on.cleanup()
async def stop_receiver(memo: kopf.Memo, **_: Any) -> None:
    runner = memo.get("mlops_alert_runner")
    if runner is not None:
        await runner.cleanup()
