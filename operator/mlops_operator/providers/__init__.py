"""Metric providers by name."""

from __future__ import annotations

from mlops_operator.ports import MetricProvider
from mlops_operator.providers.prometheus import PrometheusProvider

PROVIDERS: dict[str, type] = {"prometheus": PrometheusProvider}


def provider_for(name: str, url: str) -> MetricProvider:
    try:
        return PROVIDERS[name](url)
    except KeyError:
        raise ValueError(
            f"unknown metric provider {name!r}; known: {', '.join(PROVIDERS)}"
        ) from None
