"""Fixtures for the model server tests: models trained here, clients, real processes.

The models are built the way the trainer's contract says (skl2onnx with
``zipmap=False`` and the schema in ``metadata_props``), so these tests do not
depend on the trainer.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import pickle
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import skops.io as sio
from fastapi import FastAPI
from mlops_runtime.server.app import create_app
from mlops_runtime.server.settings import Settings
from skl2onnx import to_onnx
from skl2onnx.common.data_types import FloatTensorType
from sklearn.datasets import load_diabetes, load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

SCHEMA_KEY = "mlops.input_schema"


@dataclass
class Artifact:
    """One model file with what a ModelVersion would record about it."""

    path: Path
    sha256: str
    schema: dict[str, Any]

    @property
    def uri(self) -> str:
        return self.path.as_uri()


@dataclass
class Models:
    """Every artifact and reference model the tests use."""

    root: Path
    iris_x: np.ndarray
    iris_y: np.ndarray
    iris_names: list[str]
    diabetes_x: np.ndarray
    diabetes_names: list[str]
    iris_lr: Any
    iris_rf: Any
    diabetes_ridge: Any
    iris_named: Any = None
    artifacts: dict[str, Artifact] = field(default_factory=dict)


def _schema(names: list[str], task: str, classes: list[Any] | None) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "features": [{"name": n, "type": "float"} for n in names],
        "task": task,
        "target": "target",
    }
    if classes is not None:
        schema["classes"] = classes
    return schema


def _write(root: Path, name: str, data: bytes, schema: dict[str, Any]) -> Artifact:
    path = root / name
    path.write_bytes(data)
    return Artifact(path=path, sha256=hashlib.sha256(data).hexdigest(), schema=schema)


def _onnx_bytes(estimator: Any, n_features: int, schema: dict[str, Any], zipmap: bool) -> bytes:
    final = estimator.steps[-1][1] if hasattr(estimator, "steps") else estimator
    options = {type(final): {"zipmap": zipmap}} if schema["task"] == "classification" else None
    model = to_onnx(
        estimator,
        initial_types=[("input", FloatTensorType([None, n_features]))],
        options=options,
        target_opset=17,
    )
    prop = model.metadata_props.add()
    prop.key = SCHEMA_KEY
    prop.value = json.dumps(schema)
    return model.SerializeToString()


@pytest.fixture(scope="session")
def models(tmp_path_factory: pytest.TempPathFactory) -> Models:
    """Train, convert and write every test artifact once per session."""
    root = tmp_path_factory.mktemp("models")
    iris = load_iris()
    iris_x = iris.data.astype(np.float32)
    iris_names = list(iris.feature_names)
    diabetes = load_diabetes()
    diabetes_x = diabetes.data.astype(np.float32)
    diabetes_names = list(diabetes.feature_names)
    lr = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(iris_x, iris.target)
    rf = RandomForestClassifier(n_estimators=20, random_state=0).fit(iris_x, iris.target)
    ridge = Ridge().fit(diabetes_x, diabetes.target)
    m = Models(
        root=root,
        iris_x=iris_x,
        iris_y=iris.target,
        iris_names=iris_names,
        diabetes_x=diabetes_x,
        diabetes_names=diabetes_names,
        iris_lr=lr,
        iris_rf=rf,
        diabetes_ridge=ridge,
    )
    cls_schema = _schema(iris_names, "classification", [0, 1, 2])
    reg_schema = _schema(diabetes_names, "regression", None)
    reg_schema["predictionBuckets"] = [50, 100, 150, 200, 250, 300]
    add = m.artifacts.__setitem__
    add("iris_lr", _write(root, "iris_lr.onnx", _onnx_bytes(lr, 4, cls_schema, False), cls_schema))
    add("iris_rf", _write(root, "iris_rf.onnx", _onnx_bytes(rf, 4, cls_schema, False), cls_schema))
    add(
        "diabetes",
        _write(root, "diabetes.onnx", _onnx_bytes(ridge, 10, reg_schema, False), reg_schema),
    )
    add(
        "iris_zipmap",
        _write(root, "iris_zipmap.onnx", _onnx_bytes(lr, 4, cls_schema, True), cls_schema),
    )
    names = iris.target_names[iris.target]
    named = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(iris_x, names)
    m.iris_named = named
    named_schema = _schema(iris_names, "classification", list(named.classes_))
    add(
        "iris_named",
        _write(root, "iris_named.onnx", _onnx_bytes(named, 4, named_schema, False), named_schema),
    )
    add("iris_skops", _write(root, "iris_lr.skops", sio.dumps(lr), cls_schema))
    add("rf_skops", _write(root, "iris_rf.skops", sio.dumps(rf), cls_schema))
    add("diabetes_skops", _write(root, "diabetes.skops", sio.dumps(ridge), reg_schema))
    evil = make_pipeline(FunctionTransformer(np.load), LogisticRegression())
    add("evil_skops", _write(root, "evil.skops", sio.dumps(evil), cls_schema))
    add("pickle", _write(root, "model.pkl", pickle.dumps(lr), cls_schema))
    add("pickle_as_onnx", _write(root, "pickled.onnx", pickle.dumps(lr), cls_schema))
    add("garbage_onnx", _write(root, "garbage.onnx", b"not a model at all", cls_schema))
    return m


def settings_for(artifact: Artifact, **overrides: Any) -> Settings:
    """Settings for an artifact, as the operator would pass them."""
    base = Settings(
        model_uri=artifact.uri,
        sha256=artifact.sha256,
        model_name="iris",
        model_version="7",
        input_schema=artifact.schema if artifact.path.suffix == ".skops" else None,
    )
    return replace(base, **overrides)


class AsgiClient:
    """Synchronous facade over httpx's ASGI transport (no async test plugin needed)."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.loop = asyncio.new_event_loop()
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://model.test"
        )

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        return self.loop.run_until_complete(self.client.request(method, url, **kwargs))

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    def gather(self, requests: list[tuple[str, Any]]) -> list[httpx.Response]:
        """POST many JSON bodies concurrently (exercises adaptive batching)."""

        async def run() -> list[httpx.Response]:
            return await asyncio.gather(*(self.client.post(u, json=b) for u, b in requests))

        return self.loop.run_until_complete(run())

    def close(self) -> None:
        self.loop.run_until_complete(self.client.aclose())
        self.loop.close()


@contextlib.contextmanager
def asgi_client(settings: Settings) -> Iterator[AsgiClient]:
    """An in-process client for a freshly built app."""
    client = AsgiClient(create_app(settings))
    try:
        yield client
    finally:
        client.close()


@pytest.fixture(scope="session")
def iris_client(models: Models) -> Iterator[AsgiClient]:
    """Shared in-process iris app (metrics accumulate across tests: read deltas)."""
    with asgi_client(settings_for(models.artifacts["iris_lr"])) as client:
        yield client


@pytest.fixture(scope="session")
def diabetes_client(models: Models) -> Iterator[AsgiClient]:
    """Shared in-process regression app."""
    settings = settings_for(models.artifacts["diabetes"], model_name="diabetes")
    with asgi_client(settings) as client:
        yield client


@pytest.fixture(autouse=True)
def _termination_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Never write /dev/termination-log from tests."""
    path = tmp_path / "termination-log"
    monkeypatch.setenv("MLOPS_TERMINATION_LOG", str(path))
    return path


def metric_value(text: str, name: str, **labels: str) -> float:
    """Value of one series in Prometheus text exposition (0 when absent)."""
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        series, _, value = line.rpartition(" ")
        metric, _, label_text = series.partition("{")
        if metric != name:
            continue
        found = dict(
            part.split("=", 1) for part in label_text.rstrip("}").split(",") if "=" in part
        )
        found = {k: v.strip('"') for k, v in found.items()}
        if all(found.get(k) == v for k, v in labels.items()):
            return float(value)
    return 0.0


def free_port() -> int:
    """A port free right now on 127.0.0.1 (the server binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve_command(*args: str, command: str = "serve") -> list[str]:
    """``mlops-runtime serve`` (or ``command``) through the interpreter running the tests."""
    return [sys.executable, "-m", "mlops_runtime.cli", command, *args]


def server_env(tmp_path: Path) -> dict[str, str]:
    """Environment for server processes: no MLOPS_* leaking in from the caller."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLOPS_")}
    env.pop("POD_IP", None)
    env["MLOPS_TERMINATION_LOG"] = str(tmp_path / "termination-log")
    return env


@dataclass
class ServerProcess:
    """A running ``mlops-runtime serve``, its base URL and its log file."""

    process: subprocess.Popen[str]
    url: str
    log_path: Path

    def output(self) -> str:
        """Everything the server printed so far."""
        return self.log_path.read_text()

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM, wait for a graceful exit; kill if it hangs. Returns the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                return self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
                raise
        return int(self.process.returncode)


@contextlib.contextmanager
def running_server(
    args: list[str], env: dict[str, str], log_path: Path, timeout: float = 30.0,
    command: str = "serve", port: int | None = None,
) -> Iterator[ServerProcess]:
    """Start a server (or the monitor) on a free port, wait for /readyz (deadline), always
    stop it."""
    port = port or free_port()
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            serve_command(*args, "--host", "127.0.0.1", "--port", str(port), command=command),
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
    server = ServerProcess(process, f"http://127.0.0.1:{port}", log_path)
    try:
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=1.0) as client:
            while True:
                if process.poll() is not None:
                    raise AssertionError(
                        f"server exited early ({process.returncode}): {server.output()}"
                    )
                try:
                    if client.get(f"{server.url}/readyz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise AssertionError(f"server not ready within {timeout}s")
                time.sleep(0.05)
        yield server
    finally:
        if process.poll() is None:
            server.stop()


@pytest.fixture
def serve(tmp_path: Path) -> Callable[..., contextlib.AbstractContextManager[ServerProcess]]:
    """``with serve(*args) as server:`` runs a real server process for one test."""
    counter = iter(range(1000))

    def start(*args: str) -> contextlib.AbstractContextManager[ServerProcess]:
        log_path = tmp_path / f"server-{next(counter)}.log"
        return running_server(list(args), server_env(tmp_path), log_path)

    return start


@pytest.fixture
def run_serve(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run ``mlops-runtime serve`` expecting it to exit by itself (startup failures)."""

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        port = str(free_port())
        return subprocess.run(
            serve_command(*args, "--host", "127.0.0.1", "--port", port),
            env=server_env(tmp_path),
            capture_output=True,
            text=True,
            timeout=60,
        )

    return run


@pytest.fixture
def make_client() -> Callable[[Settings], contextlib.AbstractContextManager[AsgiClient]]:
    """``with make_client(settings) as client:`` for an app with custom settings."""
    return asgi_client


@pytest.fixture
def settings_of() -> Callable[..., Settings]:
    """``settings_of(artifact, **overrides)``."""
    return settings_for


@pytest.fixture
def metric() -> Callable[..., float]:
    """``metric(text, name, **labels)`` reads one series from /metrics text."""
    return metric_value


#: The bearer token of the monitors the prediction-log tests start.
TOKEN = "monitor-token"


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n")
    return path


@pytest.fixture
def start_monitor(tmp_path: Path, token_file: Path
                  ) -> Callable[..., contextlib.AbstractContextManager[ServerProcess]]:
    """``with start_monitor(port=..., flush="0.1") as monitor:``: a monitor process keeping
    records below ``tmp_path/log``, its spool in ``tmp_path/spool`` (both survive it)."""
    counter = iter(range(100))

    def start(port: int | None = None, flush: str = "0.1") -> Any:
        args = ["--root", (tmp_path / "log").as_uri(), "--spool", str(tmp_path / "spool"),
                "--token-file", str(token_file), "--flush-interval", flush]
        return running_server(args, server_env(tmp_path), tmp_path / f"monitor-{next(counter)}.log",
                              command="monitor", port=port)

    return start


@pytest.fixture
def start_server(tmp_path: Path, token_file: Path, models: Any
                 ) -> Callable[..., contextlib.AbstractContextManager[ServerProcess]]:
    """``with start_server(monitor_url, *extra) as server:``: iris logging to the monitor."""
    counter = iter(range(100))

    def start(url: str, *extra: str) -> Any:
        artifact = models.artifacts["iris_lr"]
        args = ["--model-uri", artifact.uri, "--sha256", artifact.sha256, "--model-name", "iris",
                "--model-version", "7", "--deployment", "iris-prod",
                "--prediction-log-url", url, "--prediction-log-token-file", str(token_file),
                "--prediction-log-flush-interval", "0.05", *extra]
        env = server_env(tmp_path) | {"POD_NAMESPACE": "ml"}
        return running_server(args, env, tmp_path / f"server-{next(counter)}.log")

    return start
