"""The prediction log: real model server and monitor processes; records land as Parquet
that pyarrow reads without our code, survive a killed monitor, and never slow an answer."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pytest
from mlops_runtime.monitor.app import create_app
from mlops_runtime.monitor.settings import MonitorSettings
from mlops_runtime.monitor.spool import Spool
from mlops_runtime.monitor.writer import ParquetWriter
from mlops_runtime.predictionlog import records
from mlops_runtime.server.columns import ColumnBatch, Layout
from mlops_runtime.server.prediction_log import LogSettings, PredictionLog
from mlops_runtime.server.runtime import Prediction
from mlops_runtime.server.schema import parse_schema
from mlops_runtime.server.settings import SettingsError, parse_settings

from tests.unit.server.conftest import (
    TOKEN,
    AsgiClient,
    ServerProcess,
    free_port,
    serve_command,
    server_env,
)

EXCLUDED = "petal width (cm)"


def logged(tmp_path: Path) -> pa.Table:
    """Every record in the store, read the way any Parquet reader would."""
    root = tmp_path / "log" / records.PREDICTIONS_FOLDER
    if not root.exists():
        return pa.table({})
    return ds.dataset(root, format="parquet", partitioning="hive").to_table()


def wait_for_rows(tmp_path: Path, rows: int, what: ServerProcess) -> pa.Table:
    deadline = time.monotonic() + 20
    while True:
        table = logged(tmp_path)
        if table.num_rows >= rows:
            return table
        if time.monotonic() > deadline:
            raise AssertionError(f"{table.num_rows} of {rows} rows logged: {what.output()}")
        time.sleep(0.05)


def test_records_wait_for_a_monitor_that_is_down_then_land_as_partitioned_parquet(
        tmp_path: Path, start_monitor: Any, start_server: Any, models: Any, metric: Any) -> None:
    x = models.iris_x[:6].tolist()
    port = free_port()
    with start_server(f"http://127.0.0.1:{port}", "--prediction-log-exclude", EXCLUDED
                      ) as server, httpx.Client(base_url=server.url, timeout=10) as client:
        one = client.post("/predict", json={"instances": x[:1], "ids": ["loan-1"]}).json()
        many = client.post("/predict", json={"instances": x[1:4]},
                           headers={"X-Request-Id": "r-2"}).json()
        tensor = {"name": "input", "shape": [2, 4], "datatype": "FP32", "data": x[4:6]}
        infer = client.post("/v2/models/iris/infer", json={"inputs": [tensor]}).json()
        deadline = time.monotonic() + 10  # no monitor yet: kept and retried, answers given
        while metric(client.get("/metrics").text, "mlops_prediction_log_rows_total",
                     outcome="retried") == 0:
            assert time.monotonic() < deadline, server.output()
            time.sleep(0.05)
        with start_monitor(port=port) as monitor:
            table = wait_for_rows(tmp_path, 6, monitor)
            deadline = time.monotonic() + 10
            while metric(client.get("/metrics").text, "mlops_prediction_log_rows_total",
                         outcome="sent") < 6:
                assert time.monotonic() < deadline, server.output()
                time.sleep(0.05)
    assert table.num_rows == 6  # each row once, though its batch was sent more than once
    rows = {row["id"]: row for row in table.to_pylist()}
    assert set(rows) == {"loan-1", "r-2-0", "r-2-1", "r-2-2", *infer["parameters"]["ids"]}
    assert [rows[i]["prediction"] for i in many["ids"]] == many["predictions"]
    assert rows["loan-1"]["request_id"] == one["id"] and rows["r-2-1"]["request_id"] == "r-2"
    assert np.allclose(rows["loan-1"]["probabilities"], one["probabilities"][0], atol=1e-6)
    first = rows["loan-1"]
    assert (first["namespace"], first["deployment"], first["track"]) == ("ml", "iris-prod",
                                                                          "stable")
    assert (first["model"], str(first["version"])) == ("iris", "7")  # hive partition columns
    assert set(first["inputs"]) == set(models.iris_names) - {EXCLUDED}  # redacted
    assert first["inputs"]["sepal length (cm)"] == pytest.approx(x[0][0], rel=1e-6)
    assert first["latency_ms"] > 0
    hours = {datetime.now(UTC) - timedelta(hours=h) for h in (0, 1)}
    folders = {p.parent.relative_to(tmp_path / "log").as_posix()
               for p in (tmp_path / "log").rglob("*.parquet")}
    assert folders <= {records.partition("iris", "7", h.strftime(records.HOUR_FORMAT))
                       for h in hours}


def test_a_full_buffer_drops_and_counts_but_every_answer_is_given(
        tmp_path: Path, token_file: Path, models: Any, make_client: Any, settings_of: Any,
        metric: Any) -> None:
    log = LogSettings(url="http://127.0.0.1:9", token_file=str(token_file), namespace="ml",
                      deployment="iris", buffer_rows=3)
    with make_client(settings_of(models.artifacts["iris_lr"], prediction_log=log)) as client:
        answers = [client.post("/predict", json={"instances": [row]})
                   for row in models.iris_x[:5].tolist()]
        text = client.get("/metrics").text
        assert client.app.state.service.prediction_log.pending_rows == 3
    assert [a.status_code for a in answers] == [200] * 5
    assert metric(text, "mlops_prediction_log_rows_total", outcome="dropped") == 2


def test_acknowledged_records_survive_a_killed_monitor(
        tmp_path: Path, start_monitor: Any) -> None:
    port = free_port()
    with start_monitor(port=port, flush="3600") as monitor:  # nothing written while it runs
        acknowledged = httpx.post(f"{monitor.url}/v1/records", content=_batch(5),
                                  headers={"authorization": f"Bearer {TOKEN}"})
        assert acknowledged.status_code == 202 and acknowledged.json() == {"accepted": 5}
        monitor.process.send_signal(signal.SIGKILL)
        monitor.process.wait(timeout=10)
    assert logged(tmp_path).num_rows == 0
    with start_monitor(port=port) as restarted:  # writes what the killed one acknowledged
        assert wait_for_rows(tmp_path, 5, restarted).num_rows == 5


def _batch(n: int, version: str = "1", hour_offset: int = 0) -> bytes:
    millis = int((datetime.now(UTC) - timedelta(hours=hour_offset)).timestamp() * 1000)
    table = pa.table({
        records.ID: [f"r{version}-{hour_offset}-{i}" for i in range(n)],
        records.REQUEST_ID: ["r"] * n,
        records.TIME: pa.array([millis] * n, pa.int64()).cast(records.TIME_TYPE),
        **{name: [value] * n for name, value in ((records.NAMESPACE, "ml"),
                                                 (records.DEPLOYMENT, "d"),
                                                 (records.MODEL, "m"),
                                                 (records.VERSION, version),
                                                 (records.TRACK, "stable"))},
        records.PREDICTION: list(range(n)),
    })
    return records.to_ipc(table)


def test_a_flush_redone_after_a_crash_rewrites_the_same_parts(tmp_path: Path) -> None:
    root = (tmp_path / "log").as_uri()
    spool = Spool(tmp_path / "spool", 1 << 30)
    for batch in (_batch(3), _batch(2, version="2"), _batch(4, hour_offset=2)):
        spool.put(batch)
    crashed = ParquetWriter(root, spool, None)
    spool.finish = lambda batches: (_ for _ in ()).throw(OSError("killed"))  # type: ignore
    with pytest.raises(OSError):
        crashed.flush()
    spool.put(_batch(1, version="3"))  # arrives after the crash: the next flush's
    again = ParquetWriter(root, Spool(tmp_path / "spool", 1 << 30), None)
    assert again.flush().rows == 9  # the crashed flush's batches, once
    assert again.flush().rows == 1
    table = logged(tmp_path)
    assert table.num_rows == 10 and len(set(table.column(records.ID).to_pylist())) == 10
    assert len(list((tmp_path / "log").rglob("*.parquet"))) == 4  # v1 x 2 hours, v2, v3
    assert again.spool.pending() == [] and again.spool.bytes == 0


def test_retention_removes_whole_hours_older_than_it(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool", 1 << 30)
    spool.put(_batch(2))
    spool.put(_batch(2, hour_offset=30))
    writer = ParquetWriter((tmp_path / "log").as_uri(), spool, timedelta(hours=24))
    writer.flush()
    assert writer.expire(datetime.now(UTC)) == 1
    assert logged(tmp_path).num_rows == 2


@pytest.fixture
def monitor_client(tmp_path: Path, token_file: Path) -> Iterator[AsgiClient]:
    settings = MonitorSettings(root=(tmp_path / "log").as_uri(), spool=str(tmp_path / "spool"),
                               token_file=str(token_file), max_spool_bytes=3000,
                               max_body_bytes=5000)
    client = AsgiClient(create_app(settings))
    try:
        yield client
    finally:
        client.close()


REFUSED = [
    ({}, _batch(1), 401, "missing or wrong bearer token"),
    ({"authorization": "Bearer nope"}, _batch(1), 401, "missing or wrong bearer token"),
    (None, b"not arrow", 400, "body: not an Arrow IPC stream"),
    (None, records.to_ipc(pa.table({records.ID: ["a"]})), 400,
     "body: missing columns request_id, time, namespace"),
    (None, b"x" * 6000, 413, "body: more than 5000 bytes"),
]


@pytest.mark.parametrize(("headers", "body", "status", "error"), REFUSED)
def test_the_monitor_refuses_what_it_cannot_keep_naming_why(
        monitor_client: AsgiClient, headers: dict[str, str] | None, body: bytes, status: int,
        error: str) -> None:
    response = monitor_client.post("/v1/records", content=body, headers=(
        {"authorization": f"Bearer {TOKEN}"} if headers is None else headers))
    assert response.status_code == status
    assert response.json()["error"].startswith(error)


def test_a_full_spool_answers_503_so_the_sender_keeps_its_batch(
        monitor_client: AsgiClient) -> None:
    auth = {"authorization": f"Bearer {TOKEN}"}
    statuses = [monitor_client.post("/v1/records", content=_batch(20), headers=auth).status_code
                for _ in range(4)]
    assert statuses[0] == 202 and statuses[-1] == 503
    assert "Retry-After" in monitor_client.post("/v1/records", content=_batch(20),
                                                headers=auth).headers


def test_inputs_keep_their_types_and_missing_values_become_nulls() -> None:
    schema = parse_schema({"features": [
        {"name": "age", "type": "float", "nullable": True},
        {"name": "purpose", "type": "string", "nullable": True},
        {"name": "cosigner", "type": "bool", "nullable": True},
        {"name": "ssn", "type": "string"}], "task": "classification", "classes": ["no", "yes"]})
    batch = ColumnBatch(Layout.of(schema), (
        np.array([[41.0], [np.nan]], dtype=np.float32),
        np.array([["car"], [""]], dtype=object),
        np.array([[1.0], [np.nan]], dtype=np.float32),
        np.array([["123"], ["456"]], dtype=object)))
    settings = LogSettings(url="http://monitor", token_file="t", namespace="ml",
                           deployment="loans", exclude=frozenset({"ssn"}))
    log = PredictionLog(settings, schema, ("loans", "v1", "canary"), None)
    log.offer("r", ["a", "b"], batch, Prediction(np.array(["no", "yes"], dtype=object),
                                                   np.array([[0.8, 0.2], [0.3, 0.7]])), 1.5)
    table = records.from_ipc(records.to_ipc(log.batch(log._gathering)))
    assert table.column(records.INPUTS).to_pylist() == [
        {"age": 41.0, "purpose": "car", "cosigner": True},
        {"age": None, "purpose": None, "cosigner": None}]
    assert table.schema.field(records.INPUTS).type == pa.struct(
        [("age", pa.float64()), ("purpose", pa.string()), ("cosigner", pa.bool_())])
    assert table.column(records.PREDICTION).to_pylist() == ["no", "yes"]
    assert json.dumps(table.column(records.PROBABILITIES).to_pylist()) == json.dumps(
        [[0.800000011920929, 0.20000000298023224], [0.30000001192092896, 0.699999988079071]])
    assert log.pending_rows == 2


@pytest.mark.parametrize(("extra", "error"), [
    (["--prediction-log-url", "monitor:8090"],
     "--prediction-log-url: expected an http:// or https:// URL, got 'monitor:8090'"),
    (["--prediction-log-url", "http://monitor"],
     "--prediction-log-token-file (or MLOPS_PREDICTION_LOG_TOKEN_FILE) is required"),
])
def test_a_wrong_log_setting_names_the_flag(extra: list[str], error: str) -> None:
    with pytest.raises(SettingsError, match=re.escape(error)):
        parse_settings(["--model-uri", "file:///m.onnx", "--sha256", "a" * 64, *extra], env={})


def test_excluding_a_feature_the_model_does_not_have_stops_the_server_naming_it(
        models: Any, make_client: Any, settings_of: Any) -> None:
    log = LogSettings(url="http://monitor", token_file="t", namespace="ml", deployment="iris",
                      exclude=frozenset({"ssn"}))
    with pytest.raises(SettingsError, match="--prediction-log-exclude: unknown features 'ssn'; "
                                            "the model's features are 'sepal length"), \
            make_client(settings_of(models.artifacts["iris_lr"], prediction_log=log)):
        pass


def test_the_monitor_will_not_start_without_its_store_spool_and_token(tmp_path: Path) -> None:
    result = subprocess.run(serve_command("--spool", str(tmp_path), "--token-file", "t",
                                          command="monitor"),
                            env=server_env(tmp_path), capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "--root (or MLOPS_MONITOR_ROOT) is required" in result.stderr
