"""The operator's own Prometheus metrics, in a registry of their own.

Served on ``/metrics`` by :func:`serve` (port ``MLOPS_METRICS_PORT``) and scraped
by the monitoring manifests' ``mlops-operator`` job. A platform team reads these
to admit the operator to a shared cluster: how often it reconciles, how long a
reconcile takes, which API calls it makes, and how rollouts end.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

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
