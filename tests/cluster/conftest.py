"""Fixtures for tests against the cluster: the operator as a process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from mlops_dev.processes import OperatorProcess, operator_env, wait_for

__all__ = ["OperatorProcess", "wait_for", "operator", "measured_operator"]


@pytest.fixture
def operator(kubeconfig: str, crds: None, namespace: str,
             tmp_path: Path) -> Iterator[OperatorProcess]:
    process = OperatorProcess(kubeconfig, namespace, tmp_path / "operator.log")
    process.start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
def measured_operator(kubeconfig: str, crds: None, namespace: str, endpoints: dict[str, str],
                      tmp_path: Path) -> Iterator[OperatorProcess]:
    """The operator wired to the local cluster's Prometheus and Alertmanager: it measures
    checks and serves the webhook alerts are posted to."""
    process = OperatorProcess(kubeconfig, namespace, tmp_path / "operator.log",
                              env=operator_env(endpoints))
    process.start()
    try:
        yield process
    finally:
        process.stop()
