"""s3:// for real, on loopback: moto's standalone server as a process, boto3 as the client.

Covers the store registry, the trainer (dataset from S3, artifacts to S3) and the model
server process serving a model it fetched from S3 and checked against its sha256.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from mlops_runtime import stores
from mlops_runtime.trainer import data as datasets
from mlops_runtime.trainer.main import main as train_main
from mlops_runtime.trainer.spec import DatasetSpec
from sklearn.datasets import load_iris

boto3 = pytest.importorskip("boto3")
pytest.importorskip("moto.server")

START_TIMEOUT = 30.0
IRIS_SPEC: dict[str, Any] = {
    "model": "iris",
    "dataset": {"target": "target", "randomSeed": 7},
    "estimator": {"name": "LogisticRegression", "params": {"max_iter": 300}},
}


def free_port() -> int:
    """A port free right now on 127.0.0.1 (the child binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stop(process: subprocess.Popen[Any], timeout: float = 10.0) -> None:
    """SIGTERM, then SIGKILL if it does not exit in time."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def wait_until(
    ready: Callable[[], bool],
    process: subprocess.Popen[Any],
    what: str,
    log: Path,
    timeout: float = START_TIMEOUT,
) -> None:
    """Poll ``ready`` until it is true; fail early if the process dies, late at the deadline."""
    deadline = time.monotonic() + timeout
    while not ready():
        if process.poll() is not None:
            raise AssertionError(f"{what} exited early ({process.returncode}): {log.read_text()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not ready within {timeout}s: {log.read_text()}")
        time.sleep(0.05)


def answers(url: str) -> Callable[[], bool]:
    def check() -> bool:
        try:
            with httpx.Client(timeout=1.0, trust_env=False) as client:
                return client.get(url).status_code < 500
        except httpx.TransportError:
            return False

    return check


@pytest.fixture(scope="module")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """moto's S3 server on 127.0.0.1, with the environment the runtime reads pointing at it."""
    root = tmp_path_factory.mktemp("moto")
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    log = root / "moto.log"
    with pytest.MonkeyPatch.context() as patch:
        for name in (
            "AWS_PROFILE",
            "AWS_SESSION_TOKEN",
            "AWS_SECURITY_TOKEN",
            "AWS_ENDPOINT_URL",
            "AWS_ENDPOINT_URL_S3",
            "AWS_REGION",
        ):
            patch.delenv(name, raising=False)
        patch.setenv("AWS_ACCESS_KEY_ID", "testing")
        patch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        patch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        patch.setenv("AWS_CONFIG_FILE", str(root / "no-aws-config"))
        patch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(root / "no-aws-credentials"))
        patch.setenv("AWS_EC2_METADATA_DISABLED", "true")
        patch.setenv("NO_PROXY", "127.0.0.1,localhost")
        patch.setenv("no_proxy", "127.0.0.1,localhost")
        patch.setenv(stores.S3_ENDPOINT_ENV, endpoint)
        with open(log, "w") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            wait_until(answers(endpoint), process, "moto server", log)
            yield endpoint
        finally:
            stop(process)


@pytest.fixture
def s3(s3_endpoint: str) -> Any:
    """A boto3 client on the moto server (for arranging and checking objects)."""
    return boto3.client("s3", endpoint_url=s3_endpoint)


@pytest.fixture
def bucket(s3: Any) -> str:
    """A fresh bucket per test, so tests never see each other's objects."""
    name = f"t-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return name


@pytest.fixture
def termination_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Never write /dev/termination-log from tests."""
    path = tmp_path / "termination-log"
    monkeypatch.setenv("MLOPS_TERMINATION_LOG", str(path))
    return path


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def object_bytes(s3: Any, uri: str) -> bytes:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())


# ---- the store registry ----


def test_store_round_trip_and_sha256(s3: Any, bucket: str) -> None:
    data = os.urandom(4096) + b"model"
    uri = f"s3://{bucket}/models/v1/model.onnx"
    assert stores.store_for(uri).local_path(uri) is None
    stores.write_bytes(uri, data)
    assert stores.read_bytes(uri) == data
    assert object_bytes(s3, uri) == data  # a real object, not a local file
    assert stores.sha256_hex(stores.read_bytes(uri)) == sha256(data)
    stores.write_bytes(uri, b"replaced")
    assert stores.read_bytes(uri) == b"replaced"


def test_missing_key_is_a_clear_error_naming_the_uri(bucket: str) -> None:
    uri = f"s3://{bucket}/no/such/model.onnx"
    with pytest.raises(FileNotFoundError) as caught:
        stores.read_bytes(uri)
    assert uri in str(caught.value)
    missing_bucket = f"s3://{bucket}-gone/model.onnx"
    with pytest.raises(FileNotFoundError) as caught:
        stores.read_bytes(missing_bucket)
    assert missing_bucket in str(caught.value)


def test_bad_s3_uris_are_rejected(s3_endpoint: str) -> None:
    for uri in ("s3://bucket-only", "s3:///key-only", "s3://bucket/"):
        with pytest.raises(ValueError, match="bucket and a key"):
            stores.read_bytes(uri)


# ---- the trainer ----


def upload_iris(s3: Any, bucket: str) -> tuple[str, bytes]:
    csv = load_iris(as_frame=True).frame.to_csv(index=False, lineterminator="\n").encode()
    s3.put_object(Bucket=bucket, Key="data/iris.csv", Body=csv)
    return f"s3://{bucket}/data/iris.csv", csv


def run_trainer(spec: dict[str, Any], output_uri: str, log: Path) -> tuple[int, dict[str, Any]]:
    code = train_main(["--spec-json", json.dumps(spec), "--output-uri", output_uri])
    return code, json.loads(log.read_text(encoding="utf-8"))


@pytest.fixture
def trained(
    s3: Any, bucket: str, s3_endpoint: str, termination_log: Path
) -> tuple[dict[str, Any], bytes, str]:
    """Train iris from an s3:// CSV into an s3:// directory; returns the message."""
    data_uri, csv = upload_iris(s3, bucket)
    spec = {
        **IRIS_SPEC,
        "dataset": {**IRIS_SPEC["dataset"], "uri": data_uri, "s3": {"endpoint": s3_endpoint}},
    }
    output = f"s3://{bucket}/models/iris/run-1/"
    code, message = run_trainer(spec, output, termination_log)
    assert code == 0, message
    return message, csv, output


def test_trainer_reads_s3_dataset_and_writes_s3_artifacts(s3: Any, trained: Any) -> None:
    message, csv, output = trained
    assert message["ok"] is True and message["metrics"]["accuracy"] > 0.8
    assert message["dataset"]["uri"].startswith("s3://")
    assert message["dataset"]["sha256"] == sha256(csv) and message["dataset"]["rows"] == 150
    base = output.rstrip("/")
    assert message["artifacts"]["onnx"]["uri"] == f"{base}/model.onnx"
    assert message["artifacts"]["skops"]["uri"] == f"{base}/model.skops"
    for artifact in message["artifacts"].values():
        assert sha256(object_bytes(s3, artifact["uri"])) == artifact["sha256"]
    assert message["metadataUri"] == f"{base}/metadata.json"
    metadata = json.loads(object_bytes(s3, message["metadataUri"]))
    assert metadata["artifacts"] == message["artifacts"]
    bucket, _, prefix = base.removeprefix("s3://").partition("/")
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=prefix + "/")["Contents"]
    assert sorted(o["Key"].removeprefix(prefix + "/") for o in listed) == [
        "metadata.json",
        "model.onnx",
        "model.skops",
        *sorted(f"plots/{name}.png" for name in message["plots"]),
    ]
    plot = object_bytes(s3, f"{base}/plots/{message['plots'][0]}.png")
    assert plot.startswith(b"\x89PNG")


def test_trainer_uses_the_spec_endpoint_for_the_dataset(
    s3: Any, bucket: str, tmp_path: Path, termination_log: Path
) -> None:
    data_uri, _ = upload_iris(s3, bucket)
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens here
    spec = {
        **IRIS_SPEC,
        "dataset": {**IRIS_SPEC["dataset"], "uri": data_uri, "s3": {"endpoint": dead}},
    }
    code, message = run_trainer(spec, (tmp_path / "out").as_uri(), termination_log)
    assert code == 1 and message["reason"] == "DatasetUnreachable"
    assert data_uri in message["message"]


def test_dataset_endpoint_defaults_to_the_artifact_store_endpoint(s3: Any, bucket: str) -> None:
    data_uri, csv = upload_iris(s3, bucket)
    fetched = datasets.fetch_bytes(DatasetSpec(uri=data_uri))  # no dataset.s3.endpoint
    assert fetched.data == csv and fetched.format == "csv"


def test_trainer_missing_s3_dataset_names_the_uri(
    bucket: str, s3_endpoint: str, tmp_path: Path, termination_log: Path
) -> None:
    data_uri = f"s3://{bucket}/data/missing.csv"
    spec = {
        **IRIS_SPEC,
        "dataset": {**IRIS_SPEC["dataset"], "uri": data_uri, "s3": {"endpoint": s3_endpoint}},
    }
    code, message = run_trainer(spec, (tmp_path / "out").as_uri(), termination_log)
    assert code == 1 and message["reason"] == "DatasetUnreachable"
    assert data_uri in message["message"]


# ---- the model server as a process ----


def serve_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "mlops_runtime.cli", "serve", *args]


def server_env(tmp_path: Path) -> dict[str, str]:
    """The test environment (AWS_* and MLOPS_S3_ENDPOINT included), no other MLOPS_*."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("MLOPS_") or k == stores.S3_ENDPOINT_ENV
    }
    env.pop("POD_IP", None)
    env["MLOPS_TERMINATION_LOG"] = str(tmp_path / "server-termination-log")
    return env


def test_server_serves_predictions_from_an_s3_model(trained: Any, tmp_path: Path) -> None:
    message, _, _ = trained
    onnx = message["artifacts"]["onnx"]
    port = free_port()
    log = tmp_path / "server.log"
    with open(log, "w") as out:
        process = subprocess.Popen(
            serve_command(
                "--model-uri",
                onnx["uri"],
                "--sha256",
                onnx["sha256"],
                "--model-name",
                "iris",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ),
            env=server_env(tmp_path),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(answers(f"{url}/readyz"), process, "model server", log)
        iris = load_iris()
        with httpx.Client(base_url=url, timeout=10, trust_env=False) as client:
            assert client.get("/readyz").status_code == 200
            response = client.post("/predict", json={"instances": iris.data.tolist()})
            assert response.status_code == 200, response.text
            predictions = response.json()["predictions"]
            assert len(predictions) == 150
            accuracy = sum(int(p == t) for p, t in zip(predictions, iris.target, strict=True))
            assert accuracy / 150 > 0.9
            text = client.get("/metrics").text
            assert f'sha256="{onnx["sha256"]}"' in text
    finally:
        stop(process, timeout=15)
    assert process.returncode in (0, -signal.SIGTERM), log.read_text()


def test_server_refuses_a_wrong_sha256_or_a_missing_object(
    trained: Any, bucket: str, tmp_path: Path
) -> None:
    message, _, _ = trained
    onnx = message["artifacts"]["onnx"]
    wrong = "0" * 64
    missing = f"s3://{bucket}/models/none/model.onnx"
    for uri, digest, fragments in (
        (onnx["uri"], wrong, ["checksum mismatch", wrong, onnx["sha256"]]),
        (missing, onnx["sha256"], ["cannot read model artifact"]),
    ):
        result = subprocess.run(
            serve_command(
                "--model-uri",
                uri,
                "--sha256",
                digest,
                "--host",
                "127.0.0.1",
                "--port",
                str(free_port()),
            ),
            env=server_env(tmp_path),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode != 0
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert uri in lines[0] and all(f in lines[0] for f in fragments), lines[0]
        assert "Uvicorn running" not in result.stdout + result.stderr
