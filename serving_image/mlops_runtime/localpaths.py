"""Translate container paths to host paths when a pod runs as a local process.

In a real container a volume is mounted at its ``mountPath``. The local cluster's
node agent runs our images' containers as plain processes instead, so it tells
the process where each mount lives on the host through ``MLOPS_LOCAL_MOUNTS``
(a JSON object: container path -> host path). Everything in the runtime that
opens a path from its configuration goes through :func:`host_path`; in a real
container the variable is absent and paths are returned unchanged.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import PurePosixPath

MOUNTS_ENV = "MLOPS_LOCAL_MOUNTS"


@lru_cache(maxsize=8)
def _parse_mounts(raw: str) -> tuple[tuple[str, str], ...]:
    mapping = json.loads(raw) if raw else {}
    # Longest container path first, so nested mounts win over their parents.
    return tuple(sorted(mapping.items(), key=lambda item: len(item[0]), reverse=True))


def host_path(container_path: str) -> str:
    """Return where ``container_path`` lives for this process."""
    mounts = _parse_mounts(os.environ.get(MOUNTS_ENV, ""))
    path = PurePosixPath(container_path)
    for mount_path, host in mounts:
        mount = PurePosixPath(mount_path)
        if path == mount:
            return host
        if mount in path.parents:
            return str(PurePosixPath(host) / path.relative_to(mount))
    return container_path
