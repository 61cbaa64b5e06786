"""Records to HTTP receivers, off the reconcile path, batched, bounded, retried.

An :class:`Outbox` keeps one queue per destination key; ``put`` only appends to it. A
thread sends each queue to where ``locate`` says the key's receiver is, ``batch`` records
per request, and forgets them once the receiver answered 2xx (the monitor answers 202 only
after the batch is a synced file in its spool). A 4xx other than 408/429 means the
records will never be taken: they are dropped, counted and logged. A key whose receiver is
missing or failing keeps its records (up to ``max_pending``; past that the oldest are
dropped and counted) and is tried again after a growing pause, so a cluster without
receivers costs almost no API requests.

Two outboxes use it: the audit trail (key: the namespace; receiver: its monitor's
``/v1/audit``, JSON lines) and the Deployments' notifications (``notify.py``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
from prometheus_client import Counter, Gauge

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Destination:
    """Where a key's records are posted, with the headers it wants (its token)."""

    url: str
    headers: Mapping[str, str] = field(default_factory=dict)


#: key -> its receiver, or None when there is none (yet).
Locator = Callable[[str], Destination | None]
#: records -> (body, content type)
Encoder = Callable[[Sequence[dict[str, Any]]], tuple[bytes, str]]


@dataclass
class _Queue:
    records: deque[tuple[int, dict[str, Any]]] = field(default_factory=deque)
    target: Destination | None = None
    next_try: float = 0.0
    pause: float = 0.0
    failing: bool = False


@dataclass(frozen=True)
class OutboxMetrics:
    """The outbox's series: records by outcome (sent, dropped, refused) and waiting."""

    records: Counter
    pending: Gauge


class Outbox:
    """Per-key queues of records and the thread that delivers them."""

    def __init__(self, name: str, locate: Locator, encode: Encoder, series: OutboxMetrics,
                 *, max_pending: int = 10_000, batch: int = 500, interval: float = 1.0,
                 max_pause: float = 60.0, timeout: float = 5.0,
                 client: httpx.Client | None = None) -> None:
        self.name, self._locate, self._encode, self._series = name, locate, encode, series
        self.max_pending, self.batch = max_pending, batch
        self.interval, self.max_pause = interval, max_pause
        self._client = client or httpx.Client(timeout=timeout)
        self._queues: dict[str, _Queue] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._sequence = 0
        self._thread: threading.Thread | None = None

    def put(self, key: str, record: dict[str, Any]) -> None:
        """Queue ``record`` for ``key``'s receiver; never blocks, never raises."""
        with self._lock:
            queue = self._queues.setdefault(key, _Queue())
            self._sequence += 1
            queue.records.append((self._sequence, record))
            self._series.pending.inc()
            while len(queue.records) > self.max_pending:
                queue.records.popleft()
                self._series.records.labels(outcome="dropped").inc()
                self._series.pending.dec()
        self._wake.set()

    def pending(self, key: str) -> int:
        with self._lock:
            queue = self._queues.get(key)
            return len(queue.records) if queue else 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread after one last delivery attempt."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._client.close()

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(self.interval)
            self._wake.clear()
            self.deliver()
        self.deliver(force=True)

    def deliver(self, force: bool = False) -> None:
        """One pass over the keys whose turn it is (``force``: all of them)."""
        now = time.monotonic()
        with self._lock:
            due = [(key, q) for key, q in self._queues.items()
                   if q.records and (force or q.next_try <= now)]
        for key, queue in due:
            try:
                self._send(key, queue)
            except Exception as error:  # noqa: BLE001 - the records stay queued
                self._failed(key, queue, f"{type(error).__name__}: {error}")

    def _send(self, key: str, queue: _Queue) -> None:
        while queue.records:
            if queue.target is None:
                queue.target = self._locate(key)
                if queue.target is None:
                    self._failed(key, queue, "no receiver to send to")
                    return
            with self._lock:
                chunk = list(queue.records)[: self.batch]
            body, content_type = self._encode([record for _, record in chunk])
            answer = self._client.post(queue.target.url, content=body, headers={
                **queue.target.headers, "Content-Type": content_type})
            status = answer.status_code
            if 400 <= status < 500 and status not in (401, 403, 408, 429):
                log.warning("%s for %s: the receiver refused %d records (%d): %s", self.name,
                            key, len(chunk), status, answer.text[:300])
                self._forget(queue, chunk[-1][0], "refused")
                continue
            if not 200 <= status < 300:
                queue.target = None  # the token or the address may have changed
                self._failed(key, queue, f"the receiver answered {status}")
                return
            self._forget(queue, chunk[-1][0], "sent")
        if queue.failing:
            log.info("%s for %s: delivering again", self.name, key)
        queue.failing, queue.pause = False, 0.0

    def _forget(self, queue: _Queue, last: int, outcome: str) -> None:
        with self._lock:
            count = 0
            while queue.records and queue.records[0][0] <= last:
                queue.records.popleft()
                count += 1
            self._series.pending.dec(count)
        self._series.records.labels(outcome=outcome).inc(count)

    def _failed(self, key: str, queue: _Queue, why: str) -> None:
        """Keep the records, try again later; one log line when delivery starts failing."""
        queue.target = None
        queue.pause = min(max(queue.pause * 2, self.interval), self.max_pause)
        queue.next_try = time.monotonic() + queue.pause
        if not queue.failing:
            log.warning("%s for %s held (%d records): %s", self.name, key,
                        len(queue.records), why)
        queue.failing = True
