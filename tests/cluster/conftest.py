"""Fixtures for tests against the cluster: the operator as a process."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO


class OperatorProcess:
    """The operator started from the package, watching one namespace."""

    def __init__(self, kubeconfig: str, namespace: str, log_path: Path,
                 env: dict[str, str] | None = None) -> None:
        self.kubeconfig, self.namespace, self.log_path = kubeconfig, namespace, log_path
        self.env = env or {}
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "mlops_operator.cli", f"--namespace={self.namespace}"],
                env={**os.environ, "KUBECONFIG": self.kubeconfig, **self.env},
                stdout=log, stderr=subprocess.STDOUT, cwd=REPO,
            )

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

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]


@pytest.fixture
def operator(kubeconfig: str, crds: None, namespace: str,
             tmp_path: Path) -> Iterator[OperatorProcess]:
    process = OperatorProcess(kubeconfig, namespace, tmp_path / "operator.log")
    process.start()
    try:
        yield process
    finally:
        process.stop()


def wait_for(check: Callable[[], object], timeout: float, what: str,
             detail: Callable[[], str] = lambda: "") -> object:
    """Poll ``check`` until truthy; on timeout fail naming ``what`` and the last value seen."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; "
                         f"last seen: {last!r}\n{detail()}")
