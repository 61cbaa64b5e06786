"""Where the real node keeps its files and which addresses it uses.

One node per machine: its bridge, node IP, cgroup root and image store are fixed,
so clusters on one machine come one after another, never side by side. Everything
else lives under the cluster's home and goes with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mlops_dev.kubebuild import cache_root

NODE_NAME = "mlops-node"
BRIDGE = "mlops0"
NODE_IP = "10.244.0.1"
POD_SUBNET = "10.244.0.0/24"
SERVICE_CIDR = "10.96.0.0/16"
SERVICE_FIRST_IP = "10.96.0.1"
DNS_SERVICE_IP = "10.96.0.10"
CLUSTER_DOMAIN = "cluster.local"
CGROUP_ROOT = "mlops-node"
PAUSE_IMAGE = "localhost/pause:3.10"
CNI_PLUGIN_DIRS = ("/usr/lib/cni", "/opt/cni/bin")


@dataclass(frozen=True)
class NodeLayout:
    """The node's folders and sockets under one cluster home."""

    home: Path

    @property
    def root(self) -> Path:
        return self.home / "realnode"

    @property
    def containerd_root(self) -> Path:
        """containerd's content and snapshots: kept in the cache, like kind's node image,
        so loaded images outlive a cluster (pods do not: ``up`` and ``down`` remove them)."""
        return cache_root() / "node" / "containerd-root"

    @property
    def loaded_images(self) -> Path:
        return self.containerd_root.parent / "loaded-images.json"

    @property
    def volumes(self) -> Path:
        """The folders local-path-provisioner makes for PersistentVolumeClaims."""
        return self.root / "volumes"

    @property
    def containerd_state(self) -> Path:
        return self.root / "containerd" / "state"

    @property
    def containerd_config(self) -> Path:
        return self.root / "containerd" / "config.toml"

    @property
    def containerd_socket(self) -> Path:
        return self.root / "containerd" / "containerd.sock"

    @property
    def cni_conf_dir(self) -> Path:
        return self.root / "cni" / "net.d"

    @property
    def cni_state_dir(self) -> Path:
        return self.root / "cni" / "state"

    @property
    def kubelet_root(self) -> Path:
        return self.root / "kubelet"

    @property
    def kubelet_config(self) -> Path:
        return self.root / "kubelet-config.yaml"

    @property
    def kube_proxy_config(self) -> Path:
        return self.root / "kube-proxy-config.yaml"

    @property
    def resolv_conf(self) -> Path:
        return self.root / "resolv.conf"

    @property
    def saved_sysctls(self) -> Path:
        return self.root / "sysctls.json"

    def folders(self) -> tuple[Path, ...]:
        return (self.containerd_root, self.containerd_state, self.cni_conf_dir,
                self.cni_state_dir, self.kubelet_root)
