"""The audit trail end to end, without a cluster: the operator's sender delivering to a
real monitor process; records land as JSON lines per namespace and day, readable by the
standard library, kept across a monitor that was away and one that restarted."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from mlops_operator import metrics
from mlops_operator.outbox.audit import AuditTrail, MonitorTarget
from mlops_runtime.monitor.audit import AUDIT_FOLDER
from prometheus_client import generate_latest

from tests.unit.server.conftest import TOKEN, free_port, metric_value

AUTH = {"authorization": f"Bearer {TOKEN}"}


def _record(index: int, namespace: str = "ml", time_: str = "2026-12-04T10:00:00Z",
            **extra: Any) -> dict[str, Any]:
    return {"time": time_, "namespace": namespace, "kind": "Deployment", "name": "iris",
            "action": "WeightSet", "details": {"currentWeight": index}, **extra}


def _trail_lines(root: Path, namespace: str = "ml") -> list[dict[str, Any]]:
    files = sorted((root / AUDIT_FOLDER / f"namespace={namespace}").glob("date=*/*.jsonl"))
    return [json.loads(line) for path in files for line in path.read_text().splitlines()]


def _wait(condition: Any, what: str, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"never: {what}")
        time.sleep(0.05)
    return value


def _operator_metrics() -> str:
    return generate_latest(metrics.REGISTRY).decode()


def _trail(url: str, **options: Any) -> AuditTrail:
    return AuditTrail(lambda namespace: MonitorTarget(url, TOKEN), interval=0.05,
                      max_pause=0.2, **options)


def test_records_land_in_order_as_json_lines_per_namespace_and_day(
        tmp_path: Path, start_monitor: Any) -> None:
    with start_monitor() as monitor:
        trail = _trail(monitor.url)
        trail.start()
        try:
            for index in range(30):
                trail.record(_record(index))
            trail.record(_record(99, time_="2026-12-05T00:30:00+02:00"))  # Dec 4 in UTC
            trail.record(_record(7, namespace="other"))
            trail.record({"action": "no namespace: nowhere to go"})
            root = tmp_path / "log"
            lines = _wait(lambda: len(_trail_lines(root)) == 31 and _trail_lines(root),
                          "31 records in the ml trail")
        finally:
            trail.stop()
    assert [line["details"]["currentWeight"] for line in lines] == [*range(30), 99]
    days = {p.parent.name for p in (root / AUDIT_FOLDER / "namespace=ml").glob("*/*.jsonl")}
    assert days == {"date=2026-12-04"}
    assert [line["details"] for line in _trail_lines(root, "other")] == [{"currentWeight": 7}]
    assert trail.pending("ml") == trail.pending("other") == 0


def test_a_monitor_that_is_away_gets_the_held_records_later_and_once(
        tmp_path: Path, start_monitor: Any) -> None:
    port = free_port()
    sent_before = metric_value(_operator_metrics(),
                               "mlops_operator_audit_records_total", outcome="sent")
    trail = _trail(f"http://127.0.0.1:{port}")
    try:
        for index in range(5):
            trail.record(_record(index))
        trail.deliver(force=True)  # against a closed port, twice: the records stay
        trail.deliver(force=True)
        assert trail.pending("ml") == 5
        with start_monitor(port=port):
            trail.start()
            _wait(lambda: trail.pending("ml") == 0, "the held records delivered")
            trail.record(_record(5))
            _wait(lambda: trail.pending("ml") == 0, "one more delivered")
        # A restarted monitor wrote what it acknowledged and keeps it.
        with start_monitor(port=port):
            lines = _wait(lambda: len(_trail_lines(tmp_path / "log")) == 6
                          and _trail_lines(tmp_path / "log"), "six records")
    finally:
        trail.stop()
    assert [line["details"]["currentWeight"] for line in lines] == list(range(6))
    sent = metric_value(_operator_metrics(), "mlops_operator_audit_records_total",
                        outcome="sent")
    assert sent - sent_before == 6


def test_a_full_queue_drops_the_oldest_and_counts_them() -> None:
    trail = AuditTrail(lambda namespace: None, max_pending=3)
    dropped = metric_value(_operator_metrics(),
                           "mlops_operator_audit_records_total", outcome="dropped")
    for index in range(5):
        trail.record(_record(index))
    trail.deliver(force=True)  # no monitor: kept
    assert trail.pending("ml") == 3
    assert metric_value(_operator_metrics(), "mlops_operator_audit_records_total",
                        outcome="dropped") - dropped == 2
    trail.stop()


@pytest.mark.parametrize(("body", "error"), [
    (b"not json\n", "line 1: not JSON"),
    (b'[1, 2]\n', "line 1: a record is a JSON object"),
    (json.dumps(_record(1) | {"kind": ""}).encode(), "line 1: 'kind' must be a non-empty"),
    (json.dumps(_record(1)).encode() + b"\n" + json.dumps(_record(2) | {"time": "noon"})
     .encode(), "line 2: 'time' is not RFC 3339"),
    (json.dumps(_record(1, namespace="../etc")).encode(), "'namespace' is not a namespace"),
    (b"\n\n", "no records"),
])
def test_bad_audit_bodies_are_refused_naming_the_line_and_field(
        tmp_path: Path, start_monitor: Any, body: bytes, error: str) -> None:
    with start_monitor() as monitor:
        answer = httpx.post(f"{monitor.url}/v1/audit", content=body, headers=AUTH)
        unauthorized = httpx.post(f"{monitor.url}/v1/audit", content=body)
    assert answer.status_code == 400 and error in answer.json()["error"], answer.text
    assert unauthorized.status_code == 401
    assert not (tmp_path / "log" / AUDIT_FOLDER).exists()
