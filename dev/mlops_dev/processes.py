"""Waiting for conditions and running the operator as a local process.

Shared by the demo, the benchmarks and the tests, so each does it one way.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int) -> bool:
    """Whether nothing listens on ``port`` (on any address) right now; connections of an
    ended server in TIME_WAIT do not count, as servers bind with SO_REUSEADDR too."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("", port))
        except OSError:
            return False
        return True


def wait_for(check: Callable[[], T], timeout: float, what: str,
             detail: Callable[[], str] = lambda: "", interval: float = 0.25) -> T:
    """Poll ``check`` until it returns something truthy; raise TimeoutError naming ``what``."""
    deadline = time.monotonic() + timeout
    last: T = check()
    while not last:
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}; "
                               f"last seen: {last!r}\n{detail()}")
        time.sleep(interval)
        last = check()
    return last


class KubectlError(RuntimeError):
    """kubectl exited non-zero; the message carries kubectl's own error."""


def kubectl(kubeconfig: str, *args: str, input: str | None = None, check: bool = True,
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run kubectl against ``kubeconfig``; with ``check``, a failure raises KubectlError.

    kubectl caches discovery and OpenAPI documents by server address only, and local
    clusters take random loopback ports: a new cluster on a port an earlier one used
    would be read through the earlier one's cache (its CRDs, its schemas). So each
    kubeconfig gets a cache of its own, next to it.
    """
    cache = Path(kubeconfig).resolve().parent / "kubectl-cache" / Path(kubeconfig).stem
    result = subprocess.run(["kubectl", "--kubeconfig", kubeconfig, "--cache-dir", str(cache),
                             *args], input=input, capture_output=True, text=True,
                            timeout=timeout, check=False)
    if check and result.returncode != 0:
        raise KubectlError(f"kubectl {' '.join(args)}: {result.stderr.strip()}")
    return result


def operator_env(endpoints: dict[str, str]) -> dict[str, str]:
    """The operator's settings for a local cluster's Prometheus and Alertmanager webhook
    (its address and the bearer token Alertmanager sends)."""
    env = {}
    if "prometheus" in endpoints:
        env["MLOPS_PROMETHEUS_URL"] = endpoints["prometheus"]
    if "alertWebhook" in endpoints:
        env["MLOPS_ALERT_WEBHOOK_PORT"] = endpoints["alertWebhook"].rsplit(":", 1)[1].split("/")[0]
    if "alertWebhookTokenFile" in endpoints:
        env["MLOPS_ALERT_WEBHOOK_TOKEN_FILE"] = endpoints["alertWebhookTokenFile"]
    return env


class OperatorProcess:
    """The operator from this checkout, watching one namespace (None: all), as in its pod."""

    def __init__(self, kubeconfig: str, namespace: str | None, log_path: Path,
                 env: dict[str, str] | None = None, args: tuple[str, ...] = ()) -> None:
        self.kubeconfig, self.namespace, self.log_path = kubeconfig, namespace, log_path
        self.args = args
        self.metrics_port = free_port()
        self.env = {"MLOPS_METRICS_PORT": str(self.metrics_port), **(env or {})}
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> OperatorProcess:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "mlops_operator.cli",
                 *([f"--namespace={self.namespace}"] if self.namespace else []), *self.args],
                env={**os.environ, "KUBECONFIG": self.kubeconfig, **self.env},
                stdout=log, stderr=subprocess.STDOUT,
            )

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def kill(self) -> None:
        """SIGKILL: the operator gets no chance to clean up, as in a crash."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()

    def metric(self, name: str, **labels: str) -> float:
        """The sum of ``name``'s samples matching ``labels`` on the operator's /metrics."""
        from prometheus_client.parser import text_string_to_metric_families

        text = urllib.request.urlopen(
            f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5).read().decode()
        return sum(sample.value for family in text_string_to_metric_families(text)
                   for sample in family.samples
                   if sample.name == name and labels.items() <= sample.labels.items())

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""
