"""Thin kopf handlers: read the resource, ask the domain layer, apply through adapters."""

from __future__ import annotations

import datetime as dt
from collections.abc import MutableMapping
from typing import Any

from mlops_operator.domain.durations import to_rfc3339
from mlops_operator.handlers.wakeups import Wakeups

#: kopf memo keys shared by the handlers.
SETTINGS_KEY = "mlops_settings"
ALERTS_KEY = "mlops_alerts"
WAKEUPS_KEY = "mlops_wakeups"
KUBE_KEY = "mlops_kube"  # the KubernetesPort (k8s.api.Kube)
OBSERVER_KEY = "mlops_observer"  # the MetricObserver of the configured provider
#: The retrain loops of TrainingJobs (their own keys: a TrainingJob and a Deployment may
#: share a name) and the alert triggers waiting for them, by (namespace, name).
RETRAIN_WAKEUPS_KEY = "mlops_retrain_wakeups"
RETRAIN_PENDING_KEY = "mlops_retrain_pending"


def now() -> dt.datetime:
    """The handlers' clock: UTC, whole seconds (what Kubernetes writes)."""
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def stamp() -> str:
    """``now()`` as an RFC 3339 string for status fields."""
    return to_rfc3339(now())


def init_memo(memo: MutableMapping[str, Any]) -> None:
    """The state the handlers share: firing alerts, the loops' wake-ups, pending triggers.

    Called by every startup handler that needs it (kopf gives them no order).
    """
    memo.setdefault(ALERTS_KEY, {})
    memo.setdefault(WAKEUPS_KEY, Wakeups())
    memo.setdefault(RETRAIN_WAKEUPS_KEY, Wakeups())
    memo.setdefault(RETRAIN_PENDING_KEY, {})
