"""The audit trail's sender: each namespace's records to its monitor's ``/v1/audit``."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from mlops_operator import metrics
from mlops_operator.outbox.queue import Destination, Outbox, OutboxMetrics


@dataclass(frozen=True)
class MonitorTarget:
    """Where a namespace's monitor listens and the token it wants."""

    url: str
    token: str


def json_lines(records: Sequence[dict[str, Any]]) -> tuple[bytes, str]:
    """One sorted-key JSON object per line (values JSON cannot hold become strings)."""
    body = b"".join(json.dumps(r, default=str, sort_keys=True).encode() + b"\n"
                    for r in records)
    return body, "application/x-ndjson"


class AuditTrail:
    """Queues per namespace for the namespace's monitor (``locate``: namespace -> it)."""

    def __init__(self, locate: Callable[[str], MonitorTarget | None], **options: Any) -> None:
        def destination(namespace: str) -> Destination | None:
            target = locate(namespace)
            if target is None:
                return None
            return Destination(f"{target.url}/v1/audit",
                               {"Authorization": f"Bearer {target.token}"})
        self.outbox = Outbox("audit trail", destination, json_lines,
                             OutboxMetrics(metrics.AUDIT_RECORDS, metrics.AUDIT_PENDING),
                             **options)

    def record(self, record: dict[str, Any]) -> None:
        """Queue ``record`` for its namespace's monitor (one without a namespace: nowhere)."""
        namespace = str(record.get("namespace") or "")
        if namespace:
            self.outbox.put(namespace, record)

    def pending(self, namespace: str) -> int:
        return self.outbox.pending(namespace)

    def deliver(self, force: bool = False) -> None:
        self.outbox.deliver(force)

    def start(self) -> None:
        self.outbox.start()

    def stop(self, timeout: float = 5.0) -> None:
        self.outbox.stop(timeout)
