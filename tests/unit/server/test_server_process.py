"""``mlops-runtime serve`` as a real uvicorn process on 127.0.0.1."""

from __future__ import annotations

import signal
import socket
from typing import Any

import httpx
import orjson


def test_serves_iris_and_shuts_down_gracefully(models: Any, serve: Any, metric: Any) -> None:
    artifact = models.artifacts["iris_lr"]
    args = ["--model-uri", artifact.uri, "--sha256", artifact.sha256, "--model-name", "iris"]
    with (
        serve(*args, "--model-version", "4", "--track", "canary") as server,
        httpx.Client(base_url=server.url, timeout=10) as client,
    ):
        x = models.iris_x
        response = client.post("/predict", json={"instances": x.tolist()})
        assert response.status_code == 200
        assert response.json()["predictions"] == models.iris_lr.predict(x).tolist()
        request = {
            "inputs": [{"name": "input", "shape": [150, 4], "datatype": "FP32", "data": x.tolist()}]
        }
        response = client.post("/v2/models/iris/infer", json=request)
        assert response.json()["outputs"][0]["data"] == models.iris_lr.predict(x).tolist()
        bad = client.post("/predict", json={"instances": [[1, 2, 3]]})
        assert bad.status_code == 400 and "instances[0]" in bad.json()["error"]
        text = client.get("/metrics").text
        labels = {"model": "iris", "version": "4", "track": "canary"}
        assert metric(text, "mlops_requests_total", status="200", **labels) == 2
        assert metric(text, "mlops_requests_total", status="400", **labels) == 1
        assert metric(text, "mlops_input_rows_total", **labels) == 300
        assert "mlops_requests_created" not in text  # one series per counter is enough
        # A request in flight when SIGTERM arrives still gets its answer.
        body = orjson.dumps({"instances": x.tolist()})
        head = (
            "POST /predict HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        port = int(server.url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            sock.sendall(head + body[:100])
            # Barrier: once another request is answered, ours has been read too.
            assert client.get("/healthz").status_code == 200
            server.process.send_signal(signal.SIGTERM)
            sock.sendall(body[100:])
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
        assert server.process.wait(timeout=30) in (0, -signal.SIGTERM)
    output = server.output()
    assert "Shutting down" in output and "Finished server process" in output


def test_checksum_mismatch_exits_non_zero_naming_the_checksum(models: Any, run_serve: Any) -> None:
    artifact = models.artifacts["iris_lr"]
    result = run_serve("--model-uri", artifact.uri, "--sha256", "f" * 64)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "checksum mismatch" in lines[0] and "f" * 64 in lines[0] and artifact.sha256 in lines[0]


def test_pickle_and_unknown_format_exit_non_zero(models: Any, run_serve: Any) -> None:
    pickled = models.artifacts["pickle"]
    result = run_serve("--model-uri", pickled.uri, "--sha256", pickled.sha256)
    assert result.returncode != 0 and "unsupported model format" in result.stderr
    disguised = models.artifacts["pickle_as_onnx"]
    result = run_serve("--model-uri", disguised.uri, "--sha256", disguised.sha256)
    assert result.returncode != 0 and "pickle" in result.stderr
    assert "Uvicorn running" not in result.stderr + result.stdout
