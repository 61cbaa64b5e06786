"""The dynamic client's discovery cache files do not pile up in /tmp."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from mlops_operator.k8s.api import _remove_caches_of_ended_processes


def test_a_killed_process_cache_is_removed_and_a_live_one_kept(tmp_path: Path) -> None:
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                           capture_output=True, text=True, check=True)
    of_ended = tmp_path / f"{ended.stdout.strip()}.json"
    of_live = tmp_path / f"{os.getpid()}.json"
    unrelated = tmp_path / "notes.json"
    for cache in (of_ended, of_live, unrelated):
        cache.write_text("{}")

    _remove_caches_of_ended_processes(tmp_path)

    assert not of_ended.exists()
    assert of_live.exists() and unrelated.exists()
