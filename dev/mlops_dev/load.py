"""Steady prediction traffic through a Service, recording which version answered.

Used by the demo, the rollout tests and the rollback benchmark. Each request
opens a new connection, so the Service proxy (like kube-proxy) spreads requests
over the ready pods, and each answer names the version that served it.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from dataclasses import dataclass

import httpx
from sklearn.datasets import load_iris


@dataclass(frozen=True)
class Answer:
    """One request: when it was sent, its HTTP status and which version answered."""

    at: float  # time.monotonic()
    status: int
    version: str | None


def iris_rows(seed: int = 0) -> list[dict[str, float]]:
    """Real inputs: the iris data set's rows, shuffled."""
    frame = load_iris(as_frame=True).frame.drop(columns=["target"])
    rows = [{k: float(v) for k, v in row.items()} for row in frame.to_dict("records")]
    random.Random(seed).shuffle(rows)
    return rows


class LoadGenerator:
    """POST one row per request to ``url`` at ``rate`` requests/s until stopped."""

    def __init__(self, url: str, rate: float = 20.0, rows: list[dict[str, float]] | None = None,
                 max_seconds: float = 600.0) -> None:
        self.url, self.rate, self.max_seconds = url, rate, max_seconds
        self.rows = rows or iris_rows()
        self.answers: list[Answer] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="load")
        self._lock = threading.Lock()

    def __enter__(self) -> LoadGenerator:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        started = time.monotonic()
        period = 1.0 / self.rate
        # No keep-alive: one connection per request, so each request picks a pod.
        limits = httpx.Limits(max_keepalive_connections=0)
        with httpx.Client(timeout=5.0, limits=limits) as client:
            index = 0
            while not self._stop.is_set() and time.monotonic() - started < self.max_seconds:
                row = self.rows[index % len(self.rows)]
                index += 1
                sent = time.monotonic()
                try:
                    response = client.post(self.url, json={"instances": [row]})
                    is_json = response.headers.get("content-type", "").startswith(
                        "application/json")
                    version = response.json().get("version") if is_json else None
                    answer = Answer(sent, response.status_code, version)
                except httpx.HTTPError:
                    answer = Answer(sent, 0, None)
                with self._lock:
                    self.answers.append(answer)
                self._stop.wait(max(0.0, period - (time.monotonic() - sent)))

    def since(self, moment: float) -> list[Answer]:
        with self._lock:
            return [a for a in self.answers if a.at >= moment]

    def versions(self, since: float = 0.0) -> Counter[str | None]:
        return Counter(a.version for a in self.since(since))

    def statuses(self, since: float = 0.0) -> Counter[int]:
        return Counter(a.status for a in self.since(since))
