"""The node components' configuration files, rendered from the layout (no I/O).

Each choice that differs from a stock node says why: this machine has cgroup v1
without systemd, no CAP_SYS_RESOURCE, and a default route that must never carry
pod traffic.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from mlops_dev.node.layout import (
    BRIDGE,
    CGROUP_ROOT,
    CLUSTER_DOMAIN,
    DNS_SERVICE_IP,
    NODE_IP,
    NODE_NAME,
    PAUSE_IMAGE,
    POD_SUBNET,
    NodeLayout,
)


def containerd_toml(layout: NodeLayout, runc: Path, cni_bin_dirs: tuple[str, ...]) -> str:
    """containerd's config (version 3): its own root, state and socket under the home."""
    cri_runtime = 'plugins."io.containerd.cri.v1.runtime"'
    return "\n".join([
        "version = 3",
        f'root = "{layout.containerd_root}"',
        f'state = "{layout.containerd_state}"',
        "[grpc]",
        f'  address = "{layout.containerd_socket}"',
        "[ttrpc]",
        f'  address = "{layout.containerd_socket}.ttrpc"',
        "[metrics]",
        '  address = ""',
        '[plugins."io.containerd.cri.v1.images"]',
        '  snapshotter = "overlayfs"',
        '[plugins."io.containerd.cri.v1.images".pinned_images]',
        f'  sandbox = "{PAUSE_IMAGE}"',
        f"[{cri_runtime}]",
        # Without CAP_SYS_RESOURCE runc cannot lower a container's oom_score_adj below
        # its own ("nsexec: failed to update /proc/self/oom_score_adj: Permission denied").
        "  restrict_oom_score_adj = true",
        # Pod network namespaces under the state folder, not /var/run/netns.
        "  netns_mounts_under_state_dir = true",
        f"[{cri_runtime}.containerd.runtimes.runc]",
        '  runtime_type = "io.containerd.runc.v2"',
        f"[{cri_runtime}.containerd.runtimes.runc.options]",
        f'  BinaryName = "{runc}"',
        "  SystemdCgroup = false",
        f"[{cri_runtime}.cni]",
        f"  bin_dirs = {json.dumps(list(cni_bin_dirs))}",
        f'  conf_dir = "{layout.cni_conf_dir}"',
        '[plugins."io.containerd.grpc.v1.cri"]',
        '  stream_server_address = "127.0.0.1"',
        '  stream_server_port = "0"',
        "",
    ])


def cni_conflist(layout: NodeLayout) -> str:
    """A bridge network with host-local addresses: what kind's kindnet gives a single node."""
    return json.dumps({
        "cniVersion": "1.0.0",
        "name": "mlops-pods",
        "plugins": [
            {"type": "bridge", "bridge": BRIDGE, "isGateway": True, "ipMasq": False,
             "hairpinMode": True,
             "ipam": {"type": "host-local", "ranges": [[{"subnet": POD_SUBNET,
                                                         "gateway": NODE_IP}]],
                      "routes": [{"dst": "0.0.0.0/0"}],
                      "dataDir": str(layout.cni_state_dir / "ipam")}},
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }, indent=2)


def kubelet_config(layout: NodeLayout, pki_dir: Path, ports: dict[str, int]) -> str:
    """KubeletConfiguration: webhook authn/z as kubeadm sets it, cgroupfs on cgroup v1."""
    config = {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": NODE_IP,
        "port": ports["kubelet"],
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": ports["kubelet_healthz"],
        "authentication": {"anonymous": {"enabled": False},
                           "webhook": {"enabled": True},
                           "x509": {"clientCAFile": str(pki_dir / "ca.crt")}},
        "authorization": {"mode": "Webhook"},
        "tlsCertFile": str(pki_dir / "kubelet-server.crt"),
        "tlsPrivateKeyFile": str(pki_dir / "kubelet-server.key"),
        "containerRuntimeEndpoint": f"unix://{layout.containerd_socket}",
        "cgroupDriver": "cgroupfs",
        # The kubelet's pods live under their own cgroup, removed by `down`.
        "cgroupRoot": f"/{CGROUP_ROOT}",
        "failCgroupV1": False,
        "failSwapOn": False,
        "enforceNodeAllocatable": [],
        "clusterDomain": CLUSTER_DOMAIN,
        "clusterDNS": [DNS_SERVICE_IP],
        "resolvConf": str(layout.resolv_conf),
        "staticPodPath": "",
        "serializeImagePulls": False,
        # The images are loaded, never pulled; a small disk must not evict them.
        "imageGCHighThresholdPercent": 100,
        "evictionHard": {"nodefs.available": "1%", "imagefs.available": "1%",
                         "memory.available": "100Mi"},
        "evictionPressureTransitionPeriod": "10s",
        "nodeStatusReportFrequency": "10s",
        "shutdownGracePeriod": "0s",
        "localStorageCapacityIsolation": True,
    }
    return yaml.safe_dump(config, sort_keys=False)


def kube_proxy_config(kubeconfig: Path, ports: dict[str, int]) -> str:
    """kube-proxy in iptables mode; its endpoints bound to loopback."""
    config = {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "mode": "iptables",
        "clientConnection": {"kubeconfig": str(kubeconfig)},
        "clusterCIDR": POD_SUBNET,
        "hostnameOverride": NODE_NAME,
        "bindAddress": NODE_IP,
        "healthzBindAddress": f"127.0.0.1:{ports['proxy_healthz']}",
        "metricsBindAddress": f"127.0.0.1:{ports['proxy_metrics']}",
        # NodePorts on the node IP only: loopback stays the host's (no route_localnet).
        "nodePortAddresses": [f"{NODE_IP}/32"],
        "iptables": {"localhostNodePorts": False},
        # The host's conntrack settings are not the node's to change.
        "conntrack": {"maxPerCore": 0, "tcpEstablishedTimeout": "0s",
                      "tcpCloseWaitTimeout": "0s"},
    }
    return yaml.safe_dump(config, sort_keys=False)


def resolv_conf() -> str:
    """The resolv.conf kubelet hands pods with dnsPolicy Default: nothing outside."""
    return "nameserver 127.0.0.1\noptions ndots:1\n"
