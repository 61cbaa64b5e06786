"""The bearer token for a Prometheus behind an authenticating proxy comes from a file,
read on every query: a rotated token is used at once, a missing one is a provider error
(the rollout pauses, naming the file) rather than an unauthenticated query."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from mlops_operator.config import Settings
from mlops_operator.ports import ProviderError
from mlops_operator.providers.prometheus import BearerTokenFile


def authorized(auth: BearerTokenFile) -> str:
    request = httpx.Request("GET", "https://prometheus.example:9091/api/v1/query")
    return next(auth.auth_flow(request)).headers["Authorization"]


def test_each_query_reads_the_current_token(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("first\n")
    auth = BearerTokenFile(str(token))
    assert authorized(auth) == "Bearer first"
    token.write_text("rotated")
    assert authorized(auth) == "Bearer rotated"


def test_a_missing_token_file_is_a_provider_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(ProviderError, match="token file .*/absent"):
        authorized(BearerTokenFile(str(tmp_path / "absent")))


def test_the_settings_read_the_token_and_ca_files() -> None:
    settings = Settings.from_env({"MLOPS_PROMETHEUS_TOKEN_FILE": "/var/run/token",
                                  "MLOPS_PROMETHEUS_CA_FILE": "/etc/ca.crt"})
    assert (settings.prometheus_token_file, settings.prometheus_ca_file) == (
        "/var/run/token", "/etc/ca.crt")
    assert Settings.from_env({}).prometheus_token_file is None
