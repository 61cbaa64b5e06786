"""kstatus, the status library of sigs.k8s.io/cli-utils (what Flux, kpt and cli-utils
read), built once from its Go module in ``dev/kstatus`` and cached by version."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mlops_dev.gotools import ensure_go_command
from mlops_dev.kubebuild import REPO_ROOT

CLI_UTILS_VERSION = "v0.37.2"  # keep equal to dev/kstatus/go.mod
MODULE_DIR = REPO_ROOT / "dev" / "kstatus"


def ensure_kstatus() -> Path:
    """The kstatus command, built on first use (about 20 s with a warm module cache)."""
    return ensure_go_command("kstatus", CLI_UTILS_VERSION, MODULE_DIR)


def compute(objects: Sequence[dict[str, Any]]) -> list[dict[str, str]]:
    """kstatus' result (``status``: Current, InProgress, Failed, ...; ``message``) for each
    object, as ``kstatus.Compute`` gives it."""
    result = subprocess.run([str(ensure_kstatus())], input=json.dumps(list(objects)),
                            capture_output=True, text=True, check=True, timeout=60)
    return json.loads(result.stdout)
