"""The local cluster's real node: what `cluster up` starts after the control plane.

containerd (CRI) runs the pods under runc on a CNI bridge; the kubelet registers
the node with the API server; kube-proxy programs ClusterIP Services in iptables;
CoreDNS and local-path-provisioner (the default StorageClass) run as Deployments from
locally built images, as on kind.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from mlops_dev import nodebuild
from mlops_dev.kubebuild import REPO_ROOT
from mlops_dev.node import images, network, runtime
from mlops_dev.node.layout import NODE_IP, NODE_NAME, PAUSE_IMAGE, NodeLayout
from mlops_dev.processes import kubectl, wait_for

COREDNS_MANIFEST = REPO_ROOT / "dev" / "node" / "coredns.yaml"
STORAGE_MANIFEST = REPO_ROOT / "dev" / "node" / "local-path-storage.yaml"
Spawn = Callable[[str, list[str], dict[str, str] | None], None]
Stop = Callable[[str, float], None]


class RealNode:
    """One real node rooted in a cluster home; the cluster spawns and stops its processes."""

    def __init__(self, home: Path, pki_dir: Path, spawn: Spawn, stop: Stop,
                 log_tail: Callable[[str], Callable[[], str]]) -> None:
        self.layout = NodeLayout(home)
        self.pki_dir, self.spawn, self.stop_component, self.log_tail = (
            pki_dir, spawn, stop, log_tail)

    @staticmethod
    def tools(log=sys.stderr) -> dict[str, Path]:
        return nodebuild.ensure_node_tools(log)

    @staticmethod
    def build_images(log=sys.stderr) -> None:
        """Every image the node runs: pause, CoreDNS, local-path-provisioner, the Debian
        base (its helper pods) and the project's two."""
        images.ensure_pause(log)
        images.ensure_binary_image(images.COREDNS_IMAGE,
                                   nodebuild.COREDNS.directory() / "coredns", "coredns", log)
        images.ensure_binary_image(
            images.LOCAL_PATH_IMAGE,
            nodebuild.LOCAL_PATH.directory() / "local-path-provisioner", "local-path", log)
        images.ensure_base(log)  # the Prometheus image's shell for its init container
        images.ensure_binary_image(images.PROMETHEUS_IMAGE,
                                   nodebuild.PROMETHEUS.directory() / "prometheus",
                                   "prometheus", log)
        images.ensure_binary_image(images.ALERTMANAGER_IMAGE,
                                   nodebuild.ALERTMANAGER.directory() / "alertmanager",
                                   "alertmanager", log)
        images.build_project_images(log)

    def load_binary_image(self, name: str, binary: Path, containerfile: str,
                          log=sys.stderr) -> None:
        """An image only some tests need (one static binary, its Containerfile folder under
        dev/node/images), built on first use and imported into the running node."""
        images.ensure_binary_image(name, binary, containerfile, log)
        images.load([name], self.tools(log)["containerd"] / "ctr",
                    self.layout.containerd_socket, self.layout.loaded_images, log)

    def network_up(self) -> None:
        self.layout.root.mkdir(parents=True, exist_ok=True)
        network.up(self.layout.saved_sysctls)

    def start(self, kube_bin: Path, tools: dict[str, Path], ports: dict[str, int],
              kubeconfigs: dict[str, Path], timeout: float, log=sys.stderr) -> None:
        containerd_bin = tools["containerd"]
        runtime.write_configs(self.layout, self.pki_dir, tools["runc"] / "runc", ports,
                              kubeconfigs["kube-proxy"])
        runtime.prepare_cgroups()
        # containerd finds its runc shim on PATH.
        path = f"{containerd_bin}{os.pathsep}{os.environ.get('PATH', '')}"
        self.spawn("containerd", [str(containerd_bin / "containerd"), "--config",
                                  str(self.layout.containerd_config)], {"PATH": path})
        crictl = tools["crictl"] / "crictl"
        wait_for(lambda: runtime.containerd_answers(crictl, self.layout.containerd_socket),
                 timeout, "containerd to answer CRI", self.log_tail("containerd"))
        runtime.remove_pods(crictl, self.layout.containerd_socket)  # a crashed node's pods
        images.load([PAUSE_IMAGE, images.COREDNS_IMAGE, images.LOCAL_PATH_IMAGE,
                     images.BASE_IMAGE, images.PROMETHEUS_IMAGE, images.ALERTMANAGER_IMAGE,
                     images.RUNTIME_IMAGE, images.OPERATOR_IMAGE],
                    containerd_bin / "ctr",
                    self.layout.containerd_socket, self.layout.loaded_images, log)
        self.spawn("kubelet", [
            str(kube_bin / "kubelet"), f"--config={self.layout.kubelet_config}",
            f"--kubeconfig={kubeconfigs['kubelet']}", f"--node-ip={NODE_IP}",
            f"--hostname-override={NODE_NAME}", f"--root-dir={self.layout.kubelet_root}",
            "--v=1"], {"PATH": path})
        self.spawn("kube-proxy", [str(kube_bin / "kube-proxy"),
                                  f"--config={self.layout.kube_proxy_config}"], None)

    def install_addons(self, kubeconfig: Path, timeout: float) -> None:
        """What kind installs on its node: CoreDNS behind the kube-dns Service, and
        local-path-provisioner with its folders under the cluster's home."""
        self.layout.volumes.mkdir(parents=True, exist_ok=True)
        storage = STORAGE_MANIFEST.read_text().replace("VOLUMES_DIR", str(self.layout.volumes))
        kubectl(str(kubeconfig), "apply", "-f", str(COREDNS_MANIFEST))
        kubectl(str(kubeconfig), "apply", "-f", "-", input=storage)
        for namespace, deployment in (("kube-system", "coredns"),
                                      ("local-path-storage", "local-path-provisioner")):
            kubectl(str(kubeconfig), "-n", namespace, "rollout", "status",
                    f"deployment/{deployment}", f"--timeout={int(timeout)}s",
                    timeout=timeout + 10)

    def stop(self) -> None:
        runtime.stop_node(self.layout, nodebuild.CRICTL.directory() / "crictl",
                          self.stop_component)

    def network_down(self) -> None:
        network.down(self.layout.saved_sysctls)

    def crictl(self, *args: str) -> subprocess.CompletedProcess[str]:
        """crictl against this node's containerd (diagnostics and tests)."""
        return runtime.crictl(nodebuild.CRICTL.directory() / "crictl",
                              self.layout.containerd_socket, *args)
