"""The control plane's command lines: etcd, kube-apiserver, controller-manager, scheduler.

etcd and the component ports stay on loopback; the API server listens on the node
IP (the bridge's address), which the host and the pods both reach, and advertises
it so the ``kubernetes`` Service points there.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from mlops_dev.node.layout import NODE_IP, SERVICE_CIDR


def etcd_command(data_dir: Path, client_port: int, peer_port: int) -> list[str]:
    etcd = shutil.which("etcd")
    if etcd is None:
        raise RuntimeError("etcd not found: install Debian's etcd-server package")
    client, peer = f"http://127.0.0.1:{client_port}", f"http://127.0.0.1:{peer_port}"
    return [etcd, "--name", "mlops-dev", "--data-dir", str(data_dir),
            "--listen-client-urls", client, "--advertise-client-urls", client,
            "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
            "--initial-cluster", f"mlops-dev={peer}",
            "--quota-backend-bytes", str(2 * 1024**3), "--log-level", "warn"]


def apiserver_command(binaries: Path, pki_dir: Path, etcd_port: int, port: int) -> list[str]:
    return [
        str(binaries / "kube-apiserver"),
        f"--etcd-servers=http://127.0.0.1:{etcd_port}",
        f"--bind-address={NODE_IP}",
        f"--secure-port={port}",
        f"--advertise-address={NODE_IP}",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        f"--client-ca-file={pki_dir / 'ca.crt'}",
        f"--tls-cert-file={pki_dir / 'apiserver.crt'}",
        f"--tls-private-key-file={pki_dir / 'apiserver.key'}",
        f"--kubelet-client-certificate={pki_dir / 'apiserver-kubelet-client.crt'}",
        f"--kubelet-client-key={pki_dir / 'apiserver-kubelet-client.key'}",
        f"--kubelet-certificate-authority={pki_dir / 'ca.crt'}",
        "--kubelet-preferred-address-types=InternalIP",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        f"--service-account-key-file={pki_dir / 'sa.pub'}",
        f"--service-account-signing-key-file={pki_dir / 'sa.key'}",
        "--authorization-mode=Node,RBAC",
        "--allow-privileged=true",
        "--profiling=false",
    ]


def controller_manager_command(binaries: Path, kubeconfig: Path, pki_dir: Path,
                               port: int) -> list[str]:
    return [
        str(binaries / "kube-controller-manager"),
        *_controller_flags(kubeconfig, port),
        f"--service-account-private-key-file={pki_dir / 'sa.key'}",
        f"--root-ca-file={pki_dir / 'ca.crt'}",
        f"--cluster-signing-cert-file={pki_dir / 'ca.crt'}",
        f"--cluster-signing-key-file={pki_dir / 'ca.key'}",
        "--use-service-account-credentials=true",
        "--profiling=false",
    ]


def scheduler_command(binaries: Path, kubeconfig: Path, port: int) -> list[str]:
    return [str(binaries / "kube-scheduler"), *_controller_flags(kubeconfig, port),
            "--profiling=false"]


def _controller_flags(kubeconfig: Path, port: int) -> list[str]:
    """What the controller manager and the scheduler share: one kubeconfig for the API and
    for checking callers of their own loopback-only endpoint; no leader election."""
    return [f"--kubeconfig={kubeconfig}", f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}", "--bind-address=127.0.0.1",
            f"--secure-port={port}", "--leader-elect=false"]
