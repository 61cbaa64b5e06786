"""The monitor's write-ahead spool: a batch is acknowledged only once it is a synced file.

Each accepted body becomes one file, named so that names sort in arrival order. The
writer turns a set of them into Parquet; before it does, it records that set in a
manifest, so after a crash the same set is written again under the same part names
(overwriting, never duplicating) and only then removed.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import time
from pathlib import Path

from mlops_runtime.stores import write_atomically

SUFFIX = ".arrows"
MANIFEST = "flushing.manifest"


class Spool:
    """A folder of accepted, not yet written batches, bounded in bytes."""

    def __init__(self, folder: Path, max_bytes: int) -> None:
        self.folder = folder
        self.max_bytes = max_bytes
        folder.mkdir(parents=True, exist_ok=True)
        self._sequence = itertools.count()
        self.bytes = sum(path.stat().st_size for path in self.pending())

    def has_room(self, size: int) -> bool:
        """Would a body of ``size`` bytes keep the spool within its bound?"""
        return self.bytes + size <= self.max_bytes

    def put(self, data: bytes) -> Path:
        """Keep ``data`` durably; return its file once it is synced."""
        name = f"{time.time_ns():020d}-{os.getpid()}-{next(self._sequence):06d}{SUFFIX}"
        path = self.folder / name
        write_atomically(str(path), data)
        self.bytes += len(data)
        return path

    def pending(self) -> list[Path]:
        """Spooled batches, oldest first."""
        return sorted(self.folder.glob(f"*{SUFFIX}"))

    def begin(self) -> list[Path]:
        """The batches of the next flush: an unfinished flush's, else all pending ones
        (recorded in the manifest before anything is written)."""
        manifest = self.folder / MANIFEST
        if manifest.exists():
            names = manifest.read_text(encoding="utf-8").split()
            return [self.folder / name for name in names if (self.folder / name).exists()]
        batches = self.pending()
        if batches:
            write_atomically(str(manifest), "\n".join(p.name for p in batches).encode())
        return batches

    def finish(self, batches: list[Path]) -> None:
        """The flush's batches are in the store: remove them, then the manifest."""
        for path in batches:
            with contextlib.suppress(FileNotFoundError):
                size = path.stat().st_size
                path.unlink()
                self.bytes -= size
        with contextlib.suppress(FileNotFoundError):
            (self.folder / MANIFEST).unlink()
