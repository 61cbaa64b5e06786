"""prometheus-operator, pinned as a Go module in ``dev/prometheus-operator``: the CRDs of
that exact version, its operator command and its config-reloader image, built on first use
and cached by version, so the suite can run the real thing against this project's
PodMonitors and PrometheusRule."""

from __future__ import annotations

import subprocess
from pathlib import Path

from mlops_dev.gotools import ensure_go_command
from mlops_dev.kubebuild import REPO_ROOT

VERSION = "v0.93.0"  # keep equal to dev/prometheus-operator/go.mod
MODULE = "github.com/prometheus-operator/prometheus-operator"
MODULE_DIR = REPO_ROOT / "dev" / "prometheus-operator"
#: The name the operator gives its Prometheus pods' sidecar (its default for this version).
CONFIG_RELOADER_IMAGE = f"quay.io/prometheus-operator/prometheus-config-reloader:{VERSION}"
_VERSION_FLAGS = f"-X github.com/prometheus/common/version.Version={VERSION.lstrip('v')}"


def ensure_operator() -> Path:
    """The prometheus-operator command (a few minutes to build, the first time only)."""
    return ensure_go_command("prometheus-operator", VERSION, MODULE_DIR,
                             f"{MODULE}/cmd/operator", ldflags=_VERSION_FLAGS)


def ensure_config_reloader() -> Path:
    """The prometheus-config-reloader command, for its image."""
    return ensure_go_command("prometheus-config-reloader", VERSION, MODULE_DIR,
                             f"{MODULE}/cmd/prometheus-config-reloader",
                             ldflags=_VERSION_FLAGS)


def crd_file(plural: str) -> Path:
    """The CRD of ``plural`` (podmonitors, prometheusrules, ...) as the module ships it;
    the module is downloaded into Go's module cache on first use."""
    source = subprocess.run(["go", "list", "-m", "-f", "{{.Dir}}", MODULE], cwd=MODULE_DIR,
                            capture_output=True, text=True, check=True, timeout=600)
    path = (Path(source.stdout.strip()) / "example" / "prometheus-operator-crd"
            / f"monitoring.coreos.com_{plural}.yaml")
    if not path.exists():
        raise FileNotFoundError(f"{MODULE}@{VERSION} ships no {path.name}")
    return path
