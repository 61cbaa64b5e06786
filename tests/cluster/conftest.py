"""Fixtures for tests against the cluster: the operator as a process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from mlops_dev.processes import OperatorProcess, wait_for

__all__ = ["OperatorProcess", "wait_for", "operator"]


@pytest.fixture
def operator(kubeconfig: str, crds: None, namespace: str,
             tmp_path: Path) -> Iterator[OperatorProcess]:
    process = OperatorProcess(kubeconfig, namespace, tmp_path / "operator.log")
    process.start()
    try:
        yield process
    finally:
        process.stop()
