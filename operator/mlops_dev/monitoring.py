"""Prometheus and Alertmanager for the local cluster: their configs and command lines.

The scrape jobs and alert rules are the monitoring manifests' own files; Alertmanager
sends to the operator's webhook with the bearer token from the cluster's home.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from mlops_dev.kubebuild import REPO_ROOT

MONITORING_RULES = REPO_ROOT / "manifests" / "monitoring" / "rules.yml"


def prometheus_command(home: Path, port: int, alertmanager_port: int,
                       discovery_port: int) -> list[str]:
    """Write Prometheus's config under ``home`` and return its command line."""
    folder = home / "prometheus"
    for directory in (folder / "data", folder / "rules"):
        directory.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(MONITORING_RULES, folder / "rules" / "mlops.yml")
    # Debian's Prometheus has no Kubernetes discovery: the service proxy serves the
    # API server's pods with kubernetes_sd's meta labels over HTTP SD instead.
    scrape = yaml.safe_load((MONITORING_RULES.parent / "scrape.yml").read_text())
    for job in scrape:
        if job.pop("kubernetes_sd_configs", None) is not None:
            job["http_sd_configs"] = [{"url": f"http://127.0.0.1:{discovery_port}/pods",
                                       "refresh_interval": "2s"}]
    config = {
        "global": {"scrape_interval": "2s", "evaluation_interval": "2s",
                   "scrape_timeout": "1s"},
        "rule_files": [str(folder / "rules" / "*.yml")],
        "alerting": {"alertmanagers": [{"static_configs": [
            {"targets": [f"127.0.0.1:{alertmanager_port}"]}]}]},
        "scrape_configs": scrape,
    }
    (folder / "prometheus.yml").write_text(yaml.safe_dump(config))
    return [_installed("prometheus", "prometheus"), f"--config.file={folder / 'prometheus.yml'}",
            f"--storage.tsdb.path={folder / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--web.enable-lifecycle", "--storage.tsdb.retention.time=1d", "--log.level=warn"]


def alertmanager_command(home: Path, port: int, webhook_port: int,
                         token_file: Path) -> list[str]:
    """Write Alertmanager's config (route everything to the operator: Deployment alerts
    and model alerts alike) and its command."""
    folder = home / "alertmanager"
    (folder / "data").mkdir(parents=True, exist_ok=True)
    config = {
        "route": {"receiver": "mlops-operator",
                  "group_by": ["alertname", "namespace", "deployment", "model"],
                  "group_wait": "1s", "group_interval": "5s", "repeat_interval": "5m"},
        "receivers": [{"name": "mlops-operator", "webhook_configs": [{
            "url": f"http://127.0.0.1:{webhook_port}/alerts",
            "http_config": {"authorization": {
                "type": "Bearer", "credentials_file": str(token_file)}},
            "send_resolved": True}]}],
    }
    (folder / "alertmanager.yml").write_text(yaml.safe_dump(config))
    binary = _installed("prometheus-alertmanager", "prometheus-alertmanager", "alertmanager")
    return [binary, f"--config.file={folder / 'alertmanager.yml'}",
            f"--storage.path={folder / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=", "--log.level=warn"]


def _installed(package: str, *names: str) -> str:
    """The path of a program from a Debian package, or an error saying what to install."""
    for name in names:
        binary = shutil.which(name)
        if binary is not None:
            return binary
    raise RuntimeError(f"{names[-1]} not found: install Debian's {package} package "
                       "(hack/setup.sh does)")
