"""What a node left on the machine: `down` must leave all of these empty."""

from __future__ import annotations

import json
import socket
import subprocess
from pathlib import Path

from mlops_dev.node import network, runtime
from mlops_dev.node.layout import BRIDGE, CGROUP_ROOT, NodeLayout


def _processes(markers: tuple[str, ...]) -> list[str]:
    found = []
    for pid, words in runtime.process_commands():
        command = b" ".join(words).decode(errors="replace")
        if any(marker in command for marker in markers):
            found.append(f"{pid}: {command[:200]}")
    return found


def _links() -> list[str]:
    links = json.loads(subprocess.run(["ip", "-j", "link", "show"], capture_output=True,
                                      text=True, check=True).stdout)
    return [link["ifname"] for link in links
            if link["ifname"] == BRIDGE or link.get("master") == BRIDGE]


def _chains() -> list[str]:
    found = []
    for tool in ("iptables", "ip6tables"):
        saved = subprocess.run([f"{tool}-save"], capture_output=True, text=True,
                               check=False).stdout
        found += [f"{tool} {table} {chain}" for table, chains in
                  network.owned_chains(saved).items() for chain in chains]
    return found


def _listening(ports: list[int]) -> list[int]:
    open_ports = []
    for port in ports:
        with socket.socket() as sock:
            sock.settimeout(0.5)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                open_ports.append(port)
    return open_ports


def leftovers(home: Path, ports: list[int]) -> dict[str, list]:
    """Everything of this cluster still on the machine, by kind (empty lists when clean)."""
    layout = NodeLayout(home)
    return {
        "processes": _processes((str(home), str(layout.containerd_root))),
        "mounts": runtime.mounts_under(home) + runtime.mounts_under(layout.containerd_root),
        "cgroups": [str(h / CGROUP_ROOT) for h in runtime.cgroup_hierarchies()
                    if (h / CGROUP_ROOT).exists()],
        "links": _links(),
        "iptables chains": _chains(),
        "listening ports": _listening(ports),
    }
