"""Shared bench helpers: a throw-away local cluster and kubectl."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from mlops_dev import processes
from mlops_dev.cluster import LocalCluster
from mlops_dev.processes import OperatorProcess, operator_env, wait_for

REPO = Path(__file__).resolve().parents[1]
__all__ = ["REPO", "OperatorProcess", "cluster", "kubectl", "operator_env", "wait_for"]


@contextlib.contextmanager
def cluster(hollow_nodes: int = 0) -> Iterator[LocalCluster]:
    """A throw-away local cluster with the CRDs installed; stopped and removed on exit."""
    home = Path(tempfile.mkdtemp(prefix="mlops-bench-"))
    local = LocalCluster(home)
    try:
        local.up(hollow_nodes=hollow_nodes)
        kubectl(str(local.kubeconfig), "apply", "-f", str(REPO / "crds"))
        kubectl(str(local.kubeconfig), "wait", "--for=condition=Established", "crd", "--all")
        yield local
    finally:
        local.down(quiet=True)
        shutil.rmtree(home, ignore_errors=True)


def kubectl(kubeconfig: str, *args: str, input: str | None = None, check: bool = True) -> str:
    """kubectl's output (the benchmarks only read stdout)."""
    return processes.kubectl(kubeconfig, *args, input=input, check=check).stdout


def iris_training_job(name: str, params: str, dataset_extra: str = "") -> str:
    """A TrainingJob manifest of the iris LogisticRegression the benchmarks train."""
    return f"""
apiVersion: mlops.dev/v1alpha1
kind: TrainingJob
metadata: {{name: {name}}}
spec:
  model: iris
  dataset: {{uri: "sklearn://iris"{dataset_extra}}}
  estimator: {{name: LogisticRegression, params: {params}}}
"""
