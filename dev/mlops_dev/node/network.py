"""The node's network on the host: a bridge for pods, forwarding, and its removal.

Pods reach each other, the node IP (API server, kubelet) and Services; nothing
from the pod network is forwarded off the bridge, so no pod packet leaves the
machine, whatever the host's default route is.
"""

from __future__ import annotations

import json
import shlex
import subprocess
from pathlib import Path

from mlops_dev.node.layout import BRIDGE, NODE_IP, POD_SUBNET, SERVICE_CIDR

GUARD_CHAIN = "MLOPS-NODE-GUARD"
# Chains that kube-proxy and the kubelet create; `down` removes them all.
OWNED_CHAIN_PREFIXES = ("KUBE-", "MLOPS-NODE-")
SYSCTLS = {
    "net/ipv4/ip_forward": "1",  # Service traffic DNATed on the host is routed back to pods
    "net/bridge/bridge-nf-call-iptables": "1",  # kube-proxy must see bridged packets
}
BUILTIN_CHAINS = ("INPUT", "OUTPUT", "FORWARD", "PREROUTING", "POSTROUTING")


def _run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(list(args), capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: {result.stderr.strip()}")
    return result


def link_exists(name: str) -> bool:
    return _run("ip", "link", "show", name, check=False).returncode == 0


def up(saved_sysctls: Path) -> None:
    """Create the bridge with the node IP, route the Service range to it, guard forwarding."""
    if not link_exists(BRIDGE):
        _run("ip", "link", "add", BRIDGE, "type", "bridge")
    prefix = POD_SUBNET.split("/")[1]
    _run("ip", "addr", "replace", f"{NODE_IP}/{prefix}", "dev", BRIDGE)
    _run("ip", "link", "set", BRIDGE, "up")
    # An unmatched ClusterIP goes to the bridge (and nowhere), never out of the default route.
    _run("ip", "route", "replace", SERVICE_CIDR, "dev", BRIDGE, "src", NODE_IP)
    if not Path("/proc/sys/net/bridge").exists():
        raise RuntimeError("the kernel has no br_netfilter (no /proc/sys/net/bridge): "
                           "kube-proxy cannot see bridged pod traffic")
    if not saved_sysctls.exists():
        saved_sysctls.write_text(json.dumps({key: _sysctl(key) for key in SYSCTLS}))
    for key, value in SYSCTLS.items():
        Path("/proc/sys", key).write_text(value)
    _guard_forwarding()


def _sysctl(key: str) -> str:
    return Path("/proc/sys", key).read_text().strip()


def _guard_forwarding() -> None:
    """Only bridge-to-bridge traffic is forwarded: pods never reach past this machine."""
    if _run("iptables", "-t", "mangle", "-n", "-L", GUARD_CHAIN, check=False).returncode:
        _run("iptables", "-t", "mangle", "-N", GUARD_CHAIN)
        _run("iptables", "-t", "mangle", "-I", "FORWARD", "1", "-j", GUARD_CHAIN)
    _run("iptables", "-t", "mangle", "-F", GUARD_CHAIN)
    _run("iptables", "-t", "mangle", "-A", GUARD_CHAIN, "-i", BRIDGE, "!", "-o", BRIDGE,
         "-j", "DROP")
    _run("iptables", "-t", "mangle", "-A", GUARD_CHAIN, "-o", BRIDGE, "!", "-i", BRIDGE,
         "-j", "DROP")


def down(saved_sysctls: Path) -> None:
    """Remove the bridge, any veth left on it, the owned iptables chains; restore sysctls."""
    if link_exists(BRIDGE):
        ports = json.loads(_run("ip", "-j", "link", "show", "master", BRIDGE).stdout or "[]")
        for port in ports:
            _run("ip", "link", "del", port["ifname"], check=False)
        _run("ip", "link", "del", BRIDGE)
    for tool in ("iptables", "ip6tables"):
        remove_owned_chains(tool)
    if saved_sysctls.exists():
        for key, value in json.loads(saved_sysctls.read_text()).items():
            Path("/proc/sys", key).write_text(value)
        saved_sysctls.unlink()


def owned_chains(saved: str) -> dict[str, list[str]]:
    """``iptables-save`` output -> {table: [chains this node owns]}."""
    tables: dict[str, list[str]] = {}
    table = ""
    for line in saved.splitlines():
        if line.startswith("*"):
            table = line[1:]
        elif line.startswith(":") and line[1:].startswith(OWNED_CHAIN_PREFIXES):
            tables.setdefault(table, []).append(line[1:].split()[0])
    return tables


def jumps_into(saved: str, table: str, chains: list[str]) -> list[list[str]]:
    """Rules of the built-in chains of ``table`` that jump into ``chains``."""
    rules, current = [], ""
    for line in saved.splitlines():
        if line.startswith("*"):
            current = line[1:]
        elif current == table and line.startswith("-A "):
            words = shlex.split(line)
            if words[1] in BUILTIN_CHAINS and "-j" in words and \
                    words[words.index("-j") + 1] in chains:
                rules.append(words[1:])
    return rules


def remove_owned_chains(tool: str) -> None:
    """Delete every KUBE-* and MLOPS-NODE-* chain and the jumps into them."""
    saved = _run(f"{tool}-save", check=False).stdout
    for table, chains in owned_chains(saved).items():
        for rule in jumps_into(saved, table, chains):
            _run(tool, "-t", table, "-D", *rule, check=False)
        for chain in chains:
            _run(tool, "-t", table, "-F", chain, check=False)
        for chain in chains:
            _run(tool, "-t", table, "-X", chain, check=False)
