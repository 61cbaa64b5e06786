"""Hollow nodes: kwok keeps them Ready and runs their pods as Ready without running them."""

from __future__ import annotations

import json

import pytest
from mlops_dev.cluster import NODE_NAME, LocalCluster
from mlops_dev.processes import wait_for

from tests.conftest import kubectl

pytestmark = pytest.mark.cluster


def test_pods_on_hollow_nodes_are_ready_with_loopback_ips(
        local_cluster: LocalCluster | None, kubeconfig: str, namespace: str) -> None:
    if local_cluster is None:
        pytest.skip("hollow nodes are added by the local cluster")
    local_cluster.add_hollow_nodes(2, timeout=60)
    try:
        nodes = json.loads(kubectl(kubeconfig, "get", "nodes", "-l", "mlops.dev/hollow=true",
                                   "-o", "json").stdout)["items"]
        assert sorted(n["metadata"]["name"] for n in nodes) == ["hollow-0", "hollow-1"]
        kubectl(kubeconfig, "create", "deployment", "hollow", "-n", namespace,
                "--image=never-pulled.invalid/none:1", "--replicas=6")
        kubectl(kubeconfig, "patch", "deployment", "hollow", "-n", namespace, "-p", json.dumps(
            {"spec": {"template": {"spec": {"nodeSelector": {"mlops.dev/hollow": "true"}}}}}))

        def ready_pods() -> list[dict]:
            pods = json.loads(kubectl(kubeconfig, "get", "pods", "-n", namespace, "-o",
                                      "json").stdout)["items"]
            ready = [p for p in pods if p["status"].get("phase") == "Running" and any(
                c["type"] == "Ready" and c["status"] == "True"
                for c in p["status"].get("conditions") or [])
                and p["spec"].get("nodeSelector")]
            return ready if len(ready) == 6 else []

        pods = wait_for(ready_pods, 60, "6 pods Ready on hollow nodes")
        assert {p["spec"]["nodeName"] for p in pods} <= {"hollow-0", "hollow-1"}
        assert NODE_NAME not in {p["spec"]["nodeName"] for p in pods}
        # Their addresses are loopback: nothing that probes them leaves this machine.
        assert all(p["status"]["podIP"].startswith("127.") for p in pods)
    finally:
        local_cluster.remove_hollow_nodes()
    wait_for(lambda: json.loads(kubectl(kubeconfig, "get", "nodes", "-l",
                                        "mlops.dev/hollow=true", "-o", "json").stdout)["items"]
             == [], 30, "the hollow nodes to be removed")
