"""prometheus-operator, pinned as a Go module in ``dev/prometheus-operator``: the CRDs of
that exact version, which the suite installs to check this project's PodMonitors and
PrometheusRule against them."""

from __future__ import annotations

import subprocess
from pathlib import Path

from mlops_dev.kubebuild import REPO_ROOT

VERSION = "v0.93.0"  # keep equal to dev/prometheus-operator/go.mod
MODULE = "github.com/prometheus-operator/prometheus-operator"
MODULE_DIR = REPO_ROOT / "dev" / "prometheus-operator"


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
