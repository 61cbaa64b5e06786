"""Operator entry: ``kopf run -m mlops_operator.main`` (or ``mlops-operator``).

Importing this module registers every handler with kopf. Startup builds the one
:class:`~mlops_operator.handlers.context.OperatorContext` the handlers share; kopf
runs startup handlers in the order they are registered, so the alert receiver,
registered after ``configure``, finds it.
"""

from __future__ import annotations

import logging
from typing import Any

import kopf

from mlops_operator import metrics
from mlops_operator.config import Settings
from mlops_operator.handlers import (  # noqa: F401 - importing registers the handlers
    alerts,
    deployment,
    modelcard,
    modelversion,
    retrain,
    trainingjob,
    watches,
)
from mlops_operator.handlers.context import OperatorContext, context_of, install
from mlops_operator.k8s.api import Kube
from mlops_operator.providers import observer_for


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: object) -> None:
    """Read settings once; keep kopf's own bookkeeping in annotations; serve /metrics."""
    options = Settings.from_env()
    ctx = install(memo, OperatorContext(
        settings=options, kube=Kube(),
        observer=observer_for(options.metric_provider, options.prometheus_url)))
    settings.persistence.finalizer = "mlops.dev/finalizer"
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix="mlops.dev")
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix="mlops.dev", key="last-handled-configuration"
    )
    if not logging.getLogger().isEnabledFor(logging.DEBUG):  # not --verbose
        # One line (and Event) per decision comes from the handlers; kopf's own
        # "Handler ... succeeded" notes would add a log line and an Event per handler run.
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    settings.watching.server_timeout = 60
    metrics.serve(ctx.settings.metrics_port, ctx.settings.alert_webhook_host)


@kopf.on.startup()
async def start_alert_receiver(memo: kopf.Memo, retrain_targets: kopf.Index,
                               **_: Any) -> None:
    """The Alertmanager webhook; after ``configure``, whose context it needs."""
    await alerts.start_receiver(context_of(memo), retrain_targets)
