"""Alertmanager webhook receiver: a firing alert labelled with a Deployment rolls it back.

Alertmanager posts ``{"alerts": [{"status", "labels", "annotations", "startsAt"}]}``.
Alerts carrying ``namespace`` and ``deployment`` labels are kept in memory
(Alertmanager re-sends them while they fire) and the Deployment is reconciled
at once: the receiver wakes its reconcile loop.
"""

from __future__ import annotations

import logging
from typing import Any

import kopf
from aiohttp import web

from mlops_operator.config import Settings
from mlops_operator.handlers import ALERTS_KEY, WAKEUPS_KEY, init_memo

log = logging.getLogger(__name__)


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


@kopf.on.startup()
async def start_receiver(memo: kopf.Memo, **_: Any) -> None:
    settings = Settings.from_env()  # startup handlers may run before main.configure
    init_memo(memo)

    async def receive(request: web.Request) -> web.Response:
        try:
            payload = await request.json()
        except ValueError:
            return web.json_response({"error": "body must be Alertmanager's JSON"}, status=400)
        touched = record(memo[ALERTS_KEY], payload)
        for namespace, name in touched:
            log.info("%s/%s: alert update received", namespace, name)
            memo[WAKEUPS_KEY].wake((namespace, name))
        return web.json_response({"deployments": len(touched)})

    app = web.Application()
    app.router.add_post("/alerts", receive)
    runner = web.AppRunner(app)
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
