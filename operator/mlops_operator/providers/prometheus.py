"""Prometheus as a metric provider: one instant query -> a vector of (labels, value)."""

from __future__ import annotations

import math

import httpx

from mlops_operator.ports import ProviderError


class PrometheusProvider:
    """Instant queries against Prometheus' HTTP API."""

    def __init__(self, url: str, timeout: float = 3.0) -> None:
        self.url = url.rstrip("/")
        self.client = httpx.Client(timeout=timeout)

    def query(self, promql: str) -> list[tuple[dict[str, str], float]]:
        try:
            response = self.client.get(f"{self.url}/api/v1/query", params={"query": promql})
        except httpx.HTTPError as error:
            raise ProviderError(f"Prometheus at {self.url} unreachable: {error}") from error
        try:
            body = response.json()
        except ValueError as error:
            raise ProviderError(
                f"Prometheus answered HTTP {response.status_code} without JSON"
            ) from error
        if body.get("status") != "success":
            raise ProviderError(f"Prometheus query failed: {body.get('error', body)}")
        data = body.get("data") or {}
        if data.get("resultType") == "scalar":
            value = float(data["result"][1])
            return [] if math.isnan(value) else [({}, value)]
        result = []
        for sample in data.get("result") or []:
            value = float(sample["value"][1])
            if not math.isnan(value):
                result.append((dict(sample.get("metric") or {}), value))
        return result
