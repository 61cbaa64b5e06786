"""Two operator replicas: exactly one reconciles; the standby takes over when it dies."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from mlops_dev.processes import OperatorProcess, wait_for

from tests.conftest import kubectl

pytestmark = pytest.mark.cluster


def holder(kubeconfig: str, namespace: str) -> str | None:
    result = kubectl(kubeconfig, "get", "lease", "mlops-operator", "-n", namespace, "-o", "json",
                     check=False)
    return json.loads(result.stdout)["spec"].get("holderIdentity") if result.returncode == 0 \
        else None


def reconciled(kubeconfig: str, namespace: str, name: str) -> bool:
    result = kubectl(kubeconfig, "get", "mld", name, "-n", namespace, "-o", "json", check=False)
    return result.returncode == 0 and (json.loads(result.stdout).get("status") or {}).get(
        "observedGeneration") == 1


def deployment(kubeconfig: str, namespace: str, name: str) -> None:
    """A Deployment of a version that does not exist: it still gets a status at once."""
    manifest = {"apiVersion": "mlops.dev/v1alpha1", "kind": "Deployment",
                "metadata": {"name": name, "namespace": namespace},
                "spec": {"modelVersion": "absent-v1"}}
    kubectl(kubeconfig, "apply", "-f", "-", input=json.dumps(manifest))


def test_a_killed_active_replica_is_replaced_by_the_standby(
        kubeconfig: str, crds: None, namespace: str, tmp_path: Path) -> None:
    args = ("--leader-elect", f"--leader-elect-namespace={namespace}")
    replicas = [OperatorProcess(kubeconfig, namespace, tmp_path / f"replica-{i}.log", args=args)
                for i in range(2)]
    for replica in replicas:
        replica.start()
    try:
        identity = wait_for(lambda: holder(kubeconfig, namespace), 30, "a replica to lead",
                            lambda: replicas[0].log() + replicas[1].log())
        (active,) = [r for r in replicas if identity.endswith(f"-{r.pid}")]
        (standby,) = [r for r in replicas if r is not active]
        deployment(kubeconfig, namespace, "first")
        wait_for(lambda: reconciled(kubeconfig, namespace, "first"), 30,
                 "the active replica to reconcile", active.log)
        assert "holds the Lease" in active.log()
        assert "waiting for the Lease" in standby.log() and "holds the Lease" not in standby.log()
        with pytest.raises(OSError):  # the standby serves no metrics: it runs no handlers
            standby.metric("mlops_operator_reconciles_total")

        active.kill()
        killed = time.monotonic()
        deployment(kubeconfig, namespace, "second")
        wait_for(lambda: reconciled(kubeconfig, namespace, "second"), 30,
                 "the standby to take over", standby.log)
        took = time.monotonic() - killed
        assert took <= 15.0, f"the standby took {took:.1f}s to take over"
        assert holder(kubeconfig, namespace).endswith(f"-{standby.pid}")
        assert standby.metric("mlops_operator_reconciles_total", kind="Deployment") >= 1

        # A graceful stop (a rolling update) gives the Lease up: no wait for it to run out.
        successor = OperatorProcess(kubeconfig, namespace, tmp_path / "replica-2.log", args=args)
        replicas.append(successor)
        successor.start()
        wait_for(lambda: "waiting for the Lease" in successor.log(), 30, "a new standby")
        standby.stop()
        stopped = time.monotonic()
        wait_for(lambda: (holder(kubeconfig, namespace) or "").endswith(f"-{successor.pid}"),
                 30, "the new standby to take the given-up Lease", successor.log)
        took = time.monotonic() - stopped
        assert "gave up the Lease" in standby.log()
        assert took < 8.0, f"a graceful handover took {took:.1f}s (the Lease lasts 8s)"
    finally:
        for replica in replicas:
            replica.stop()
