"""Shared bench helpers: a cluster (local or $KUBECONFIG) and the operator as a process."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


@contextlib.contextmanager
def cluster() -> Iterator[str]:
    """Yield a kubeconfig: $KUBECONFIG if set, else a throw-away local cluster."""
    if os.environ.get("KUBECONFIG"):
        yield os.environ["KUBECONFIG"]
        return
    from mlops_dev.cluster import LocalCluster

    home = Path(tempfile.mkdtemp(prefix="mlops-bench-"))
    local = LocalCluster(home)
    try:
        yield str(local.up())
    finally:
        local.down(quiet=True)
        shutil.rmtree(home, ignore_errors=True)


def kubectl(kubeconfig: str, *args: str, input: str | None = None, check: bool = True) -> str:
    result = subprocess.run(["kubectl", "--kubeconfig", kubeconfig, *args], input=input,
                            capture_output=True, text=True, timeout=120, check=False)
    if check and result.returncode != 0:
        raise RuntimeError(f"kubectl {' '.join(args)}: {result.stderr}")
    return result.stdout


@contextlib.contextmanager
def operator(kubeconfig: str, namespace: str, env: dict[str, str] | None = None,
             log_path: Path | None = None) -> Iterator[subprocess.Popen[bytes]]:
    """The operator from this checkout, watching ``namespace``; stopped on exit."""
    log = open(log_path or os.devnull, "ab")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [sys.executable, "-m", "mlops_operator.cli", f"--namespace={namespace}"],
        env={**os.environ, "KUBECONFIG": kubeconfig, **(env or {})},
        stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def wait_for(check: Callable[[], object], timeout: float, what: str) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
