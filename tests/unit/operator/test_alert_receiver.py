"""The Alertmanager webhook over real HTTP on loopback: only a valid token changes anything."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from mlops_operator.handlers.alerts import wake_touched
from mlops_operator.receivers.alertmanager import (
    MAX_BODY_BYTES,
    AlertState,
    authorized,
    make_app,
    record,
)

from tests.unit.operator.fake_kube import FakeKube, fake_context

TOKEN = "s3cret-token-0123456789"
FIRING = {"alerts": [{"status": "firing", "startsAt": "2026-11-24T10:00:00Z",
                      "labels": {"alertname": "CanaryLatencyHigh", "namespace": "ns",
                                 "deployment": "iris"},
                      "annotations": {"summary": "p99 above 1s"}}]}


def post(token_file: Path | None, body: bytes, headers: dict[str, str]) -> tuple[int, Any, dict]:
    """POST ``body`` to a fresh receiver; returns (status, JSON answer, alert table).

    Every accepted post must report the Deployments it touched (checked here).
    """
    async def run() -> tuple[int, Any, dict]:
        table: dict[tuple[str, str], dict[str, Any]] = {}
        reported: list[set[tuple[str, str]]] = []
        app = make_app(table, str(token_file) if token_file else None, reported.append)
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            response = await client.post("/alerts", data=body, headers=headers)
            answer = (await response.json() if response.content_type == "application/json"
                      else await response.text())
        assert reported == ([set(table)] if response.status == 200 else [])
        return response.status, answer, table

    return asyncio.run(run())


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n")
    return path


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


def test_the_right_token_records_the_alert(token_file: Path) -> None:
    status, answer, table = post(token_file, json.dumps(FIRING).encode(), bearer(TOKEN))
    assert (status, answer) == (200, {"deployments": 1, "models": 0})
    state = table[("ns", "iris")]["CanaryLatencyHigh"]
    assert (state.message, state.starts_at, state.resolved) == (
        "p99 above 1s", "2026-11-24T10:00:00Z", False)


@pytest.mark.parametrize(
    ("case", "headers", "configured"),
    [
        ("no header", {"Content-Type": "application/json"}, True),
        ("wrong token", bearer("guess"), True),
        ("token as prefix", bearer(TOKEN[:-1]), True),
        ("basic scheme", {"Authorization": f"Basic {TOKEN}"}, True),
        ("no token configured on the operator", bearer(TOKEN), False),
    ],
)
def test_without_the_token_nothing_changes(token_file: Path, case: str, headers: dict,
                                           configured: bool) -> None:
    status, answer, table = post(token_file if configured else None,
                                 json.dumps(FIRING).encode(), headers)
    assert status == 401, case
    assert "token" in answer["error"]
    assert table == {}


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"{not json", "Alertmanager's JSON"),
        (b"[1, 2]", "JSON object"),
        (json.dumps({"alerts": "all"}).encode(), "alerts must be a list"),
        (json.dumps({"alerts": [{"labels": ["x"]}]}).encode(), "alerts[0].labels"),
    ],
)
def test_malformed_bodies_are_400_and_say_why(token_file: Path, body: bytes, error: str) -> None:
    status, answer, table = post(token_file, body, bearer(TOKEN))
    assert status == 400
    assert error in answer["error"]
    assert table == {}


def test_a_body_over_the_limit_is_413(token_file: Path) -> None:
    body = json.dumps({"alerts": [], "padding": "x" * MAX_BODY_BYTES}).encode()
    status, _, table = post(token_file, body, bearer(TOKEN))
    assert status == 413
    assert table == {}


def test_the_token_file_is_read_per_request_so_a_rotation_applies(token_file: Path) -> None:
    assert authorized(f"Bearer {TOKEN}", str(token_file))
    token_file.write_text("rotated\n")
    assert not authorized(f"Bearer {TOKEN}", str(token_file))
    assert authorized("Bearer rotated", str(token_file))
    assert not authorized("Bearer rotated", str(token_file.parent / "missing"))


def test_an_accepted_alert_wakes_the_deployment_it_names() -> None:
    async def run() -> tuple[bool, bool]:
        ctx = fake_context(FakeKube())
        named = ctx.wakeups.register(("ns", "iris"))
        other = ctx.wakeups.register(("ns", "other"))
        retraining = ctx.retrain_wakeups.register(("ns", "iris"))  # a TrainingJob's own loop
        wake_touched(ctx, {("ns", "iris"), ("ns", "gone")})  # "gone" has no loop: no error
        assert not retraining.is_set()
        return named.is_set(), other.is_set()

    assert asyncio.run(run()) == (True, False)


def test_a_resolution_is_remembered_for_an_hour_then_forgotten() -> None:
    table: dict[tuple[str, str], dict[str, AlertState]] = {}
    t0 = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
    record(table, FIRING, now=t0)
    resolved = json.loads(json.dumps(FIRING))
    resolved["alerts"][0]["status"] = "resolved"
    assert record(table, resolved, now=t0 + timedelta(minutes=1)) == {("ns", "iris")}
    state = table[("ns", "iris")]["CanaryLatencyHigh"]
    assert state.resolved and state.received_at == "2026-11-24T10:01:00Z"
    record(table, {"alerts": []}, now=t0 + timedelta(minutes=30))
    assert ("ns", "iris") in table
    record(table, {"alerts": []}, now=t0 + timedelta(hours=2))
    assert table == {}
