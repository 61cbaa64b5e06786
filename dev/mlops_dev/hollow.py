"""Hollow nodes for scale tests: kwok simulates nodes and the pods bound to them.

kwok (sigs.k8s.io/kwok, built from its Go module like the control plane) keeps
the Node objects labelled ``mlops.dev/hollow`` Ready and marks every pod
scheduled on them Running and Ready without running anything, so a thousand
model server pods cost no memory. Their pod IPs are in a loopback range, so
anything that tries to reach one (Prometheus discovering pods) stays on this
machine. Real pods keep running on the real local node.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from mlops_dev.kubebuild import GO_MODULE_DIR, cache_root
from mlops_dev.processes import kubectl

#: v0.7.0 (client-go 0.33): from v0.8.0 on, kwok's informers ask for streamed watch lists,
#: which need etcd's watch progress requests (etcd >= 3.4.31); against Debian's etcd
#: 3.4.23 each such watch fails and kwok sees pods only on its periodic relist, ~30 s late.
KWOK_VERSION = "v0.7.0"
HOLLOW_LABEL = "mlops.dev/hollow"
KWOK_ANNOTATION = "kwok.x-k8s.io/node"
#: Fake pod IPs: loopback, never a private or public range.
POD_CIDR = "127.240.0.1/12"
PODS_PER_NODE = 110
STAGES = ("node/fast/node-initialize.yaml", "node/heartbeat/node-heartbeat.yaml",
          "pod/fast/pod-ready.yaml", "pod/fast/pod-complete.yaml", "pod/fast/pod-delete.yaml")


def kwok_binary(log=sys.stderr) -> Path:
    """kwok, built once per version into the cache (``go install`` of the published module)."""
    directory = cache_root() / f"kwok-{KWOK_VERSION}" / "bin"
    binary = directory / "kwok"
    if binary.exists():
        return binary
    if shutil.which("go") is None:
        raise RuntimeError("Go is needed to build kwok for hollow nodes; install Go >= 1.24")
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory.parent / "build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if binary.exists():
            return binary
        print(f"building kwok {KWOK_VERSION} into {directory} (first time only)", file=log,
              flush=True)
        started = time.monotonic()
        subprocess.run(["go", "install", f"sigs.k8s.io/kwok/cmd/kwok@{KWOK_VERSION}"],
                       check=True, env={**os.environ, "GOBIN": str(directory)})
        print(f"built kwok in {time.monotonic() - started:.0f}s", file=log, flush=True)
    return binary


def node_manifest(name: str) -> dict[str, Any]:
    """A Node that kwok manages: big enough for ``PODS_PER_NODE`` model servers."""
    capacity = {"cpu": "64", "memory": "512Gi", "pods": str(PODS_PER_NODE)}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {KWOK_ANNOTATION: "fake"},
            "labels": {HOLLOW_LABEL: "true", "kubernetes.io/hostname": name,
                       "kubernetes.io/os": "linux", "type": "kwok"},
        },
        "spec": {},
        "status": {"allocatable": capacity, "capacity": capacity,
                   "nodeInfo": {"kubeletVersion": "fake", "kubeProxyVersion": "fake",
                                "architecture": "amd64", "operatingSystem": "linux"}},
    }


def stage_files() -> list[Path]:
    """kwok's published stages: nodes become Ready and keep a heartbeat; pods get Ready.

    They come with the module kwok was built from (``go mod download``), not from here.
    """
    result = subprocess.run(
        ["go", "mod", "download", "-json", f"sigs.k8s.io/kwok@{KWOK_VERSION}"],
        check=True, capture_output=True, text=True, cwd=GO_MODULE_DIR)
    root = Path(json.loads(result.stdout)["Dir"]) / "kustomize" / "stage"
    return [root / stage for stage in STAGES]


def command(binary: Path, kubeconfig: Path) -> list[str]:
    """kwok managing only the hollow nodes, with loopback pod IPs."""
    return [
        str(binary),
        *(f"--config={path}" for path in stage_files()),
        f"--kubeconfig={kubeconfig}",
        "--manage-all-nodes=false",
        f"--manage-nodes-with-annotation-selector={KWOK_ANNOTATION}=fake",
        f"--cidr={POD_CIDR}",
        "--node-ip=127.0.0.1",
    ]


def add_nodes(kubeconfig: Path, count: int) -> list[str]:
    """Create ``count`` hollow Node objects (idempotent); returns their names."""
    names = [f"hollow-{index}" for index in range(count)]
    documents = yaml.safe_dump_all([node_manifest(name) for name in names])
    kubectl(str(kubeconfig), "apply", "-f", "-", input=documents)
    return names


def remove_nodes(kubeconfig: Path) -> None:
    """Delete every hollow Node (their pods go with them)."""
    kubectl(str(kubeconfig), "delete", "nodes", "-l", f"{HOLLOW_LABEL}=true", "--wait=false",
            "--ignore-not-found", check=False, timeout=30)
