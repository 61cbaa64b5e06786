"""Feedback labels: what clients post, and how labels are kept.

``POST /v1/labels`` takes JSON: one ``{"id": ..., "label": ...}``, a list of them, or
``{"labels": [...]}``; with ``Content-Type: application/x-ndjson``, one object per line.
An ``id`` is a prediction's ID (a string, or an integer taken as its text); a ``label`` is
a string, number or boolean. Entries that are not are counted as invalid and named in the
answer (the first few), never fatal to the rest. Labels are kept as the canonical text of
:func:`~mlops_runtime.monitor.quality.label_text`, with the time they arrived, in Parquet::

    <root>/labels/hour=<YYYY-MM-DDTHH>/<part>.parquet   (id, label, received)
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

import orjson
import pyarrow as pa

from mlops_runtime.monitor.quality import label_text
from mlops_runtime.predictionlog.records import HOUR_FORMAT, TIME_TYPE

LABELS_FOLDER = "labels"
ID = "id"
LABEL = "label"
RECEIVED = "received"
SCHEMA = pa.schema([(ID, pa.string()), (LABEL, pa.string()), (RECEIVED, TIME_TYPE)])
#: Invalid entries named in an answer; the rest are only counted.
NAMED_ERRORS = 5


class LabelsError(ValueError):
    """A body that is not labels at all: refused, naming what is wrong."""


@dataclass
class ParsedLabels:
    """The valid ``(id, label text)`` pairs of a body, and what was wrong with the rest."""

    pairs: list[tuple[str, str]] = field(default_factory=list)
    invalid: int = 0
    errors: list[str] = field(default_factory=list)

    def refuse(self, where: str, why: str) -> None:
        self.invalid += 1
        if len(self.errors) < NAMED_ERRORS:
            self.errors.append(f"{where}: {why}")


def _entries(body: bytes, ndjson: bool) -> list[Any]:
    try:
        if ndjson:
            return [orjson.loads(line) for line in body.splitlines() if line.strip()]
        document = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise LabelsError(f"body: not JSON: {error}") from None
    if isinstance(document, dict) and "labels" in document:
        document = document["labels"]
        if not isinstance(document, list):
            raise LabelsError("labels: expected a list of {id, label} objects")
    return document if isinstance(document, list) else [document]


def parse_labels(body: bytes, ndjson: bool = False) -> ParsedLabels:
    """Read a body; a :class:`LabelsError` only if it is not JSON (lines) at all."""
    parsed = ParsedLabels()
    for index, entry in enumerate(_entries(body, ndjson)):
        where = f"labels[{index}]"
        if not isinstance(entry, dict):
            parsed.refuse(where, "expected an object with id and label")
            continue
        row_id = entry.get(ID)
        if isinstance(row_id, int) and not isinstance(row_id, bool):
            row_id = str(row_id)
        if not isinstance(row_id, str) or not row_id:
            parsed.refuse(f"{where}.id", "expected a non-empty string")
            continue
        text = label_text(entry.get(LABEL))
        if text is None:
            parsed.refuse(f"{where}.label", "expected a string, number or boolean, "
                          f"got {entry.get(LABEL)!r}"[:120])
            continue
        parsed.pairs.append((row_id, text))
    return parsed


def to_ipc(pairs: list[tuple[str, str]], received_ms: int) -> bytes:
    """Labels as an Arrow IPC stream: what the spool keeps until they are written."""
    table = pa.table({ID: [p[0] for p in pairs], LABEL: [p[1] for p in pairs],
                      RECEIVED: pa.array([received_ms] * len(pairs), pa.int64())
                      .cast(TIME_TYPE)}, schema=SCHEMA)
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, SCHEMA) as writer:
        writer.write_table(table)
    return sink.getvalue()


def from_ipc(data: bytes) -> pa.Table:
    """The labels of a spooled stream."""
    return pa.ipc.open_stream(data).read_all()


def partition(hour: str) -> str:
    """The folder (below the log's root) of the labels that arrived in ``hour``."""
    return f"{LABELS_FOLDER}/hour={hour}"


__all__ = ["HOUR_FORMAT", "LabelsError", "ParsedLabels", "parse_labels", "partition"]
