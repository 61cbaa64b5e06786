"""Build the control-plane binaries from Kubernetes' published Go modules.

The Go module in ``dev/kube`` requires ``k8s.io/kubernetes`` at one pinned
release and maps each staging module to its published version. The binaries
are built once per version into a cache outside the repository and reused.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

KUBE_VERSION = "1.34.4"
GATEWAY_API_VERSION = "v1.4.0"
GATEWAY_API_CRDS = ("gatewayclasses", "gateways", "httproutes", "referencegrants")
BINARIES = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy")
REPO_ROOT = Path(__file__).resolve().parents[2]
GO_MODULE_DIR = REPO_ROOT / "dev" / "kube"


def cache_root() -> Path:
    return Path(os.environ.get("MLOPS_DEV_CACHE", Path.home() / ".cache" / "mlops-dev"))


def bin_dir() -> Path:
    return cache_root() / f"kube-v{KUBE_VERSION}" / "bin"


def _built(directory: Path) -> bool:
    return (directory / "BUILD_OK").exists() and all((directory / b).exists() for b in BINARIES)


def _ldflags() -> str:
    major, minor, _ = KUBE_VERSION.split(".")
    pairs = {
        "k8s.io/component-base/version.gitVersion": f"v{KUBE_VERSION}",
        "k8s.io/component-base/version.gitMajor": major,
        "k8s.io/component-base/version.gitMinor": minor,
        "k8s.io/component-base/version.gitTreeState": "clean",
        "k8s.io/client-go/pkg/version.gitVersion": f"v{KUBE_VERSION}",
    }
    return "-s -w " + " ".join(f"-X {key}={value}" for key, value in pairs.items())


def ensure_binaries(log=sys.stderr) -> Path:
    """Return the folder holding the control-plane binaries, building them if needed."""
    directory = bin_dir()
    if _built(directory):
        return directory
    if shutil.which("go") is None:
        raise RuntimeError("Go is needed to build the local control plane; install Go >= 1.24")
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory.parent / "build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be building the same version
        if _built(directory):
            return directory
        print(
            f"building Kubernetes v{KUBE_VERSION} control plane into {directory} "
            "(first time only; 15-30 min on 2 cores)",
            file=log,
            flush=True,
        )
        started = time.monotonic()
        packages = [f"k8s.io/kubernetes/cmd/{name}" for name in BINARIES]
        command = ["go", "build", "-trimpath", "-ldflags", _ldflags(), "-o", f"{directory}/"]
        subprocess.run(command + packages, cwd=GO_MODULE_DIR, check=True)
        (directory / "BUILD_OK").write_text(f"built in {time.monotonic() - started:.0f}s\n")
        print(f"built in {time.monotonic() - started:.0f}s", file=log, flush=True)
    return directory


def gateway_api_crds() -> list[Path]:
    """The Gateway API's standard CRD files, from the published ``sigs.k8s.io/gateway-api``."""
    import json

    result = subprocess.run(
        ["go", "mod", "download", "-json", f"sigs.k8s.io/gateway-api@{GATEWAY_API_VERSION}"],
        check=True, capture_output=True, text=True, cwd=GO_MODULE_DIR)
    directory = Path(json.loads(result.stdout)["Dir"]) / "config" / "crd" / "standard"
    return [directory / f"gateway.networking.k8s.io_{name}.yaml" for name in GATEWAY_API_CRDS]
