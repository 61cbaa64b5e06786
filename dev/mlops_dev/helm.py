"""Helm v4, built from its Go module in ``dev/helm`` on first use and cached by version:
the cluster suite installs, upgrades and uninstalls ``charts/mlops-operator`` with it."""

from __future__ import annotations

from pathlib import Path

from mlops_dev.gotools import ensure_go_command
from mlops_dev.kubebuild import REPO_ROOT

HELM_VERSION = "v4.3.2"  # keep equal to dev/helm/go.mod
MODULE_DIR = REPO_ROOT / "dev" / "helm"


def ensure_helm() -> Path:
    """The helm command (about 3 minutes to build on 2 cores, the first time only)."""
    return ensure_go_command(
        "helm", HELM_VERSION, MODULE_DIR, "helm.sh/helm/v4/cmd/helm",
        ldflags=f"-X helm.sh/helm/v4/internal/version.version={HELM_VERSION}")
