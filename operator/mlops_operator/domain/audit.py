"""The audit trail's records: what the operator decided and which spec changes it saw.

Pure: the records are plain JSON-ready dicts, one per line of the trail the namespace's
monitor keeps (``audit/namespace=<ns>/date=<day>/part-*.jsonl`` in its store). Every
record names its object (``kind``, ``namespace``, ``name``, ``uid``), its ``time`` and
its ``action``: an Event's reason for a decision (``RolledBack``, ``Promoted``,
``Approved``...), or ``Created``, ``SpecChanged`` and ``Deleted`` for what people and
tools did to the spec, with the field manager that did it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mlops_operator.domain.durations import parse_rfc3339
from mlops_operator.domain.vocabulary import AuditAction

#: A spec change lists at most this many changed paths (the rest are counted).
MAX_CHANGES = 50
#: A changed value longer than this (as JSON-ish text) is cut, with its length kept.
MAX_VALUE_CHARS = 512


def _subject(obj: Mapping[str, Any]) -> dict[str, Any]:
    meta = obj.get("metadata") or {}
    return {"kind": obj.get("kind", ""), "apiVersion": obj.get("apiVersion", ""),
            "namespace": meta.get("namespace", ""), "name": meta.get("name", ""),
            "uid": meta.get("uid", ""), "generation": meta.get("generation")}


def decision_record(obj: Mapping[str, Any], type_: str, reason: str, message: str, at: str,
                    details: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A decision the operator reported as an Event, with the values behind it."""
    record = {"time": at, **_subject(obj), "action": reason, "type": type_,
              "message": message, "actor": "mlops-operator"}
    if details:
        record["details"] = dict(details)
    return record


@dataclass(frozen=True)
class Seen:
    """The generation and spec of an object as this operator last saw it."""

    generation: int
    spec: Mapping[str, Any]


def spec_record(obj: Mapping[str, Any], seen: Seen | None, at: str,
                watching_since: str | None = None) -> dict[str, Any] | None:
    """The record for a watch event on ``obj``, or None when its spec did not change.

    ``seen`` is what this process saw before (None on first sight, e.g. after a restart):
    then a generation the status's ``observedGeneration`` already reached was recorded
    before — unless the object was created since this process began watching
    (``watching_since``): the watch merged its first events, and nobody else recorded it.
    Otherwise a first generation is a creation (timed at its creationTimestamp) and a later
    one a change made while no operator watched (its diff unknown).
    """
    meta = obj.get("metadata") or {}
    generation = int(meta.get("generation") or 0)
    spec = obj.get("spec") or {}
    if seen is not None and generation <= seen.generation:
        return None
    record = {"time": at, **_subject(obj), **_manager(meta.get("managedFields") or ())}
    if seen is not None:
        changes = list(spec_changes(seen.spec, spec))
        if not changes:  # e.g. the generation a deletion's timestamp bumps
            return None
        return {**record, "action": AuditAction.SPEC_CHANGED,
                "previousGeneration": seen.generation,
                "changes": changes[:MAX_CHANGES], "changeCount": len(changes)}
    observed = (obj.get("status") or {}).get("observedGeneration")
    if (isinstance(observed, int) and observed >= generation
            and not _created_since(meta, watching_since)):
        return None  # an operator handled this generation: it was recorded then
    if generation <= 1:
        return {**record, "time": meta.get("creationTimestamp") or at,
                "action": AuditAction.CREATED, "spec": _clip(spec)}
    return {**record, "action": AuditAction.SPEC_CHANGED,
            "previousGeneration": observed if isinstance(observed, int) else None,
            "changes": None, "changeCount": None,
            "message": "changed while no operator was watching: the diff is unknown"}


def _created_since(meta: Mapping[str, Any], watching_since: str | None) -> bool:
    """Whether the object was created at or after ``watching_since``. Both are whole
    seconds (to_rfc3339, creationTimestamp): an object of that very second counts as new."""
    created = meta.get("creationTimestamp")
    if not watching_since or not isinstance(created, str):
        return False
    try:
        return parse_rfc3339(created) >= parse_rfc3339(watching_since)
    except ValueError:
        return False


def deletion_record(obj: Mapping[str, Any], at: str) -> dict[str, Any]:
    """The object is gone (the API server does not say who deleted it)."""
    return {"time": at, **_subject(obj), "action": AuditAction.DELETED}


def spec_changes(old: Any, new: Any, path: str = "spec") -> Iterator[dict[str, Any]]:
    """Each changed leaf as {path, old, new}; a missing side is None. Lists are compared
    whole (their items have no stable identity)."""
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        for key in sorted({*old, *new}):
            yield from spec_changes(old.get(key), new.get(key), f"{path}.{key}")
        return
    if old != new:
        yield {"path": path, "old": _clip(old), "new": _clip(new)}


def _clip(value: Any) -> Any:
    text = repr(value)
    if len(text) <= MAX_VALUE_CHARS:
        return value
    return {"truncated": text[:MAX_VALUE_CHARS], "chars": len(text)}


def _manager(entries: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Who last wrote the spec: the newest managedFields entry that owns a spec field
    (``kubectl``, ``kubectl-client-side-apply``, ``argocd-controller``, ``helm``...)."""
    owners = [e for e in entries if e.get("subresource") in (None, "")
              and "f:spec" in (e.get("fieldsV1") or {})]
    if not owners:
        return {"actor": None}
    newest = max(owners, key=lambda e: str(e.get("time") or ""))
    return {"actor": newest.get("manager"), "operation": newest.get("operation"),
            "actorTime": newest.get("time")}
