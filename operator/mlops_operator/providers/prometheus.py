"""Prometheus as a metric provider: each check's observer asks one instant query;
the answer (a vector of (labels, value)) is reduced to one number by the same observer."""

from __future__ import annotations

import math
from collections.abc import Generator
from pathlib import Path

import httpx

from mlops_operator.domain.checks import CheckSpec
from mlops_operator.ports import CanaryTarget, CheckUnavailable, ProviderError, Reading
from mlops_operator.providers.checks import kind_of


class BearerTokenFile(httpx.Auth):
    """``Authorization: Bearer`` with the token read from a file on every request, so a
    rotated Secret or projected ServiceAccount token is picked up without a restart."""

    def __init__(self, path: str) -> None:
        self.path = path

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response]:
        try:
            token = Path(self.path).read_text().strip()
        except OSError as error:
            raise ProviderError(f"Prometheus token file {self.path}: {error}") from error
        request.headers["Authorization"] = f"Bearer {token}"
        yield request


class PrometheusClient:
    """Instant queries against Prometheus' HTTP API, optionally with a bearer token and a
    CA bundle for an https:// URL (a Prometheus behind kube-rbac-proxy or an ingress)."""

    def __init__(self, url: str, timeout: float = 3.0, *, token_file: str | None = None,
                 ca_file: str | None = None) -> None:
        self.url = url.rstrip("/")
        self.client = httpx.Client(timeout=timeout, verify=ca_file or True,
                                   auth=BearerTokenFile(token_file) if token_file else None)

    def query(self, promql: str) -> list[tuple[dict[str, str], float]]:
        """One instant query; NaN samples are dropped (no data)."""
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
            if body.get("errorType") == "bad_data":  # the query itself: waiting won't fix it
                raise CheckUnavailable(f"Prometheus refused the query {promql!r}: "
                                       f"{body.get('error')}")
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


class PrometheusObserver:
    """The :class:`~mlops_operator.ports.MetricObserver` for Prometheus."""

    def __init__(self, url: str, timeout: float = 3.0, *, token_file: str | None = None,
                 ca_file: str | None = None) -> None:
        self.client = PrometheusClient(url, timeout, token_file=token_file, ca_file=ca_file)

    def observe(self, check: CheckSpec, target: CanaryTarget) -> float | Reading | None:
        kind = kind_of(check)
        return kind.value(check, self.client.query(kind.query(check, target)), target)
