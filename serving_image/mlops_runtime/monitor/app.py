"""The monitor's HTTP side: model servers post prediction records, Prometheus scrapes.

``POST /v1/records`` takes an Arrow IPC stream of records (``predictionlog.records``)
with ``Authorization: Bearer <token>``; it answers 202 only after the batch is a synced
file in the spool, so an acknowledged record survives a crash of the monitor. A full
spool answers 503 (the sender keeps the batch and retries), a bad body 400 naming what is
wrong, a missing or wrong token 401. ``POST /v1/labels`` takes feedback labels
(``monitor.labels``) with the same token, keeps them the same way and joins them with the
logged predictions at once (``monitor.quality``); ``/metrics`` shows the live quality per
version. ``POST /v1/audit`` takes the operator's audit records (``monitor.audit``), kept
the same way. One task writes the spools to the store every ``flush_interval`` seconds
(Parquet; the audit trail as JSON lines) and applies the retention.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import orjson
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    generate_latest,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mlops_runtime.monitor import audit, feed, labels
from mlops_runtime.monitor.exposition import QualityCollector
from mlops_runtime.monitor.quality import JoinCounts, Quality
from mlops_runtime.monitor.settings import MonitorSettings
from mlops_runtime.monitor.spool import Spool
from mlops_runtime.monitor.writer import LabelWriter, ParquetWriter
from mlops_runtime.predictionlog.records import RecordsError, from_ipc

log = logging.getLogger("mlops_runtime.monitor")
JSON = "application/json"
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="mlops-runtime monitor"'}


def authorized(header: str | None, token_file: str) -> bool:
    """Whether ``header`` carries the bearer token in ``token_file`` (constant time; the
    file is read each time, so a rotated Secret takes effect without a restart)."""
    scheme, _, presented = (header or "").partition(" ")
    try:
        expected = Path(token_file).read_text(encoding="utf-8").strip()
    except OSError:
        return False
    return (scheme.lower() == "bearer" and bool(expected)
            and hmac.compare_digest(presented.strip().encode(), expected.encode()))


class MonitorMetrics:
    """The monitor's own series: what it took, refused, holds and wrote."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        rows = Counter("mlops_monitor_rows", "Prediction records by outcome.", ["outcome"],
                       registry=self.registry)
        self.accepted = rows.labels("accepted")
        self.refused = rows.labels("refused")
        self.written = rows.labels("written")
        self.spool_bytes = Gauge("mlops_monitor_spool_bytes",
                                 "Bytes accepted and not yet written to the store.",
                                 registry=self.registry)
        label_counter = Counter("mlops_monitor_labels", "Labels by outcome.", ["outcome"],
                                registry=self.registry)
        self.labels = {outcome: label_counter.labels(outcome) for outcome in
                       ("accepted", "invalid", "joined", "duplicate", "wrong_type")}
        audit_counter = Counter("mlops_monitor_audit_records", "Audit records by outcome.",
                                ["outcome"], registry=self.registry)
        self.audit = {outcome: audit_counter.labels(outcome)
                      for outcome in ("accepted", "invalid", "written")}
        self.flush_failures = Counter("mlops_monitor_flush_failures",
                                      "Flushes that failed (the spool keeps the batches).",
                                      registry=self.registry)

    def joined(self, counts: JoinCounts) -> None:
        self.labels["joined"].inc(counts.joined)
        self.labels["duplicate"].inc(counts.duplicate)
        self.labels["wrong_type"].inc(counts.wrong_type)


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps({"error": message}), status, headers, media_type=JSON)


async def _body(request: Request, limit: int) -> bytes | None:
    """The whole body, or None once it passes ``limit`` bytes (declared or streamed)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


class Monitor:
    """The monitor's state (spools, writers, the join, metrics) and its endpoints."""

    def __init__(self, settings: MonitorSettings) -> None:
        self.settings = settings
        self.spool = Spool(Path(settings.spool), settings.max_spool_bytes)
        self.label_spool = Spool(Path(settings.spool) / labels.LABELS_FOLDER,
                                 settings.max_spool_bytes)
        self.writer = ParquetWriter(settings.root, self.spool, settings.retention)
        self.label_writer = LabelWriter(settings.root, self.label_spool)
        self.audit_spool = Spool(Path(settings.spool) / audit.AUDIT_FOLDER,
                                 settings.max_spool_bytes)
        self.audit_writer = audit.AuditWriter(settings.root, self.audit_spool)
        self.quality = Quality(window=settings.quality_window,
                               keep=settings.join_hours * 3600.0,
                               max_predictions=settings.join_max_predictions)
        self.metrics = MonitorMetrics()
        self.metrics.spool_bytes.set_function(
            lambda: self.spool.bytes + self.label_spool.bytes + self.audit_spool.bytes)
        self.metrics.registry.register(QualityCollector(self.quality, feed.now_seconds))
        self._lock = asyncio.Lock()
        self._retry_after = {"Retry-After": str(int(settings.flush_interval) + 1)}

    async def flush(self) -> None:
        """Both spools to the store, then the retention; a failure keeps every batch."""
        async with self._lock:
            try:
                await asyncio.to_thread(self.label_writer.flush)
                trail = await asyncio.to_thread(self.audit_writer.flush)
                self.metrics.audit["written"].inc(trail.records)
                done = await asyncio.to_thread(self.writer.flush)
                await asyncio.to_thread(self.writer.expire, datetime.now(UTC))
            except Exception as error:  # noqa: BLE001 - the spool keeps every batch
                self.metrics.flush_failures.inc()
                log.warning("flush to %s failed, batches kept: %s", self.settings.root, error)
                return
        if done.rows:
            self.metrics.written.inc(done.rows)

    async def _flushing(self) -> None:
        while True:
            await asyncio.sleep(self.settings.flush_interval)
            await self.flush()

    async def _read(self, request: Request) -> bytes | Response:
        """The body of an authorized request within the size bound, or the refusal."""
        if not authorized(request.headers.get("authorization"), self.settings.token_file):
            return _error(401, "missing or wrong bearer token", CHALLENGE)
        body = await _body(request, self.settings.max_body_bytes)
        if body is None:
            return _error(413, f"body: more than {self.settings.max_body_bytes} bytes")
        return body

    async def records(self, request: Request) -> Response:
        body = await self._read(request)
        if isinstance(body, Response):
            return body
        try:
            table = from_ipc(body)
        except RecordsError as error:
            self.metrics.refused.inc()
            return _error(400, str(error))
        if not self.spool.has_room(len(body)):
            self.metrics.refused.inc(table.num_rows)
            return _error(503, f"spool full ({self.spool.bytes} of {self.spool.max_bytes} "
                          "bytes); retry later", self._retry_after)
        await asyncio.to_thread(self.spool.put, body)
        self.metrics.accepted.inc(table.num_rows)
        self.metrics.joined(feed.add_records(self.quality, table, feed.now_seconds()))
        return Response(orjson.dumps({"accepted": table.num_rows}), 202, media_type=JSON)

    async def feedback(self, request: Request) -> Response:
        body = await self._read(request)
        if isinstance(body, Response):
            return body
        try:
            parsed = labels.parse_labels(body, "ndjson" in request.headers.get(
                "content-type", ""))
        except labels.LabelsError as error:
            return _error(400, str(error))
        self.metrics.labels["invalid"].inc(parsed.invalid)
        counts = JoinCounts()
        if parsed.pairs:
            now = feed.now_seconds()
            data = labels.to_ipc(parsed.pairs, int(now * 1000))
            if not self.label_spool.has_room(len(data)):
                return _error(503, "spool full; retry later", self._retry_after)
            await asyncio.to_thread(self.label_spool.put, data)
            self.metrics.labels["accepted"].inc(len(parsed.pairs))
            counts = self.quality.add_labels(parsed.pairs, now)
            self.metrics.joined(counts)
        answer = {"accepted": len(parsed.pairs), "joined": counts.joined,
                  "pending": counts.pending, "duplicate": counts.duplicate,
                  "wrongType": counts.wrong_type, "invalid": parsed.invalid,
                  "errors": parsed.errors}
        return Response(orjson.dumps(answer), 202, media_type=JSON)

    async def trail(self, request: Request) -> Response:
        """``POST /v1/audit``: the operator's audit records, kept once spooled."""
        body = await self._read(request)
        if isinstance(body, Response):
            return body
        try:
            records = audit.parse_audit(body)
        except audit.AuditError as error:
            self.metrics.audit["invalid"].inc()
            return _error(400, str(error))
        data = audit.to_lines(records)
        if not self.audit_spool.has_room(len(data)):
            return _error(503, "spool full; retry later", self._retry_after)
        await asyncio.to_thread(self.audit_spool.put, data)
        self.metrics.audit["accepted"].inc(len(records))
        return Response(orjson.dumps({"accepted": len(records)}), 202, media_type=JSON)

    async def scrape(self, _: Request) -> Response:
        return Response(generate_latest(self.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @asynccontextmanager
    async def lifespan(self, _: Starlette) -> AsyncIterator[None]:
        await self.flush()  # what a previous process accepted and did not write
        await asyncio.to_thread(feed.restore, self.quality, self.settings.root,
                                datetime.now(UTC))
        task = asyncio.create_task(self._flushing(), name="monitor-flush")
        log.info("monitor: spool %s, writing to %s every %gs", self.settings.spool,
                 self.settings.root, self.settings.flush_interval)
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await self.flush()


async def _live(_: Request) -> Response:
    return Response(b'{"live":true}', media_type=JSON)


def create_app(settings: MonitorSettings) -> Starlette:
    """The monitor, with its spool opened (and an unfinished flush redone on start)."""
    monitor = Monitor(settings)
    app = Starlette(routes=[
        Route("/v1/records", monitor.records, methods=["POST"]),
        Route("/v1/labels", monitor.feedback, methods=["POST"]),
        Route("/v1/audit", monitor.trail, methods=["POST"]),
        Route("/healthz", _live, methods=["GET"]),
        Route("/readyz", _live, methods=["GET"]),
        Route("/metrics", monitor.scrape, methods=["GET"]),
    ], lifespan=monitor.lifespan)
    app.state.spool = monitor.spool
    app.state.writer = monitor.writer
    app.state.flush = monitor.flush
    app.state.quality = monitor.quality
    return app
