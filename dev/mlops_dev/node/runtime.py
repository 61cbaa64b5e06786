"""The real node's processes: containerd, kubelet and kube-proxy, and their removal.

``start`` brings them up on the bridge that ``network.up`` made; ``stop`` takes the
node apart so that nothing outlives it, even when every component was SIGKILLed:
pods are removed through CRI when containerd still answers, and whatever is left
(container processes, shims, mounts, cgroups, chains, links) is found by where it
lives (the node's cgroup, its socket, its folders) and removed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from mlops_dev.node import config
from mlops_dev.node.layout import CGROUP_ROOT, CNI_PLUGIN_DIRS, NodeLayout

CGROUP_MOUNT = Path("/sys/fs/cgroup")


def cni_bin_dirs() -> tuple[str, ...]:
    found = tuple(d for d in CNI_PLUGIN_DIRS if (Path(d) / "bridge").exists())
    if not found:
        raise RuntimeError("CNI plugins not found: install Debian's containernetworking-plugins")
    return found


def write_configs(layout: NodeLayout, pki_dir: Path, runc: Path, ports: dict[str, int],
                  proxy_kubeconfig: Path) -> None:
    for folder in layout.folders():
        folder.mkdir(parents=True, exist_ok=True)
    layout.containerd_config.write_text(config.containerd_toml(layout, runc, cni_bin_dirs()))
    (layout.cni_conf_dir / "10-mlops-pods.conflist").write_text(config.cni_conflist(layout))
    layout.kubelet_config.write_text(config.kubelet_config(layout, pki_dir, ports))
    layout.kube_proxy_config.write_text(config.kube_proxy_config(proxy_kubeconfig, ports))
    layout.resolv_conf.write_text(config.resolv_conf())


def cgroup_hierarchies() -> list[Path]:
    """Every mounted cgroup hierarchy (v1 controllers, the named systemd one, unified)."""
    return [path for path in CGROUP_MOUNT.iterdir()
            if path.is_dir() and not path.is_symlink() and (path / "cgroup.procs").exists()]


def prepare_cgroups() -> None:
    """The kubelet's cgroupRoot must exist in every hierarchy before it starts."""
    for hierarchy in cgroup_hierarchies():
        node = hierarchy / CGROUP_ROOT
        node.mkdir(exist_ok=True)
        for name in ("cpuset.cpus", "cpuset.mems"):  # an empty cpuset admits no process
            if (hierarchy / name).exists() and not (node / name).read_text().strip():
                (node / name).write_text((hierarchy / name).read_text())


def kill_cgroup_processes() -> int:
    """SIGKILL every process under the node's cgroup (containers of a crashed node)."""
    pids: set[int] = set()
    for hierarchy in cgroup_hierarchies():
        for procs in (hierarchy / CGROUP_ROOT).rglob("cgroup.procs"):
            with contextlib.suppress(OSError, ValueError):
                pids.update(int(line) for line in procs.read_text().split())
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return len(pids)


def remove_cgroups() -> None:
    for hierarchy in cgroup_hierarchies():
        node = hierarchy / CGROUP_ROOT
        if not node.exists():
            continue
        for folder, _, _ in sorted(os.walk(node, topdown=False), key=lambda w: -len(w[0])):
            with contextlib.suppress(OSError):
                os.rmdir(folder)


def process_commands() -> Iterator[tuple[int, list[bytes]]]:
    """(pid, command-line words) of every process that can still be read."""
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            with contextlib.suppress(OSError):
                yield int(proc.name), (proc / "cmdline").read_bytes().split(b"\0")


def shim_pids(socket: Path) -> list[int]:
    """containerd-shim processes started for this node's containerd (found by its socket)."""
    return [pid for pid, words in process_commands()
            if words[0].endswith(b"containerd-shim-runc-v2") and str(socket).encode() in words]


def crictl(crictl_bin: Path, socket: Path, *args: str,
           timeout: float | None = None) -> subprocess.CompletedProcess[str]:
    """crictl against this node's containerd."""
    return subprocess.run([str(crictl_bin), "--runtime-endpoint", f"unix://{socket}", *args],
                          capture_output=True, text=True, check=False, timeout=timeout)


def mounts_under(root: Path) -> list[str]:
    """Mount points at or below ``root``, deepest first."""
    points = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
    return sorted((p for p in points if p == str(root) or p.startswith(f"{root}/")),
                  key=len, reverse=True)


def unmount_all(root: Path) -> None:
    """Unmount everything below ``root`` (rootfs overlays, shm, netns, secret volumes)."""
    for _ in range(3):  # a mount may hide another at the same point
        for point in mounts_under(root):
            if subprocess.run(["umount", point], capture_output=True, check=False).returncode:
                subprocess.run(["umount", "-l", point], capture_output=True, check=False)


def remove_pods(crictl_bin: Path, socket: Path, timeout: float = 60.0) -> None:
    """Stop and remove every pod through CRI, so CNI releases each pod's address and veth."""
    if socket.exists():
        crictl(crictl_bin, socket, "--timeout", "20s", "rmp", "--all", "--force",
               timeout=timeout)


def stop_node(layout: NodeLayout, crictl_bin: Path,
              stop: Callable[[str, float], None]) -> None:
    """Take the node's processes, pods, mounts and cgroups apart, in order; safe on a node
    that crashed or never started. ``network.down`` follows once the API server is gone."""
    stop("kubelet", 10.0)
    stop("kube-proxy", 5.0)
    if containerd_answers(crictl_bin, layout.containerd_socket):
        remove_pods(crictl_bin, layout.containerd_socket)
    stop("containerd", 10.0)
    for pid in shim_pids(layout.containerd_socket):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while kill_cgroup_processes() and time.monotonic() < deadline:
        time.sleep(0.1)
    unmount_all(layout.root)
    unmount_all(layout.containerd_root)
    remove_cgroups()


def containerd_answers(crictl_bin: Path, socket: Path) -> bool:
    return socket.exists() and crictl(crictl_bin, socket, "--timeout", "3s",
                                      "version").returncode == 0
