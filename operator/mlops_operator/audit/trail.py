"""Audit records to each namespace's monitor, off the reconcile path, batched, bounded.

``record`` only appends to the namespace's queue; a thread sends each queue to the
monitor's ``POST /v1/audit`` (JSON lines, the monitor's bearer token) and forgets a
record once the monitor answered 202, which it does only after the batch is a synced
file in its spool. A namespace without a reachable monitor keeps its records (up to
``max_pending``; past that the oldest are dropped and counted) and is asked again after a
growing pause, so a cluster without monitors costs almost no API requests.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from mlops_operator import metrics

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MonitorTarget:
    """Where a namespace's monitor listens and the token it wants."""

    url: str
    token: str


#: namespace -> its monitor, or None when it has none (or its token is missing).
Locator = Callable[[str], MonitorTarget | None]


@dataclass
class _Queue:
    records: deque[tuple[int, dict[str, Any]]] = field(default_factory=deque)
    target: MonitorTarget | None = None
    next_try: float = 0.0
    pause: float = 0.0
    failing: bool = False


class AuditTrail:
    """Per-namespace queues of audit records and the thread that delivers them."""

    def __init__(self, locate: Locator, *, max_pending: int = 10_000, batch: int = 500,
                 interval: float = 1.0, max_pause: float = 60.0, timeout: float = 5.0,
                 client: httpx.Client | None = None) -> None:
        self._locate = locate
        self.max_pending, self.batch = max_pending, batch
        self.interval, self.max_pause = interval, max_pause
        self._client = client or httpx.Client(timeout=timeout)
        self._queues: dict[str, _Queue] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._sequence = 0
        self._thread: threading.Thread | None = None

    def record(self, record: dict[str, Any]) -> None:
        """Queue ``record`` for its namespace; never blocks, never raises."""
        namespace = str(record.get("namespace") or "")
        if not namespace:
            return
        with self._lock:
            queue = self._queues.setdefault(namespace, _Queue())
            self._sequence += 1
            queue.records.append((self._sequence, record))
            while len(queue.records) > self.max_pending:
                queue.records.popleft()
                metrics.AUDIT_RECORDS.labels(outcome="dropped").inc()
                metrics.AUDIT_PENDING.dec()
            metrics.AUDIT_PENDING.inc()
        self._wake.set()

    def pending(self, namespace: str) -> int:
        with self._lock:
            queue = self._queues.get(namespace)
            return len(queue.records) if queue else 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="audit-trail", daemon=True)
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
        """One pass over the namespaces whose turn it is (``force``: all of them)."""
        now = time.monotonic()
        with self._lock:
            due = [(ns, q) for ns, q in self._queues.items()
                   if q.records and (force or q.next_try <= now)]
        for namespace, queue in due:
            try:
                self._send(namespace, queue)
            except Exception as error:  # noqa: BLE001 - the records stay queued
                self._failed(namespace, queue, f"{type(error).__name__}: {error}")

    def _send(self, namespace: str, queue: _Queue) -> None:
        while queue.records:
            if queue.target is None:
                queue.target = self._locate(namespace)
                if queue.target is None:
                    self._failed(namespace, queue, "no monitor (Service mlops-monitor and "
                                 "Secret mlops-monitor-token) in the namespace")
                    return
            with self._lock:
                chunk = list(queue.records)[: self.batch]
            body = b"".join(json.dumps(r, default=str, sort_keys=True).encode() + b"\n"
                            for _, r in chunk)
            answer = self._client.post(
                f"{queue.target.url}/v1/audit", content=body,
                headers={"Authorization": f"Bearer {queue.target.token}",
                         "Content-Type": "application/x-ndjson"})
            if answer.status_code == 400:  # a record the monitor will never take
                log.warning("audit trail of %s: the monitor refused %d records: %s",
                            namespace, len(chunk), answer.text[:300])
                self._forget(queue, chunk[-1][0], "refused")
                continue
            if answer.status_code != 202:
                queue.target = None  # the token or the address may have changed
                self._failed(namespace, queue, f"the monitor answered {answer.status_code}")
                return
            self._forget(queue, chunk[-1][0], "sent")
        if queue.failing:
            log.info("audit trail of %s: delivering again", namespace)
        queue.failing, queue.pause = False, 0.0

    def _forget(self, queue: _Queue, last: int, outcome: str) -> None:
        with self._lock:
            count = 0
            while queue.records and queue.records[0][0] <= last:
                queue.records.popleft()
                count += 1
        metrics.AUDIT_RECORDS.labels(outcome=outcome).inc(count)
        metrics.AUDIT_PENDING.dec(count)

    def _failed(self, namespace: str, queue: _Queue, why: str) -> None:
        """Keep the records, try again later; one log line when delivery starts failing."""
        queue.target = None
        queue.pause = min(max(queue.pause * 2, self.interval), self.max_pause)
        queue.next_try = time.monotonic() + queue.pause
        if not queue.failing:
            log.warning("audit trail of %s held (%d records): %s", namespace,
                        len(queue.records), why)
        queue.failing = True
