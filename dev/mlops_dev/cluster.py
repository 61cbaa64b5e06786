"""The local cluster: a real control plane and a real node as local processes.

``up`` starts etcd, kube-apiserver, kube-controller-manager, kube-scheduler, the
node (containerd, kubelet, kube-proxy, then CoreDNS and local-path-provisioner as
pods; see ``mlops_dev.node``), Prometheus and Alertmanager; each process in its own
group with a pid file. It waits until the API server is ready and the node is Ready.
``down`` stops them all, pods first, and leaves nothing behind: no process, mount,
cgroup, link, iptables chain or listening port.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import ssl
import subprocess
import sys
import time
import urllib.request
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import yaml

from mlops_dev import controlplane, hollow, kubebuild, monitoring, pki
from mlops_dev.node import layout as node_layout
from mlops_dev.node.realnode import RealNode
from mlops_dev.processes import free_port, kubectl, port_is_free, wait_for

NODE_NAME = node_layout.NODE_NAME
COMPONENTS = (
    "etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "containerd",
    "kubelet", "kube-proxy", "alertmanager", "prometheus",
)
NODE_COMPONENTS = ("containerd", "kubelet", "kube-proxy")  # stopped by RealNode.stop


def default_home() -> Path:
    return Path(os.environ.get("MLOPS_DEV_HOME", Path.home() / ".mlops-dev"))


@dataclass
class Ports:
    """Loopback ports chosen at ``up``; kept in the home so ``status`` and ``down`` find them."""

    etcd_client: int
    etcd_peer: int
    apiserver: int
    controller_manager: int
    scheduler: int
    prometheus: int
    alertmanager: int
    alert_webhook: int  # where the operator receives Alertmanager's webhook
    kubelet: int
    kubelet_healthz: int
    proxy_healthz: int
    proxy_metrics: int

    def node_ports(self) -> dict[str, int]:
        return {"kubelet": self.kubelet, "kubelet_healthz": self.kubelet_healthz,
                "proxy_healthz": self.proxy_healthz, "proxy_metrics": self.proxy_metrics}


class LocalCluster:
    """One local cluster rooted at a home folder."""

    def __init__(self, home: Path | None = None) -> None:
        self.home = (home or default_home()).resolve()
        self.pki_dir = self.home / "pki"
        self.run_dir = self.home / "run"
        self.log_dir = self.home / "logs"
        self.kubeconfig = self.home / "admin.kubeconfig"
        self.node = RealNode(self.home, self.pki_dir, self._spawn, self._stop_component,
                             self._log_tail)

    # ---- paths and state -------------------------------------------------
    def _pid_file(self, component: str) -> Path:
        return self.run_dir / f"{component}.pid"

    def _ports_file(self) -> Path:
        return self.run_dir / "ports.json"

    def _last_ports_file(self) -> Path:
        return self.run_dir / "last-ports.json"

    def ports(self) -> Ports | None:
        try:
            return Ports(**json.loads(self._ports_file().read_text()))
        except (OSError, ValueError, TypeError):
            return None

    def _pid(self, component: str) -> int | None:
        try:
            pid = int(self._pid_file(component).read_text())
        except (OSError, ValueError):
            return None
        return pid if process_alive(pid) else None

    # ---- kubeconfigs -----------------------------------------------------
    def _write_kubeconfig(self, path: Path, stem: str, server: str) -> None:
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "mlops-dev",
                    "cluster": {
                        "server": server,
                        "certificate-authority": str(self.pki_dir / "ca.crt"),
                    },
                }
            ],
            "users": [
                {
                    "name": stem,
                    "user": {
                        "client-certificate": str(self.pki_dir / f"{stem}.crt"),
                        "client-key": str(self.pki_dir / f"{stem}.key"),
                    },
                }
            ],
            "contexts": [{"name": "mlops-dev", "context": {"cluster": "mlops-dev", "user": stem}}],
            "current-context": "mlops-dev",
        }
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        path.chmod(0o600)

    # ---- lifecycle -------------------------------------------------------
    def up(self, timeout: float = 120.0, log=sys.stderr, hollow_nodes: int = 0) -> Path:
        """Start every component not already running; return the admin kubeconfig path.

        ``hollow_nodes`` adds that many kwok-simulated nodes (see ``mlops_dev.hollow``).
        """
        path = self._up(timeout, log)
        if hollow_nodes:
            self.add_hollow_nodes(hollow_nodes, timeout, log)
        return path

    def add_hollow_nodes(self, count: int, timeout: float = 120.0, log=sys.stderr) -> None:
        """Start kwok (once) and make sure ``count`` hollow nodes exist and are Ready."""
        if self._pid("kwok") is None:
            self._spawn("kwok", hollow.command(hollow.kwok_binary(log), self.kubeconfig))
        names = hollow.add_nodes(self.kubeconfig, count)
        wait_for(lambda: all(self._node_ready(name) for name in names), timeout,
                 f"{count} hollow nodes to be Ready", self._log_tail("kwok"))
        print(f"{count} hollow nodes Ready", file=log, flush=True)

    def remove_hollow_nodes(self) -> None:
        """Delete the hollow nodes (and so their pods) and stop kwok."""
        if self._api_ready():
            hollow.remove_nodes(self.kubeconfig)
        self._stop_component("kwok", 10.0)

    def _up(self, timeout: float, log) -> Path:
        started = time.monotonic()
        binaries = kubebuild.ensure_binaries(log)
        node_tools = RealNode.tools(log)
        RealNode.build_images(log)
        phase = _phase_timer(log, started)
        phase("binaries and images ready")
        for directory in (self.run_dir, self.log_dir, self.home / "etcd"):
            directory.mkdir(parents=True, exist_ok=True)
        pki.ensure_pki(self.pki_dir, node_layout.SERVICE_FIRST_IP, node_layout.NODE_IP,
                       NODE_NAME)
        if all(self._pid(c) for c in COMPONENTS) and self.ports():
            self._wait_ready(timeout)
            return self.kubeconfig
        self.down(quiet=True)
        ports = self._choose_ports()
        self._ports_file().write_text(json.dumps(asdict(ports)))
        self._start_control_plane(binaries, ports, timeout)
        phase("control plane ready")
        self.node.start(binaries, node_tools, ports.node_ports(), {
            "kubelet": self.home / "kubelet.kubeconfig",
            "kube-proxy": self.home / "kube-proxy.kubeconfig"}, timeout, log)
        self._start_monitoring(ports)
        self._wait_ready(timeout)
        phase("node ready")
        self.node.install_addons(self.kubeconfig, timeout)
        phase("CoreDNS and local-path-provisioner ready")
        self._install_gateway_api()
        wait_for(lambda: _http_ok(f"{self.endpoints()['prometheus']}/-/ready"), timeout,
                 "Prometheus to be ready", self._log_tail("prometheus"))
        wait_for(lambda: _http_ok(f"http://127.0.0.1:{ports.alertmanager}/-/ready"), timeout,
                 "Alertmanager to be ready", self._log_tail("alertmanager"))
        print(f"cluster up in {time.monotonic() - started:.1f}s", file=log, flush=True)
        return self.kubeconfig

    def _start_control_plane(self, binaries: Path, ports: Ports, timeout: float) -> None:
        """The node's bridge first (the API server listens on its address), then etcd,
        the API server, the controller manager and the scheduler."""
        self.node.network_up()
        for stem in ("admin", "controller-manager", "scheduler", "prometheus", "kubelet",
                     "kube-proxy"):
            target = self.kubeconfig if stem == "admin" else self.home / f"{stem}.kubeconfig"
            self._write_kubeconfig(target, stem, self.api_url(ports))
        self._spawn("etcd", controlplane.etcd_command(
            self.home / "etcd", ports.etcd_client, ports.etcd_peer))
        wait_for(lambda: _http_ok(f"http://127.0.0.1:{ports.etcd_client}/health"), timeout,
                 "etcd to become healthy", self._log_tail("etcd"))
        self._spawn("kube-apiserver", controlplane.apiserver_command(
            binaries, self.pki_dir, ports.etcd_client, ports.apiserver))
        wait_for(self._api_ready, timeout, "kube-apiserver /readyz",
                 self._log_tail("kube-apiserver"))
        self._spawn("kube-controller-manager", controlplane.controller_manager_command(
            binaries, self.home / "controller-manager.kubeconfig", self.pki_dir,
            ports.controller_manager))
        self._spawn("kube-scheduler", controlplane.scheduler_command(
            binaries, self.home / "scheduler.kubeconfig", ports.scheduler))

    @staticmethod
    def api_url(ports: Ports) -> str:
        return f"https://{node_layout.NODE_IP}:{ports.apiserver}"

    def endpoints(self) -> dict[str, str]:
        """URLs of the cluster's services for the operator, tests and the demo: Prometheus
        on the node's address (pods query it too), the rest on loopback."""
        ports = self.ports()
        if ports is None:
            return {}
        return {
            "apiserver": self.api_url(ports),
            "prometheus": f"http://{node_layout.NODE_IP}:{ports.prometheus}",
            "alertmanager": f"http://127.0.0.1:{ports.alertmanager}",
            "alertWebhook": f"http://127.0.0.1:{ports.alert_webhook}/alerts",
            "alertWebhookTokenFile": str(self.alert_token_file),
            "kubeconfig": str(self.kubeconfig),
        }

    @property
    def alert_token_file(self) -> Path:
        """The bearer token Alertmanager sends to the operator's webhook."""
        return self.pki_dir / "alert-webhook.token"

    def _alert_token(self) -> Path:
        """Create the webhook token once (random, readable by its owner only)."""
        path = self.alert_token_file
        if not path.exists():
            path.write_text(secrets.token_hex(32) + "\n")
            path.chmod(0o600)
        return path

    def _start_monitoring(self, ports: Ports) -> None:
        """Prometheus discovering pods through the API server (with an identity that may
        only list and watch pods); Alertmanager -> operator."""
        kubectl(str(self.kubeconfig), "apply", "-f", str(monitoring.PROMETHEUS_RBAC))
        self._spawn("alertmanager", monitoring.alertmanager_command(
            self.home, ports.alertmanager, self.endpoints()["alertWebhook"],
            self._alert_token()))
        self._spawn("prometheus", monitoring.prometheus_command(
            self.home, f"{node_layout.NODE_IP}:{ports.prometheus}", ports.alertmanager,
            self.home / "prometheus.kubeconfig"))

    def route_alerts(self, webhook: str | None = None) -> None:
        """Send Alertmanager's notifications to ``webhook`` (an operator pod's Service)
        or, by default, to the operator process's port on loopback; applied at once."""
        endpoints = self.endpoints()
        monitoring.write_alertmanager_config(
            self.home, webhook or endpoints["alertWebhook"], self.alert_token_file)
        request = urllib.request.Request(f"{endpoints['alertmanager']}/-/reload", method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()

    def _install_gateway_api(self) -> None:
        """Gateway API CRDs (standard channel) from the published Go module."""
        from kubernetes import client, config, utils

        api = config.new_client_from_config(str(self.kubeconfig))
        existing = {c.metadata.name for c in
                    client.ApiextensionsV1Api(api).list_custom_resource_definition().items}
        if "httproutes.gateway.networking.k8s.io" in existing:
            return
        for path in kubebuild.gateway_api_crds():
            try:
                utils.create_from_yaml(api, str(path))
            except utils.FailToCreateError as error:
                if any(e.status != 409 for e in error.api_exceptions):
                    raise

    def _wait_ready(self, timeout: float) -> None:
        wait_for(
            self._api_ready,
            timeout,
            "kube-apiserver /readyz",
            self._log_tail("kube-apiserver"),
        )
        wait_for(self._node_ready, timeout, f"node {NODE_NAME} to be Ready",
                 self._log_tail("kubelet"))

    def down(self, quiet: bool = False) -> None:
        """Stop every component: hollow nodes, the node (its pods first), then the
        control plane, and the node's network."""
        self.remove_hollow_nodes()
        self.node.stop()
        for component in reversed(COMPONENTS):
            if component not in NODE_COMPONENTS:
                self._stop_component(component, 10.0, quiet)
        self.node.network_down()
        if self._ports_file().exists():
            self._ports_file().replace(self._last_ports_file())

    def _choose_ports(self) -> Ports:
        """The ports of the home's last run wherever they are still free. The API server
        must keep its port: the `kubernetes` Service's endpoints live in etcd, and after a
        crash nothing removes the old ones, so a new port would leave them pointing nowhere."""
        last = self._last_ports_file()
        previous = json.loads(last.read_text()) if last.exists() else {}
        chosen: dict[str, int] = {}
        for field in fields(Ports):
            port = previous.get(field.name)
            while not port or port in chosen.values() or not port_is_free(port):
                port = free_port()
            chosen[field.name] = port
        return Ports(**chosen)

    def _stop_component(self, component: str, grace: float, quiet: bool = True) -> None:
        """Stop one component's process group (SIGTERM, then SIGKILL after ``grace``)."""
        pid = self._pid(component)
        if pid is not None:
            _stop_group(pid, grace)
            if not quiet:
                print(f"stopped {component} (pid {pid})", file=sys.stderr)
        self._pid_file(component).unlink(missing_ok=True)

    def status(self) -> dict[str, object]:
        return {
            "home": str(self.home),
            "endpoints": self.endpoints(),
            "components": {c: self._pid(c) for c in COMPONENTS},
            "apiserverReady": self._api_ready(),
            "nodeReady": self._node_ready(),
        }

    # ---- helpers -----------------------------------------------------------
    def _spawn(
        self, component: str, command: list[str], env_extra: dict[str, str] | None = None
    ) -> None:
        log = open(self.log_dir / f"{component}.log", "ab")  # noqa: SIM115 - owned by the child
        env = {**os.environ, **(env_extra or {})}
        process = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env=env,
            cwd=self.home,
        )
        log.close()
        self._pid_file(component).write_text(str(process.pid))

    def restart(self, component: str, timeout: float = 60.0) -> None:
        """Stop one component and start it again with the same command (chaos tests):
        every client's connections and watches drop, as when a real one restarts."""
        pid = self._pid(component)
        if pid is None:
            raise RuntimeError(f"{component} is not running")
        command = Path(f"/proc/{pid}/cmdline").read_bytes().rstrip(b"\0").split(b"\0")
        # kube-apiserver drains in-flight requests for up to 60 s on SIGTERM; a restart
        # does not wait for that, as a kubelet would not past the grace period.
        _stop_group(pid, grace=15.0)
        wait_for(lambda: not process_alive(pid), timeout, f"{component} to stop")
        self._spawn(component, [part.decode() for part in command])
        if component == "kube-apiserver":
            wait_for(self._api_ready, timeout, "kube-apiserver /readyz",
                     self._log_tail(component))

    def _ssl_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.pki_dir / "ca.crt"))
        context.load_cert_chain(str(self.pki_dir / "admin.crt"), str(self.pki_dir / "admin.key"))
        return context

    def _api_get(self, path: str) -> tuple[int, bytes]:
        ports = self.ports()
        if ports is None:
            return 0, b""
        url = f"{self.api_url(ports)}{path}"
        try:
            with urllib.request.urlopen(url, context=self._ssl_context(), timeout=5) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()
        except OSError:
            return 0, b""

    def _api_ready(self) -> bool:
        status, body = self._api_get("/readyz")
        return status == 200 and body.strip() == b"ok"

    def _node_ready(self, name: str = NODE_NAME) -> bool:
        status, body = self._api_get(f"/api/v1/nodes/{name}")
        if status != 200:
            return False
        conditions = json.loads(body).get("status", {}).get("conditions", [])
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

    def _log_tail(self, component: str):
        def tail() -> str:
            try:
                lines = (self.log_dir / f"{component}.log").read_text(errors="replace")
            except OSError:
                return ""
            return "\n".join(lines.splitlines()[-15:])

        return tail


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is not alive
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _stop_group(pid: int, grace: float) -> None:
    """SIGTERM the process group, then SIGKILL it after ``grace`` seconds."""
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and process_alive(pid):
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


def _phase_timer(log, started: float):
    """Print how long each phase of ``up`` took (one line each)."""
    last = [started]

    def phase(what: str) -> None:
        now = time.monotonic()
        print(f"{what} (+{now - last[0]:.1f}s)", file=log, flush=True)
        last[0] = now

    return phase


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False
