"""The audit trail's lines: checked on arrival, kept as JSON lines per namespace and day.

The operator posts its decisions and the spec changes it saw as JSON lines; each line is
an object with at least ``time`` (RFC 3339, UTC), ``namespace``, ``kind``, ``name`` and
``action``. An accepted body is spooled as it will be written (one sorted-key line per
record) and flushed below ``<root>/audit/namespace=<ns>/date=<YYYY-MM-DD>/`` as
``part-<first batch>.jsonl``: a flush repeated after a crash rewrites the same file. The
trail has no retention of its own: it is the record that outlives everything else.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from mlops_runtime import stores
from mlops_runtime.monitor.spool import Spool

AUDIT_FOLDER = "audit"
REQUIRED = ("time", "namespace", "kind", "name", "action")
MAX_RECORDS = 10_000


class AuditError(ValueError):
    """A body the monitor will not keep; the message names the line and field."""


def parse_audit(body: bytes) -> list[dict[str, Any]]:
    """The records of a JSON-lines body, each checked; raises :class:`AuditError`."""
    records = []
    for number, line in enumerate(body.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError as error:
            raise AuditError(f"line {number}: not JSON ({error})") from None
        if not isinstance(record, dict):
            raise AuditError(f"line {number}: a record is a JSON object")
        _check(record, number)
        records.append(record)
        if len(records) > MAX_RECORDS:
            raise AuditError(f"more than {MAX_RECORDS} records in one body")
    if not records:
        raise AuditError("no records in the body")
    return records


def _check(record: Mapping[str, Any], number: int) -> None:
    for key in REQUIRED:
        value = record.get(key)
        if not isinstance(value, str) or not value:
            raise AuditError(f"line {number}: {key!r} must be a non-empty string")
    try:
        day(record["time"])
    except ValueError:
        raise AuditError(f"line {number}: 'time' is not RFC 3339: {record['time']!r}") from None
    if "/" in record["namespace"] or record["namespace"] in (".", ".."):
        raise AuditError(f"line {number}: 'namespace' is not a namespace name")


def day(time: str) -> str:
    """The UTC day of an RFC 3339 time (a time without an offset is taken as UTC)."""
    parsed = datetime.fromisoformat(time.replace("Z", "+00:00"))
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC)
    return parsed.strftime("%Y-%m-%d")


def to_lines(records: list[dict[str, Any]]) -> bytes:
    """The spool's form: one sorted-key JSON object per line."""
    return b"".join(orjson.dumps(r, option=orjson.OPT_SORT_KEYS) + b"\n" for r in records)


def partition(namespace: str, day: str) -> str:
    return f"{AUDIT_FOLDER}/namespace={namespace}/date={day}"


@dataclass(frozen=True)
class AuditFlushed:
    records: int
    files: int


class AuditWriter:
    """Writes the audit spool below ``root``: per flush, one file per namespace and day."""

    def __init__(self, root: str, spool: Spool) -> None:
        self.root = root.rstrip("/")
        self.spool = spool
        self.store = stores.store_for(self.root)

    def flush(self) -> AuditFlushed:
        batches = self.spool.begin()
        if not batches:
            return AuditFlushed(0, 0)
        files: dict[tuple[str, str], list[bytes]] = {}
        for path in batches:
            for line in path.read_bytes().splitlines():
                record = orjson.loads(line)
                key = (record["namespace"], day(record["time"]))
                files.setdefault(key, []).append(line + b"\n")
        for (namespace, date), lines in sorted(files.items()):
            uri = f"{self.root}/{partition(namespace, date)}/part-{batches[0].stem}.jsonl"
            self.store.write_bytes(uri, b"".join(lines))
        self.spool.finish(batches)
        return AuditFlushed(sum(len(v) for v in files.values()), len(files))
