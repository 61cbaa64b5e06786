"""The server's published contract, fuzzed: schemathesis reads /openapi.json from a real
server process on loopback and sends what the document allows and much it does not.

Every check schemathesis has runs (no 5xx, status codes, content types and response
bodies as documented, schema-invalid requests refused with a 4xx, 405s with Allow)
but one: ``positive_data_acceptance``. The Open Inference Protocol's schema is
generic, as KServe and MLServer publish it: a tensor's data must match its shape and
the model's features, which JSON Schema cannot say, so not every schema-valid body is
usable. On top, every 4xx body must be ``{"error": ...}`` saying what was wrong. The
route table is the single source of the document and of the routes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from mlops_runtime.server.routes import ROUTES
from schemathesis.checks import positive_data_acceptance
from schemathesis.generation import GenerationMode

from tests.unit.server.conftest import running_server, server_env


@pytest.fixture(scope="module")
def server_url(models: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    artifact = models.artifacts["iris_lr"]
    tmp = tmp_path_factory.mktemp("contract")
    args = ["--model-uri", artifact.uri, "--sha256", artifact.sha256, "--model-name", "iris",
            "--model-version", "3"]
    with running_server(args, server_env(tmp), tmp / "server.log") as server:
        yield server.url


@pytest.fixture(scope="module")
def published(server_url: str) -> Any:
    return schemathesis.openapi.from_url(f"{server_url}/openapi.json")


@pytest.mark.parametrize("mode", list(GenerationMode), ids=lambda m: m.value)
def test_every_documented_operation_keeps_its_contract(published: Any,
                                                       mode: GenerationMode) -> None:
    """Positive: bodies the document allows; negative: bodies it forbids (must be 4xx)."""
    operations = [result.ok() for result in published.get_all_operations()]
    assert len(operations) >= len(ROUTES) - 1  # schemathesis leaves the document itself out
    for operation in operations:
        if mode is GenerationMode.NEGATIVE and operation.method.upper() != "POST":
            continue  # only bodies can break the document (a path segment is any string)

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=40, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def keeps_contract(case: Any) -> None:
            response = case.call_and_validate(excluded_checks=[positive_data_acceptance])
            if 400 <= response.status_code < 500:
                error = response.json().get("error")
                assert isinstance(error, str) and error, response.text

        keeps_contract()


def test_every_route_is_documented_and_served(server_url: str) -> None:
    document = httpx.get(f"{server_url}/openapi.json").json()
    for route in ROUTES:
        assert route.method.lower() in document["paths"][route.path], route
        path = route.path.format(model="iris", version="3")
        answered = httpx.request(route.method, f"{server_url}{path}",
                                 json={"instances": [[5.1, 3.5, 1.4, 0.2]]}
                                 if route.method == "POST" else None)
        assert answered.status_code not in (404, 405), (route, answered.text)
