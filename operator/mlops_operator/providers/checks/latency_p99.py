"""latencyP99: the 99th percentile of the target's inference latency, in seconds."""

from __future__ import annotations

from mlops_telemetry import REQUEST_DURATION

from mlops_operator.domain.checks import Builtin, CheckSpec
from mlops_operator.ports import CanaryTarget
from mlops_operator.providers.checks.base import CheckKind, selector, worst


def query(check: CheckSpec, target: CanaryTarget) -> str:
    """p99 over every pod of the track, from the duration histogram's buckets."""
    return (
        f"histogram_quantile(0.99, sum by (le) "
        f"(rate({REQUEST_DURATION}_bucket{selector(target)}[{check.window}])))"
    )


KIND = CheckKind(Builtin.LATENCY_P99, query, lambda check, vector, _: worst(check, vector))
