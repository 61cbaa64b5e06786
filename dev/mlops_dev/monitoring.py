"""Prometheus and Alertmanager for the local cluster: their configs and command lines.

The scrape jobs and alert rules are the monitoring manifests' own files: Prometheus
(built from its Go module, see ``nodebuild.PROMETHEUS``) discovers the pods through
the API server and scrapes their pod IPs; Alertmanager sends to the operator's webhook
with the bearer token from the cluster's home.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from mlops_dev import nodebuild
from mlops_dev.kubebuild import REPO_ROOT

MONITORING_RULES = REPO_ROOT / "manifests" / "monitoring" / "rules.yml"
#: What Prometheus's client certificate may do: list and watch pods.
PROMETHEUS_RBAC = REPO_ROOT / "dev" / "prometheus-rbac.yaml"


def prometheus_command(home: Path, address: str, alertmanager_port: int,
                       kubeconfig: Path) -> list[str]:
    """Write Prometheus's config under ``home`` and return its command line; it listens on
    ``address`` (host:port)."""
    folder = home / "prometheus"
    for directory in (folder / "data", folder / "rules"):
        directory.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(MONITORING_RULES, folder / "rules" / "mlops.yml")
    # Outside the cluster, discovery reaches the API server through a kubeconfig.
    scrape = yaml.safe_load((MONITORING_RULES.parent / "scrape.yml").read_text())
    for job in scrape:
        for discovery in job.get("kubernetes_sd_configs", []):
            discovery["kubeconfig_file"] = str(kubeconfig)
    config = {
        "global": {"scrape_interval": "2s", "evaluation_interval": "2s",
                   "scrape_timeout": "1s"},
        "rule_files": [str(folder / "rules" / "*.yml")],
        "alerting": {"alertmanagers": [{"static_configs": [
            {"targets": [f"127.0.0.1:{alertmanager_port}"]}]}]},
        "scrape_configs": scrape,
    }
    (folder / "prometheus.yml").write_text(yaml.safe_dump(config))
    return [str(nodebuild.PROMETHEUS.directory() / "prometheus"),
            f"--config.file={folder / 'prometheus.yml'}",
            f"--storage.tsdb.path={folder / 'data'}",
            f"--web.listen-address={address}",
            "--web.enable-lifecycle", "--storage.tsdb.retention.time=1d", "--log.level=warn"]


def alertmanager_command(home: Path, port: int, webhook: str, token_file: Path) -> list[str]:
    """Write Alertmanager's config (route everything to the operator's ``webhook`` URL:
    Deployment alerts and model alerts alike) and its command."""
    folder = home / "alertmanager"
    (folder / "data").mkdir(parents=True, exist_ok=True)
    write_alertmanager_config(home, webhook, token_file)
    return [str(nodebuild.ALERTMANAGER.directory() / "alertmanager"),
            f"--config.file={folder / 'alertmanager.yml'}",
            f"--storage.path={folder / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=", "--log.level=warn"]


def write_alertmanager_config(home: Path, webhook: str, token_file: Path) -> None:
    """Alertmanager's config, sending every alert to ``webhook`` with the bearer token."""
    config = {
        "route": {"receiver": "mlops-operator",
                  "group_by": ["alertname", "namespace", "deployment", "model"],
                  "group_wait": "1s", "group_interval": "5s", "repeat_interval": "5m"},
        "receivers": [{"name": "mlops-operator", "webhook_configs": [{
            "url": webhook,
            "http_config": {"authorization": {
                "type": "Bearer", "credentials_file": str(token_file)}},
            "send_resolved": True}]}],
    }
    (home / "alertmanager" / "alertmanager.yml").write_text(yaml.safe_dump(config))
