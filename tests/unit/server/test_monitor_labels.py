"""Feedback labels on a real monitor process fed by a real model server: labels join the
logged predictions by ID, live accuracy shows on /metrics, labels land as Parquet, and a
restarted monitor still joins (and still knows what was labelled)."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pyarrow.dataset as ds
import pytest
from mlops_runtime.monitor.labels import LABELS_FOLDER

from tests.unit.server.conftest import TOKEN, free_port, metric_value

AUTH = {"authorization": f"Bearer {TOKEN}"}
SERIES = {"namespace": "ml", "deployment": "iris-prod", "model": "iris", "version": "7",
          "track": "stable"}


def _predict(server: Any, rows: list[list[float]], ids: list[str]) -> list[Any]:
    answer = httpx.post(f"{server.url}/predict", json={"instances": rows, "ids": ids})
    assert answer.status_code == 200, answer.text
    return answer.json()["predictions"]


def _label(monitor: Any, labels: Any, **kwargs: Any) -> dict[str, Any]:
    answer = httpx.post(f"{monitor.url}/v1/labels", json=labels, headers=AUTH, **kwargs)
    assert answer.status_code == 202, answer.text
    return answer.json()


def _wait_for(monitor: Any, name: str, wanted: float, **labels: str) -> str:
    deadline = time.monotonic() + 20
    while True:
        text = httpx.get(f"{monitor.url}/metrics").text
        if metric_value(text, name, **labels) == pytest.approx(wanted):
            return text
        if time.monotonic() > deadline:
            raise AssertionError(f"{name}{labels} never {wanted}: {text[-3000:]}")
        time.sleep(0.05)


def test_labels_join_logged_predictions_into_live_accuracy_and_land_as_parquet(
        tmp_path: Path, start_monitor: Any, start_server: Any, models: Any) -> None:
    rows = models.iris_x[:40].tolist()
    ids = [f"order-{i}" for i in range(40)]
    with start_monitor() as monitor, start_server(monitor.url) as server:
        predictions = _predict(server, rows, ids)
        _wait_for(monitor, "mlops_model_logged_predictions_total", 40, **SERIES)
        # Ten labels disagree with the model; the rest say what it said.
        truth = [p if i >= 10 else (p + 1) % 3 for i, p in enumerate(predictions)]
        answer = _label(monitor, [{"id": i, "label": t} for i, t in zip(ids, truth, strict=True)])
        assert answer | {"errors": []} == {"accepted": 40, "joined": 40, "pending": 0,
                                           "duplicate": 0, "wrongType": 0, "invalid": 0,
                                           "errors": []}
        text = _wait_for(monitor, "mlops_model_live_accuracy", 0.75, **SERIES)
        assert metric_value(text, "mlops_model_labelled_predictions_total", outcome="wrong",
                            **SERIES) == 10
        assert metric_value(text, "mlops_model_label_coverage", **SERIES) == 1.0
        again = _label(monitor, {"labels": [{"id": ids[0], "label": truth[0]},
                                            {"id": "nobody", "label": 1},
                                            {"id": "x", "label": [1]}]})
        assert (again["duplicate"], again["pending"], again["invalid"]) == (1, 1, 1)
        assert again["errors"] == ["labels[2].label: expected a string, number or boolean, "
                                   "got [1]"]
    table = ds.dataset(tmp_path / "log" / LABELS_FOLDER, format="parquet",
                       partitioning="hive").to_table()
    assert table.num_rows == 42  # every accepted label, read without our code
    assert dict(zip(table["id"].to_pylist(), table["label"].to_pylist(), strict=True))[
        "order-3"] == str(truth[3])


def test_a_restarted_monitor_joins_new_labels_and_knows_the_old_ones(
        tmp_path: Path, start_monitor: Any, start_server: Any, models: Any) -> None:
    rows = models.iris_x[:6].tolist()
    ids = [f"r-{i}" for i in range(6)]
    port = free_port()
    with start_monitor(port=port) as monitor:
        with start_server(monitor.url) as server:
            predictions = _predict(server, rows, ids)
            server.stop()  # SIGTERM at once: what it had gathered is sent first
        _wait_for(monitor, "mlops_model_logged_predictions_total", 6, **SERIES)
        _label(monitor, [{"id": ids[0], "label": predictions[0]}])
        monitor.process.send_signal(signal.SIGKILL)  # acknowledged means on disk
        monitor.process.wait(timeout=10)
    with start_monitor(port=port) as restarted:
        answer = _label(restarted, [{"id": i, "label": p} for i, p in
                                    zip(ids, predictions, strict=True)])
        assert (answer["joined"], answer["duplicate"]) == (5, 1)
        _wait_for(restarted, "mlops_model_live_accuracy", 1.0, **SERIES)


def test_labels_need_the_token_and_json(start_monitor: Any) -> None:
    with start_monitor() as monitor:
        refused = httpx.post(f"{monitor.url}/v1/labels", json={"id": "a", "label": 1})
        assert refused.status_code == 401
        bad = httpx.post(f"{monitor.url}/v1/labels", content=b"{nope", headers=AUTH)
        assert bad.status_code == 400 and bad.json()["error"].startswith("body: not JSON")
        lines = httpx.post(f"{monitor.url}/v1/labels", headers=AUTH | {
            "content-type": "application/x-ndjson"},
            content=b'{"id":"a","label":1}\n{"id":"b","label":2}\n')
        assert lines.status_code == 202 and lines.json()["accepted"] == 2


def test_a_shadow_logs_the_live_requests_ids_so_one_label_judges_both(
        start_monitor: Any, start_server: Any, models: Any) -> None:
    rows = models.iris_x[:30].tolist()
    ids = [f"s-{i}" for i in range(30)]
    shadow_series = SERIES | {"version": "8", "track": "canary"}
    with start_monitor() as monitor, \
            start_server(monitor.url, "--model-version", "8", "--track", "canary") as shadow, \
            start_server(monitor.url, "--mirror-url", shadow.url, "--mirror-version", "8") \
            as live:
        predictions = _predict(live, rows, ids)
        _wait_for(monitor, "mlops_model_logged_predictions_total", 30, **shadow_series)
        answer = _label(monitor, [{"id": i, "label": p} for i, p in
                                  zip(ids, predictions, strict=True)])
        assert answer["joined"] == 30
        text = _wait_for(monitor, "mlops_model_live_accuracy", 1.0, **SERIES)
        assert metric_value(text, "mlops_model_live_accuracy", **shadow_series) == 1.0
        assert metric_value(text, "mlops_model_live_labelled", **shadow_series) == 30
