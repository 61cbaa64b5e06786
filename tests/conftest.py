"""Shared fixtures: the local cluster (or the cluster named by KUBECONFIG)."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

# Where PYTHONDONTWRITEBYTECODE is set (as on these machines and in CI), every run would
# compile again each module it imports and rewrite every test's asserts: about half of the
# unit loop's time. The suite keeps its compiled files (in __pycache__, ignored by git and
# by the images' build context) whatever the environment says.
sys.dont_write_bytecode = False

import pytest  # noqa: E402
from mlops_dev.cluster import LocalCluster  # noqa: E402
from mlops_dev.processes import kubectl, wait_for  # noqa: E402

from tests.webhook import Receiver, running_receiver  # noqa: E402

__all__ = ["REPO", "kubectl"]

REPO = Path(__file__).resolve().parents[1]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that take the session's cluster down and up again run after all others."""
    items.sort(key=lambda item: item.get_closest_marker("cluster_lifecycle") is not None)


@pytest.fixture(scope="session")
def local_cluster() -> Iterator[LocalCluster | None]:
    """A fresh local cluster for this test session, or None when $KUBECONFIG names one."""
    if os.environ.get("KUBECONFIG"):
        yield None
        return
    home = Path(tempfile.mkdtemp(prefix="mlops-dev-test-"))
    cluster = LocalCluster(home)
    try:
        path = cluster.up(timeout=180)
        os.environ["KUBECONFIG"] = str(path)
        yield cluster
    finally:
        cluster.down(quiet=True)
        os.environ.pop("KUBECONFIG", None)
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def kubeconfig(local_cluster: LocalCluster | None) -> str:
    """A kubeconfig for a working cluster: $KUBECONFIG if given, else the local cluster's."""
    return str(local_cluster.kubeconfig) if local_cluster else os.environ["KUBECONFIG"]


@pytest.fixture(scope="session")
def endpoints(local_cluster: LocalCluster | None) -> dict[str, str]:
    """Prometheus, Alertmanager and the operator's webhook address (local cluster only)."""
    if local_cluster is None:
        pytest.skip("needs the local cluster's Prometheus and Alertmanager on loopback")
    return local_cluster.endpoints()


@pytest.fixture(scope="session")
def crds(kubeconfig: str) -> None:
    """The project's CRDs, applied and Established."""
    kubectl(kubeconfig, "apply", "-f", str(REPO / "crds"))
    # For a moment after creation a CRD has no status.conditions, and kubectl wait then
    # fails ("accessor error: <nil>") instead of waiting: ask again until it can wait.
    wait_for(lambda: kubectl(
        kubeconfig,
        "wait",
        "--for=condition=Established",
        "--timeout=60s",
        "crd/trainingjobs.mlops.dev",
        "crd/modelversions.mlops.dev",
        "crd/deployments.mlops.dev",
        check=False,
    ).returncode == 0, 90, "the CRDs to be Established")


@pytest.fixture
def namespace(kubeconfig: str) -> Iterator[str]:
    """A fresh namespace per test, deleted afterwards (without waiting)."""
    name = f"t-{uuid.uuid4().hex[:8]}"
    kubectl(kubeconfig, "create", "namespace", name)
    yield name
    kubectl(kubeconfig, "delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A webhook on the loopback that keeps what it is sent (``tests.webhook``)."""
    with running_receiver() as server:
        yield server
