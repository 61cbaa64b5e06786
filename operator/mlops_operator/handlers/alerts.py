"""Alerts roll canaries back and start retraining: serve the Alertmanager webhook.

The HTTP side (authentication, payload format) is ``receivers.alertmanager``; this
module only starts it with the operator and turns accepted posts into wake-ups of
the Deployments they name, and firing model alerts into retrain triggers
(``handlers.retrain``) for the TrainingJobs that list them.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import kopf
from aiohttp import web

from mlops_operator.config import Settings
from mlops_operator.handlers import ALERTS_KEY, WAKEUPS_KEY, init_memo
from mlops_operator.handlers.retrain import queue_model_alerts
from mlops_operator.receivers.alertmanager import make_app

log = logging.getLogger(__name__)


def wake_touched(memo: kopf.Memo, touched: set[tuple[str, str]]) -> None:
    """One log line and one wake-up per Deployment an alert update names."""
    for namespace, name in sorted(touched):
        log.info("%s/%s: alert update received", namespace, name)
        memo[WAKEUPS_KEY].wake((namespace, name))


@kopf.on.startup()
async def start_receiver(memo: kopf.Memo, retrain_targets: kopf.Index, **_: Any) -> None:
    """Serve /alerts; ``retrain_targets`` is the live index of TrainingJobs by alert."""
    settings = Settings.from_env()  # startup handlers may run before main.configure
    init_memo(memo)
    token_file = settings.alert_webhook_token_file
    if not token_file or not Path(token_file).is_file():
        log.warning("no alert webhook token (MLOPS_ALERT_WEBHOOK_TOKEN_FILE=%s): every "
                    "post to /alerts is refused with 401", token_file or "")
    app = make_app(memo[ALERTS_KEY], token_file, lambda touched: wake_touched(memo, touched),
                   lambda alerts: queue_model_alerts(memo, retrain_targets, alerts))
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
