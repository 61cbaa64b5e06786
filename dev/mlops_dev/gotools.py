"""Commands built once from a pinned Go module under ``dev/`` (kstatus, Helm) and cached
by version, so only the tests that need one pay for its build, once per machine."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from pathlib import Path

from mlops_dev.kubebuild import cache_root


def ensure_go_command(name: str, version: str, module_dir: Path, package: str = ".",
                      ldflags: str = "") -> Path:
    """The command ``name`` at ``version``, built from ``package`` in ``module_dir`` on
    first use; a lock keeps two processes from building it at once."""
    binary = cache_root() / f"{name}-{version}" / name
    if binary.exists():
        return binary
    if shutil.which("go") is None:
        raise RuntimeError(f"Go is needed to build {name} {version} from {module_dir}")
    binary.parent.mkdir(parents=True, exist_ok=True)
    with open(binary.parent / "build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not binary.exists():
            partial = binary.with_suffix(".partial")
            # Static (no cgo): the same binary runs on the host and in a FROM scratch image.
            subprocess.run(["go", "build", "-trimpath", "-ldflags", ldflags, "-o", str(partial),
                            package], cwd=module_dir, check=True,
                           env={**os.environ, "CGO_ENABLED": "0"})
            partial.rename(binary)
    return binary
