"""Operator entry: ``kopf run -m mlops_operator.main`` (or ``mlops-operator``).

Importing this module registers every handler with kopf.
"""

from __future__ import annotations

import logging

import kopf

from mlops_operator import metrics
from mlops_operator.config import Settings
from mlops_operator.handlers import (  # noqa: F401 - importing registers the handlers
    KUBE_KEY,
    OBSERVER_KEY,
    SETTINGS_KEY,
    alerts,
    deployment,
    init_memo,
    modelversion,
    retrain,
    trainingjob,
    watches,
)
from mlops_operator.k8s.api import Kube
from mlops_operator.providers import observer_for


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: object) -> None:
    """Read settings once; keep kopf's own bookkeeping in annotations; serve /metrics."""
    memo[SETTINGS_KEY] = Settings.from_env()
    init_memo(memo)
    memo[KUBE_KEY] = Kube()
    memo[OBSERVER_KEY] = observer_for(
        memo[SETTINGS_KEY].metric_provider, memo[SETTINGS_KEY].prometheus_url)
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
    metrics.serve(memo[SETTINGS_KEY].metrics_port, memo[SETTINGS_KEY].alert_webhook_host)
