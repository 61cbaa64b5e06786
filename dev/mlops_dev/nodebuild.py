"""Build the node's parts from the published Go modules: containerd, runc, CoreDNS, crictl,
local-path-provisioner, Prometheus and Alertmanager.

Debian's containerd (1.6) is older than kubelet v1.34 supports, Debian's Prometheus lacks
Kubernetes discovery, and the monitoring manifests name images of exact Prometheus and
Alertmanager releases; so each comes from its own module at a pinned version (``go install
module@version`` uses exactly that release's go.sum), once per version into the cache,
like the control plane.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from mlops_dev.kubebuild import cache_root


@dataclass(frozen=True)
class GoTool:
    """Commands of one Go module at one version, and how to build them."""

    name: str
    module: str
    version: str
    packages: tuple[str, ...]  # paths inside the module ("" is its root)
    binaries: tuple[str, ...]
    tags: str = ""
    cgo: bool = False
    ldflags: str = "-s -w"

    def directory(self) -> Path:
        return cache_root() / f"{self.name}-{self.version}" / "bin"


CONTAINERD = GoTool(
    "containerd", "github.com/containerd/containerd/v2", "v2.3.7",
    ("cmd/containerd", "cmd/containerd-shim-runc-v2", "cmd/ctr"),
    ("containerd", "containerd-shim-runc-v2", "ctr"),
    tags="no_btrfs no_devmapper no_zfs",
    ldflags="-s -w -X github.com/containerd/containerd/v2/version.Version=v2.3.7",
)
# runc needs cgo for seccomp (Debian's libseccomp-dev); v1.4 installs without replace rules.
RUNC = GoTool("runc", "github.com/opencontainers/runc", "v1.4.3", ("",), ("runc",),
              tags="seccomp urfave_cli_no_docs", cgo=True,
              ldflags="-s -w -X main.version=1.4.3")
COREDNS = GoTool("coredns", "github.com/coredns/coredns", "v1.12.4", ("",), ("coredns",))
# crictl: what kind's node has to list and remove pods through CRI (``down`` uses it).
CRICTL = GoTool("crictl", "sigs.k8s.io/cri-tools", "v1.34.0", ("cmd/crictl",), ("crictl",),
                ldflags="-s -w -X sigs.k8s.io/cri-tools/pkg/version.Version=v1.34.0")
# kind's default StorageClass: a folder on the node per claim, made by a helper pod.
LOCAL_PATH = GoTool("local-path-provisioner", "github.com/rancher/local-path-provisioner",
                    "v0.0.30", ("",), ("local-path-provisioner",),
                    ldflags="-s -w -X main.VERSION=v0.0.30")
# Prometheus 3 with Kubernetes service discovery, which Debian's build leaves out (and
# no other discovery: the build takes a third of the time).
PROMETHEUS = GoTool("prometheus", "github.com/prometheus/prometheus", "v0.316.0",
                    ("cmd/prometheus",), ("prometheus",),
                    tags="remove_all_sd enable_kubernetes_sd",
                    ldflags="-s -w -X github.com/prometheus/common/version.Version=3.16.0")
ALERTMANAGER = GoTool("alertmanager", "github.com/prometheus/alertmanager", "v0.28.1",
                      ("cmd/alertmanager",), ("alertmanager",),
                      ldflags="-s -w -X github.com/prometheus/common/version.Version=0.28.1")
NODE_TOOLS = (CONTAINERD, RUNC, COREDNS, CRICTL, LOCAL_PATH, PROMETHEUS, ALERTMANAGER)


def _built(tool: GoTool) -> bool:
    directory = tool.directory()
    return (directory / "BUILD_OK").exists() and all(
        (directory / binary).exists() for binary in tool.binaries)


def ensure_tool(tool: GoTool, log=sys.stderr) -> Path:
    """Return the folder holding ``tool``'s binaries, building them the first time."""
    directory = tool.directory()
    if _built(tool):
        return directory
    if shutil.which("go") is None:
        raise RuntimeError(f"Go is needed to build {tool.name}; install Go >= 1.24")
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory.parent / "build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _built(tool):
            return directory
        print(f"building {tool.name} {tool.version} (first time only)", file=log, flush=True)
        started = time.monotonic()
        env = {**os.environ, "GOBIN": str(directory), "CGO_ENABLED": "1" if tool.cgo else "0",
               "GOFLAGS": "-buildvcs=false"}
        packages = [f"{tool.module}/{p}".rstrip("/") + f"@{tool.version}" for p in tool.packages]
        command = ["go", "install", "-trimpath", "-ldflags", tool.ldflags,
                   *(["-tags", tool.tags] if tool.tags else []), *packages]
        subprocess.run(command, env=env, check=True, cwd=directory)
        (directory / "BUILD_OK").write_text(f"built in {time.monotonic() - started:.0f}s\n")
        print(f"{tool.name} built in {time.monotonic() - started:.0f}s", file=log, flush=True)
    return directory


def ensure_node_tools(log=sys.stderr) -> dict[str, Path]:
    """Every node tool's folder, by tool name."""
    return {tool.name: ensure_tool(tool, log) for tool in NODE_TOOLS}
