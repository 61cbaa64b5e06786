"""errorRate: the share of the target's inference requests answered with a 5xx."""

from __future__ import annotations

from mlops_telemetry import REQUESTS_TOTAL, STATUS_LABEL

from mlops_operator.domain.checks import Builtin, CheckSpec
from mlops_operator.ports import CanaryTarget
from mlops_operator.providers.checks.base import CheckKind, selector, worst


def query(check: CheckSpec, target: CanaryTarget) -> str:
    """5xx rate over all requests; no 5xx at all is 0, no requests at all is no data."""
    errors = selector(target, f'{STATUS_LABEL}=~"5.."')
    window = check.window
    return (
        f"(sum(rate({REQUESTS_TOTAL}{errors}[{window}])) or vector(0))"
        f" / sum(rate({REQUESTS_TOTAL}{selector(target)}[{window}]))"
    )


KIND = CheckKind(Builtin.ERROR_RATE, query, lambda check, vector, _: worst(check, vector))

