"""Metric providers by name: each gives the handlers a MetricObserver."""

from __future__ import annotations

from mlops_operator.ports import MetricObserver
from mlops_operator.providers.prometheus import PrometheusObserver

PROVIDERS: dict[str, type] = {"prometheus": PrometheusObserver}


def observer_for(name: str, url: str, **connection: str | None) -> MetricObserver:
    """The observer of provider ``name`` (``connection``: its token_file and ca_file);
    an unknown name is a ValueError naming the known."""
    try:
        return PROVIDERS[name](url, **connection)
    except KeyError:
        raise ValueError(
            f"unknown metric provider {name!r}; known: {', '.join(PROVIDERS)}"
        ) from None
