"""Alerts roll canaries back and start retraining: serve the Alertmanager webhook.

The HTTP side (authentication, payload format) is ``receivers.alertmanager``; this
module only starts it with the operator (``main`` calls :func:`start_receiver` once
the context exists) and turns accepted posts into wake-ups of the Deployments they
name, and firing model alerts into retrain triggers (``handlers.retrain``) for the
TrainingJobs that list them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import kopf
from aiohttp import web

from mlops_operator.handlers.context import OperatorContext, context_of
from mlops_operator.handlers.retrain import queue_model_alerts
from mlops_operator.receivers.alertmanager import make_app

log = logging.getLogger(__name__)


def wake_touched(ctx: OperatorContext, touched: set[tuple[str, str]]) -> None:
    """One log line and one wake-up per Deployment an alert update names."""
    for namespace, name in sorted(touched):
        log.info("%s/%s: alert update received", namespace, name)
        ctx.wakeups.wake((namespace, name))


async def start_receiver(ctx: OperatorContext,
                         retrain_targets: Mapping[Any, Iterable[str]]) -> None:
    """Serve /alerts; ``retrain_targets`` is the live index of TrainingJobs by alert."""
    settings = ctx.settings
    token_file = settings.alert_webhook_token_file
    if not token_file or not Path(token_file).is_file():
        log.warning("no alert webhook token (MLOPS_ALERT_WEBHOOK_TOKEN_FILE=%s): every "
                    "post to /alerts is refused with 401", token_file or "")
    app = make_app(ctx.alerts, token_file, lambda touched: wake_touched(ctx, touched),
                   lambda alerts: queue_model_alerts(ctx, retrain_targets, alerts))
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, settings.alert_webhook_host, settings.alert_webhook_port).start()
    ctx.cleanups.append(runner.cleanup)
    log.info(
        "Alertmanager webhook on http://%s:%d/alerts",
        settings.alert_webhook_host,
        settings.alert_webhook_port,
    )


@kopf.on.cleanup()
async def stop_receiver(memo: kopf.Memo, **_: Any) -> None:
    """Stop what startup started (the receiver), last first."""
    cleanups = context_of(memo).cleanups
    while cleanups:
        await cleanups.pop()()
