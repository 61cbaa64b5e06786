"""The operator's own Prometheus metrics, in a registry of their own.

Served on ``/metrics`` by :func:`serve` (port ``MLOPS_METRICS_PORT``) and scraped
by the monitoring manifests' ``mlops-operator`` job. A platform team reads these
to admit the operator to a shared cluster: how often it reconciles, how long a
reconcile takes, which API calls it makes, and how rollouts end.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from mlops_operator.domain.durations import as_datetime

REGISTRY = CollectorRegistry(auto_describe=True)

RECONCILES = Counter(
    "mlops_operator_reconciles_total",
    "Reconciles run, by resource kind and result (ok, error).",
    ["kind", "result"],
    registry=REGISTRY,
)
RECONCILE_SECONDS = Histogram(
    "mlops_operator_reconcile_duration_seconds",
    "Time one reconcile took, including its API calls and metric queries.",
    ["kind"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
    registry=REGISTRY,
)
API_REQUESTS = Counter(
    "mlops_operator_api_requests_total",
    "Requests the operator's handlers sent to the Kubernetes API server, by verb "
    "(watches are kopf's and are not counted here).",
    ["verb"],
    registry=REGISTRY,
)
ROLLOUTS = Counter(
    "mlops_operator_rollouts_total",
    "Finished canary rollouts, by outcome (Promoted, RolledBack, Abandoned).",
    ["outcome"],
    registry=REGISTRY,
)
ROLLBACK_SECONDS = Histogram(
    "mlops_operator_rollback_duration_seconds",
    "From the start of a canary to its rollback decision.",
    buckets=(1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800),
    registry=REGISTRY,
)
AUDIT_RECORDS = Counter(
    "mlops_operator_audit_records_total",
    "Audit records by outcome: sent (the namespace's monitor acknowledged them), dropped "
    "(its queue was full while the monitor was away), refused (the monitor said 400).",
    ["outcome"],
    registry=REGISTRY,
)
AUDIT_PENDING = Gauge(
    "mlops_operator_audit_pending",
    "Audit records waiting for their namespace's monitor.",
    registry=REGISTRY,
)
NOTIFICATIONS = Counter(
    "mlops_operator_notifications_total",
    "Notifications (CloudEvents to spec.notifications) by outcome: sent, dropped (the "
    "queue was full while the receiver was away), refused (a 4xx).",
    ["outcome"],
    registry=REGISTRY,
)
NOTIFICATIONS_PENDING = Gauge(
    "mlops_operator_notifications_pending",
    "Notifications waiting for their receiver.",
    registry=REGISTRY,
)


def count_api_request(verb: str) -> None:
    """One request to the API server (get, list, create, patch, apply, delete)."""
    API_REQUESTS.labels(verb=verb).inc()


@contextmanager
def timed_reconcile(kind: str) -> Iterator[None]:
    """Count one reconcile of ``kind`` and observe its duration; errors are re-raised."""
    started = time.perf_counter()
    try:
        yield
    except BaseException:
        RECONCILES.labels(kind=kind, result="error").inc()
        raise
    else:
        RECONCILES.labels(kind=kind, result="ok").inc()
    finally:
        RECONCILE_SECONDS.labels(kind=kind).observe(time.perf_counter() - started)


def serve(port: int, host: str = "0.0.0.0") -> None:
    """Serve ``/metrics`` from a background thread (no-op for port 0)."""
    if port:
        start_http_server(port, addr=host, registry=REGISTRY)


ROLLOUT_INFO = Gauge(
    "mlops_operator_rollout_info",
    "1 for each Deployment, labelled with its phase and versions (like Argo Rollouts' "
    "rollout_info): alert on a phase that lasts, join with the other rollout series.",
    ["namespace", "deployment", "phase", "stable_version", "canary_version"],
    registry=REGISTRY,
)
ROLLOUT_WEIGHT = Gauge(
    "mlops_operator_rollout_weight",
    "The share of traffic (%) the canary really gets.",
    ["namespace", "deployment"], registry=REGISTRY,
)
ROLLOUT_STEP = Gauge(
    "mlops_operator_rollout_step",
    "The canary's current step index (-1 without a canary).",
    ["namespace", "deployment"], registry=REGISTRY,
)
ROLLOUT_PHASE_SINCE = Gauge(
    "mlops_operator_rollout_phase_start_timestamp_seconds",
    "When the Deployment entered its phase (time in phase: time() minus this); on a "
    "restarted operator's first look, its newest condition transition.",
    ["namespace", "deployment"], registry=REGISTRY,
)
ROLLOUT_CHECK_VALUE = Gauge(
    "mlops_operator_rollout_check_value",
    "The last value each check of the canary's latest analysis measured.",
    ["namespace", "deployment", "check"], registry=REGISTRY,
)


class RolloutGauges:
    """The per-Deployment series, kept to what each Deployment's status says now: a label
    set that changed (a new phase, another check) is removed, never left behind."""

    def __init__(self) -> None:
        self._info: dict[tuple[str, str], tuple[str, str, str]] = {}
        self._checks: dict[tuple[str, str], set[str]] = {}

    def update(self, namespace: str, name: str, status: Mapping[str, Any]) -> None:
        key = (namespace, name)
        info = (str(status.get("phase") or ""), str(status.get("stableVersion") or ""),
                str(status.get("canaryVersion") or ""))
        previous = self._info.get(key)
        if previous != info:
            if previous is not None:
                ROLLOUT_INFO.remove(*key, *previous)
            ROLLOUT_INFO.labels(*key, *info).set(1)
            if previous is None or previous[0] != info[0]:
                ROLLOUT_PHASE_SINCE.labels(*key).set(
                    time.time() if previous is not None else _last_transition(status))
            self._info[key] = info
        ROLLOUT_WEIGHT.labels(*key).set(float(status.get("effectiveWeight") or 0))
        step = status.get("currentStepIndex")
        ROLLOUT_STEP.labels(*key).set(-1 if step is None or not info[2] else int(step))
        checks = {c["name"]: c.get("lastValue") for c in
                  (status.get("lastAnalysis") or {}).get("checks") or () if c.get("name")}
        for gone in self._checks.get(key, set()) - set(checks):
            ROLLOUT_CHECK_VALUE.remove(*key, gone)
        for check, value in checks.items():
            if isinstance(value, int | float):
                ROLLOUT_CHECK_VALUE.labels(*key, check).set(float(value))
        self._checks[key] = set(checks)

    def forget(self, namespace: str, name: str) -> None:
        """The Deployment is gone: so are its series."""
        key = (namespace, name)
        info = self._info.pop(key, None)
        if info is not None:
            ROLLOUT_INFO.remove(*key, *info)
        for gauge in (ROLLOUT_WEIGHT, ROLLOUT_STEP, ROLLOUT_PHASE_SINCE):
            with contextlib.suppress(KeyError):
                gauge.remove(*key)
        for check in self._checks.pop(key, set()):
            with contextlib.suppress(KeyError):
                ROLLOUT_CHECK_VALUE.remove(*key, check)


def _last_transition(status: Mapping[str, Any]) -> float:
    times = []
    for condition in status.get("conditions") or ():
        with contextlib.suppress(ValueError, TypeError, KeyError):
            times.append(as_datetime(condition["lastTransitionTime"]).timestamp())
    return max(times, default=time.time())


#: The one set of per-Deployment series this process keeps.
ROLLOUTS_NOW = RolloutGauges()
