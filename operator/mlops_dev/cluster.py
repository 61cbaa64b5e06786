"""The local cluster: a real control plane and a node agent as local processes.

``up`` starts etcd, kube-apiserver, kube-controller-manager, kube-scheduler and
the node agent, each in its own process group with a pid file, and waits until
the API server is ready and the node is Ready. ``down`` stops them all (the
node agent stops its pods first) and leaves nothing listening.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import ssl
import subprocess
import sys
import time
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

import yaml

from mlops_dev import hollow, kubebuild, pki
from mlops_dev.processes import free_port, wait_for

NODE_NAME = "local-node"
SERVICE_CIDR = "10.96.0.0/16"
SERVICE_FIRST_IP = "10.96.0.1"
POD_CIDR = "127.1.0.0/16"
COMPONENTS = (
    "etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "node-agent",
    "service-proxy", "alertmanager", "prometheus",
)
MONITORING_RULES = kubebuild.REPO_ROOT / "manifests" / "monitoring" / "rules.yml"


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
    node_agent: int
    prometheus: int
    alertmanager: int
    alert_webhook: int  # where the operator receives Alertmanager's webhook
    discovery: int  # Prometheus HTTP service discovery, served by the service proxy


class LocalCluster:
    """One local cluster rooted at a home folder."""

    def __init__(self, home: Path | None = None) -> None:
        self.home = (home or default_home()).resolve()
        self.pki_dir = self.home / "pki"
        self.run_dir = self.home / "run"
        self.log_dir = self.home / "logs"
        self.kubeconfig = self.home / "admin.kubeconfig"

    # ---- paths and state -------------------------------------------------
    def _pid_file(self, component: str) -> Path:
        return self.run_dir / f"{component}.pid"

    def _ports_file(self) -> Path:
        return self.run_dir / "ports.json"

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
        pid = self._pid("kwok")
        if pid is not None:
            _stop_group(pid, grace=10.0)
        self._pid_file("kwok").unlink(missing_ok=True)

    def _up(self, timeout: float, log) -> Path:
        started = time.monotonic()
        binaries = kubebuild.ensure_binaries(log)
        for directory in (self.run_dir, self.log_dir, self.home / "etcd"):
            directory.mkdir(parents=True, exist_ok=True)
        pki.ensure_pki(self.pki_dir, SERVICE_FIRST_IP)
        if all(self._pid(c) for c in COMPONENTS) and self.ports():
            self._wait_ready(timeout)
            return self.kubeconfig
        self.down(quiet=True)
        ports = Ports(*(free_port() for _ in range(10)))
        self._ports_file().write_text(json.dumps(asdict(ports)))
        server = f"https://127.0.0.1:{ports.apiserver}"
        for stem in ("admin", "controller-manager", "scheduler", "node-agent"):
            target = self.kubeconfig if stem == "admin" else self.home / f"{stem}.kubeconfig"
            self._write_kubeconfig(target, stem, server)

        etcd = shutil.which("etcd")
        if etcd is None:
            raise RuntimeError("etcd not found: install Debian's etcd-server package")
        self._spawn(
            "etcd",
            [
                etcd,
                "--name",
                "mlops-dev",
                "--data-dir",
                str(self.home / "etcd"),
                "--listen-client-urls",
                f"http://127.0.0.1:{ports.etcd_client}",
                "--advertise-client-urls",
                f"http://127.0.0.1:{ports.etcd_client}",
                "--listen-peer-urls",
                f"http://127.0.0.1:{ports.etcd_peer}",
                "--initial-advertise-peer-urls",
                f"http://127.0.0.1:{ports.etcd_peer}",
                "--initial-cluster",
                f"mlops-dev=http://127.0.0.1:{ports.etcd_peer}",
                "--quota-backend-bytes",
                str(2 * 1024**3),
                "--log-level",
                "warn",
            ],
        )
        wait_for(
            lambda: _http_ok(f"http://127.0.0.1:{ports.etcd_client}/health"),
            timeout,
            "etcd to become healthy",
            self._log_tail("etcd"),
        )

        pki_dir = self.pki_dir
        self._spawn(
            "kube-apiserver",
            [
                str(binaries / "kube-apiserver"),
                f"--etcd-servers=http://127.0.0.1:{ports.etcd_client}",
                "--bind-address=127.0.0.1",
                f"--secure-port={ports.apiserver}",
                "--advertise-address=127.0.0.1",
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
                "--endpoint-reconciler-type=none",
            ],
        )
        wait_for(
            self._api_ready,
            timeout,
            "kube-apiserver /readyz",
            self._log_tail("kube-apiserver"),
        )

        self._spawn(
            "kube-controller-manager",
            [
                str(binaries / "kube-controller-manager"),
                f"--kubeconfig={self.home / 'controller-manager.kubeconfig'}",
                f"--authentication-kubeconfig={self.home / 'controller-manager.kubeconfig'}",
                f"--authorization-kubeconfig={self.home / 'controller-manager.kubeconfig'}",
                "--bind-address=127.0.0.1",
                f"--secure-port={ports.controller_manager}",
                "--leader-elect=false",
                f"--service-account-private-key-file={pki_dir / 'sa.key'}",
                f"--root-ca-file={pki_dir / 'ca.crt'}",
                f"--cluster-signing-cert-file={pki_dir / 'ca.crt'}",
                f"--cluster-signing-key-file={pki_dir / 'ca.key'}",
                "--use-service-account-credentials=true",
                "--profiling=false",
            ],
        )
        self._spawn(
            "kube-scheduler",
            [
                str(binaries / "kube-scheduler"),
                f"--kubeconfig={self.home / 'scheduler.kubeconfig'}",
                f"--authentication-kubeconfig={self.home / 'scheduler.kubeconfig'}",
                f"--authorization-kubeconfig={self.home / 'scheduler.kubeconfig'}",
                "--bind-address=127.0.0.1",
                f"--secure-port={ports.scheduler}",
                "--leader-elect=false",
                "--profiling=false",
            ],
        )
        self._spawn(
            "node-agent",
            [
                sys.executable,
                "-m",
                "mlops_dev.node_agent",
                "--kubeconfig",
                str(self.home / "node-agent.kubeconfig"),
                "--node-name",
                NODE_NAME,
                "--pod-cidr",
                POD_CIDR,
                "--root",
                str(self.home / "node"),
                "--port",
                str(ports.node_agent),
                "--tls-cert",
                str(pki_dir / "apiserver.crt"),
                "--tls-key",
                str(pki_dir / "apiserver.key"),
                "--client-ca",
                str(pki_dir / "ca.crt"),
            ],
        )
        self._spawn("service-proxy", [
            sys.executable, "-m", "mlops_dev.service_proxy",
            "--kubeconfig", str(self.home / "node-agent.kubeconfig"),
            "--discovery-port", str(ports.discovery),
        ])
        self._start_monitoring(ports)
        self._wait_ready(timeout)
        self._install_gateway_api()
        wait_for(lambda: _http_ok(f"http://127.0.0.1:{ports.prometheus}/-/ready"), timeout,
                  "Prometheus to be ready", self._log_tail("prometheus"))
        wait_for(lambda: _http_ok(f"http://127.0.0.1:{ports.alertmanager}/-/ready"), timeout,
                  "Alertmanager to be ready", self._log_tail("alertmanager"))
        print(f"cluster up in {time.monotonic() - started:.1f}s", file=log, flush=True)
        return self.kubeconfig

    def endpoints(self) -> dict[str, str]:
        """URLs of the cluster's services on loopback, for the operator, tests and the demo."""
        ports = self.ports()
        if ports is None:
            return {}
        return {
            "apiserver": f"https://127.0.0.1:{ports.apiserver}",
            "prometheus": f"http://127.0.0.1:{ports.prometheus}",
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
        """Prometheus discovering pods through the API server; Alertmanager -> operator."""
        prometheus_dir, alertmanager_dir = self.home / "prometheus", self.home / "alertmanager"
        for directory in (prometheus_dir / "data", prometheus_dir / "rules",
                          alertmanager_dir / "data"):
            directory.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(MONITORING_RULES, prometheus_dir / "rules" / "mlops.yml")
        # Debian's Prometheus has no Kubernetes discovery: the service proxy serves the
        # API server's pods with kubernetes_sd's meta labels over HTTP SD instead.
        scrape = yaml.safe_load((MONITORING_RULES.parent / "scrape.yml").read_text())
        for job in scrape:
            if job.pop("kubernetes_sd_configs", None) is not None:
                job["http_sd_configs"] = [{"url": f"http://127.0.0.1:{ports.discovery}/pods",
                                           "refresh_interval": "2s"}]
        prometheus_config = {
            "global": {"scrape_interval": "2s", "evaluation_interval": "2s",
                       "scrape_timeout": "1s"},
            "rule_files": [str(prometheus_dir / "rules" / "*.yml")],
            "alerting": {"alertmanagers": [{"static_configs": [
                {"targets": [f"127.0.0.1:{ports.alertmanager}"]}]}]},
            "scrape_configs": scrape,
        }
        (prometheus_dir / "prometheus.yml").write_text(yaml.safe_dump(prometheus_config))
        alertmanager_config = {
            "route": {"receiver": "mlops-operator",
                      "group_by": ["alertname", "namespace", "deployment"],
                      "group_wait": "1s", "group_interval": "5s", "repeat_interval": "5m"},
            "receivers": [{"name": "mlops-operator", "webhook_configs": [{
                "url": f"http://127.0.0.1:{ports.alert_webhook}/alerts",
                "http_config": {"authorization": {
                    "type": "Bearer", "credentials_file": str(self._alert_token())}},
                "send_resolved": True}]}],
        }
        (alertmanager_dir / "alertmanager.yml").write_text(yaml.safe_dump(alertmanager_config))
        binary = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
        prometheus = shutil.which("prometheus")
        if binary is None or prometheus is None:
            raise RuntimeError("Prometheus/Alertmanager not found: install Debian's prometheus "
                               "and prometheus-alertmanager packages (hack/setup.sh does)")
        self._spawn("alertmanager", [
            binary, f"--config.file={alertmanager_dir / 'alertmanager.yml'}",
            f"--storage.path={alertmanager_dir / 'data'}",
            f"--web.listen-address=127.0.0.1:{ports.alertmanager}",
            "--cluster.listen-address=", "--log.level=warn",
        ])
        self._spawn("prometheus", [
            prometheus, f"--config.file={prometheus_dir / 'prometheus.yml'}",
            f"--storage.tsdb.path={prometheus_dir / 'data'}",
            f"--web.listen-address=127.0.0.1:{ports.prometheus}",
            "--web.enable-lifecycle", "--storage.tsdb.retention.time=1d", "--log.level=warn",
        ])

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
        wait_for(
            self._node_ready, timeout, f"node {NODE_NAME} to be Ready", self._log_tail("node-agent")
        )

    def down(self, quiet: bool = False) -> None:
        """Stop every component (hollow nodes and the node agent first, with their pods)."""
        self.remove_hollow_nodes()
        for component in reversed(COMPONENTS):
            pid = self._pid(component)
            if pid is not None:
                _stop_group(pid, grace=20.0 if component == "node-agent" else 10.0)
                if not quiet:
                    print(f"stopped {component} (pid {pid})", file=sys.stderr)
            self._pid_file(component).unlink(missing_ok=True)
        # Pods whose node agent died without cleaning up.
        for pid_file in (self.home / "node").glob("pods/*/*.pid"):
            with contextlib.suppress(ValueError):
                _stop_group(int(pid_file.read_text()), grace=2.0)
            pid_file.unlink(missing_ok=True)
        self._ports_file().unlink(missing_ok=True)

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
        url = f"https://127.0.0.1:{ports.apiserver}{path}"
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


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False
