"""Fixtures for the built-in trainer: a termination-log path, a runner, a local HTTP server."""

from __future__ import annotations

import functools
import http.server
import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from mlops_runtime.trainer.main import main


@pytest.fixture
def run_trainer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., tuple[int, dict[str, Any]]]:
    """Run ``main`` in-process; returns the exit code and the parsed termination message."""
    log = tmp_path / "termination-log"
    monkeypatch.setenv("MLOPS_TERMINATION_LOG", str(log))
    for name in ("MLOPS_TRAINING_SPEC", "MLOPS_OUTPUT_URI", "MLOPS_GIT_REVISION", "MLOPS_IMAGE",
                 "MLOPS_CHAMPION"):
        monkeypatch.delenv(name, raising=False)

    def run(spec: dict[str, Any], output_uri: str, *extra: str) -> tuple[int, dict[str, Any]]:
        if log.exists():
            log.unlink()
        code = main(["--spec-json", json.dumps(spec), "--output-uri", output_uri, *extra])
        text = log.read_text(encoding="utf-8")
        assert len(text.encode("utf-8")) <= 4096
        return code, json.loads(text)

    return run


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        """Keep test output clean."""


@pytest.fixture
def http_root(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """Serve a temporary directory on 127.0.0.1; yields (directory, base URL)."""
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
