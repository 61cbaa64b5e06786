"""Counts the HTTP requests an operator process sends, for bench_scale.py.

Loaded through PYTHONPATH into the operator process under measurement (this
checkout's and the baseline's alike), it wraps the two HTTP clients an operator
uses — urllib3 (the kubernetes client) and aiohttp (kopf) — and writes the
counts by verb (GET, LIST, WATCH, POST, PATCH, PUT, DELETE) to the file named by
``MLOPS_BENCH_REQUEST_COUNTS`` every second. Nothing else changes.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import Counter
from urllib.parse import parse_qs, urlsplit

_PATH = os.environ.get("MLOPS_BENCH_REQUEST_COUNTS")
_counts: Counter = Counter()
_lock = threading.Lock()


def _verb(method: str, url: str) -> str:
    """Kubernetes' verb: a GET is a WATCH with watch=true, a LIST on a collection."""
    method = method.upper()
    if method != "GET":
        return method
    parts = urlsplit(str(url))
    if parse_qs(parts.query).get("watch", ["false"])[0] in ("true", "1"):
        return "WATCH"
    segments = [s for s in parts.path.split("/") if s]
    # /api/v1/<plural>, /api/v1/namespaces/<ns>/<plural>, /apis/<g>/<v>/... : even = list
    core = segments[:2] == ["api", "v1"]
    rest = segments[2:] if core else segments[3:]
    return "LIST" if len(rest) % 2 == 1 else "GET"


def _count(method: str, url: str) -> None:
    with _lock:
        _counts[_verb(method, url)] += 1


def _writer() -> None:
    while True:
        time.sleep(1.0)
        with _lock:
            text = json.dumps(dict(_counts))
        with open(f"{_PATH}.tmp", "w") as handle:
            handle.write(text)
        os.replace(f"{_PATH}.tmp", _PATH)


def _install() -> None:
    import urllib3.connectionpool

    original = urllib3.connectionpool.HTTPConnectionPool.urlopen

    def urlopen(self, method, url, *args, **kwargs):  # type: ignore[no-untyped-def]
        _count(method, url)
        return original(self, method, url, *args, **kwargs)

    urllib3.connectionpool.HTTPConnectionPool.urlopen = urlopen
    threading.Thread(target=_writer, daemon=True).start()
    try:
        import aiohttp
    except ImportError:
        return
    original_request = aiohttp.ClientSession._request

    async def request(self, method, url, *args, **kwargs):  # type: ignore[no-untyped-def]
        _count(method, str(url))
        return await original_request(self, method, url, *args, **kwargs)

    aiohttp.ClientSession._request = request


if _PATH:
    _install()
