"""kstatus, the status library of sigs.k8s.io/cli-utils (what Flux, kpt and cli-utils
read), built once from its Go module in ``dev/kstatus`` and cached by version."""

from __future__ import annotations

import fcntl
import json
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mlops_dev.kubebuild import REPO_ROOT, cache_root

CLI_UTILS_VERSION = "v0.37.2"  # keep equal to dev/kstatus/go.mod
MODULE_DIR = REPO_ROOT / "dev" / "kstatus"


def ensure_kstatus() -> Path:
    """The kstatus command, built on first use (about 20 s with a warm module cache)."""
    binary = cache_root() / f"kstatus-{CLI_UTILS_VERSION}" / "kstatus"
    if binary.exists():
        return binary
    if shutil.which("go") is None:
        raise RuntimeError("Go is needed to build kstatus from sigs.k8s.io/cli-utils")
    binary.parent.mkdir(parents=True, exist_ok=True)
    with open(binary.parent / "build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be building it
        if not binary.exists():
            partial = binary.with_suffix(".partial")
            subprocess.run(["go", "build", "-trimpath", "-o", str(partial), "."],
                           cwd=MODULE_DIR, check=True)
            partial.rename(binary)
    return binary


def compute(objects: Sequence[dict[str, Any]]) -> list[dict[str, str]]:
    """kstatus' result (``status``: Current, InProgress, Failed, ...; ``message``) for each
    object, as ``kstatus.Compute`` gives it."""
    result = subprocess.run([str(ensure_kstatus())], input=json.dumps(list(objects)),
                            capture_output=True, text=True, check=True, timeout=60)
    return json.loads(result.stdout)
