"""Operator entry: ``kopf run -m mlops_operator.main`` (or ``mlops-operator``).

Importing this module registers every handler with kopf. Startup builds the one
:class:`~mlops_operator.handlers.context.OperatorContext` the handlers share; kopf
runs startup handlers in the order they are registered, so the alert receiver,
registered after ``configure``, finds it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

import kopf

from mlops_operator import metrics
from mlops_operator.config import Settings
from mlops_operator.domain.audit import decision_record
from mlops_operator.handlers import (  # noqa: F401 - importing registers the handlers
    alerts,
    audit,
    deployment,
    modelcard,
    modelversion,
    retrain,
    trainingjob,
    watches,
)
from mlops_operator.handlers.context import OperatorContext, context_of, install
from mlops_operator.k8s.api import Kube
from mlops_operator.outbox.audit import AuditTrail, MonitorTarget
from mlops_operator.outbox.notify import Notifier
from mlops_operator.providers import observer_for


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: object) -> None:
    """Read settings once; keep kopf's own bookkeeping in annotations; serve /metrics."""
    options = Settings.from_env()
    kube = Kube()
    trail = _audit_trail(options, kube)
    ctx = install(memo, OperatorContext(
        settings=options, kube=kube,
        observer=observer_for(options.metric_provider, options.prometheus_url,
                              token_file=options.prometheus_token_file,
                              ca_file=options.prometheus_ca_file),
        **({"audit": trail.record} if trail else {})))
    if ctx.kube is kube:  # not a retried startup's spare
        _start_outboxes(ctx, kube, trail)
    elif trail is not None:
        trail.stop()  # never started: only its HTTP client to close
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


def _start_outboxes(ctx: OperatorContext, kube: Kube, trail: AuditTrail | None) -> None:
    """Every Event the operator posts goes to the audit trail and, for a Deployment with
    ``spec.notifications``, to its webhooks; both are stopped (and drained) at shutdown."""
    notifier = Notifier(kube.secret_value)

    def on_event(obj: dict[str, Any], type_: str, reason: str, message: str,
                 details: Mapping[str, Any] | None, at: str) -> None:
        record = decision_record(obj, type_, reason, message, at, details)
        if trail is not None:
            trail.record(record)
        notifier.notify(obj, record)
    kube.on_event = on_event
    for outbox in (o for o in (trail, notifier) if o is not None):
        outbox.start()

        async def stop(outbox: AuditTrail | Notifier = outbox) -> None:
            await asyncio.to_thread(outbox.stop)
        ctx.cleanups.append(stop)


def _audit_trail(options: Settings, kube: Kube) -> AuditTrail | None:
    """The trail to each namespace's monitor (None when ``MLOPS_AUDIT_SERVICE`` is "")."""
    if not options.audit_service:
        return None

    def locate(namespace: str) -> MonitorTarget | None:
        url = kube.service_address(namespace, options.audit_service, "http")
        token = url and kube.secret_value(namespace, options.audit_token_secret, "token")
        return MonitorTarget(url, token) if url and token else None
    return AuditTrail(locate)


@kopf.on.startup()
async def start_alert_receiver(memo: kopf.Memo, retrain_targets: kopf.Index,
                               **_: Any) -> None:
    """The Alertmanager webhook; after ``configure``, whose context it needs."""
    await alerts.start_receiver(context_of(memo), retrain_targets)
