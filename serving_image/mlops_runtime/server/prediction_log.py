"""Sampled predictions to the monitor, off the live path.

:meth:`PredictionLog.offer` is the hot path's only call: it samples the request and
appends references to its arrays (no copy, no conversion) to a buffer bounded in rows;
a full buffer drops the request's rows and counts them, the answer never waits. Every
``flush_interval`` seconds one task turns what has gathered into an Arrow record batch
(in a worker thread) and posts it to the monitor, which acknowledges it only once it is
on disk. A batch the monitor did not acknowledge stays queued and is retried, within the
same row bound, so a restarting monitor costs no records; at most one interval's worth of
records is lost if the model server itself dies.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import numpy as np
import pyarrow as pa
from mlops_telemetry import LOG_OUTCOME_LABEL, PREDICTION_LOG_ROWS, SERVER_LABELS
from prometheus_client import CollectorRegistry, Counter

from mlops_runtime.predictionlog import records
from mlops_runtime.server.columns import MISSING_CATEGORY, ColumnBatch, Inputs
from mlops_runtime.server.runtime import Prediction
from mlops_runtime.server.schema import InputSchema

log = logging.getLogger(__name__)
#: Where records go below the monitor's URL.
RECORDS_PATH = "/v1/records"


@dataclass(frozen=True)
class LogSettings:
    """Where records go and which: ``url`` is the monitor's base URL."""

    url: str
    token_file: str  # the bearer token the monitor checks (a mounted Secret)
    namespace: str
    deployment: str
    percent: float = 100.0  # share of requests logged
    exclude: frozenset[str] = field(default_factory=frozenset)  # features never logged
    flush_interval: float = 1.0  # seconds records gather before they are sent
    buffer_rows: int = 100_000  # rows waiting (unsent or unacknowledged); more are dropped
    timeout: float = 10.0  # seconds for the monitor to acknowledge one batch


@dataclass(frozen=True)
class _Request:
    """One logged request: references to its arrays, built into Arrow columns later."""

    request_id: str
    ids: list[str]
    millis: int
    x: Inputs
    prediction: Prediction
    latency_ms: float


class LogMetrics:
    """Logged rows by outcome: sent (acknowledged), dropped (buffer full), retried."""

    def __init__(self, registry: CollectorRegistry, server_labels: list[str]) -> None:
        rows = Counter(PREDICTION_LOG_ROWS, "Prediction log rows by outcome.",
                       [*SERVER_LABELS, LOG_OUTCOME_LABEL], registry=registry)
        self.sent = rows.labels(*server_labels, "sent")
        self.dropped = rows.labels(*server_labels, "dropped")
        self.retried = rows.labels(*server_labels, "retried")


class PredictionLog:
    """Samples answered requests into a bounded buffer; one task sends them in batches."""

    def __init__(self, settings: LogSettings, schema: InputSchema, identity: tuple[str, str, str],
                 metrics: LogMetrics | None) -> None:
        self.settings = settings
        self.schema = schema
        self.model, self.version, self.track = identity
        self.metrics = metrics
        self.endpoint = settings.url.rstrip("/") + RECORDS_PATH
        self._share = settings.percent / 100.0
        self._random = random.Random()
        self._gathering: list[_Request] = []
        self._unacknowledged: deque[tuple[int, bytes]] = deque()  # (rows, IPC body)
        self._rows = 0  # rows gathering or unacknowledged: the bound
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._client: aiohttp.ClientSession | None = None
        self._wake = asyncio.Event()

    @property
    def pending_rows(self) -> int:
        """Rows not yet acknowledged by the monitor."""
        return self._rows

    def offer(self, request_id: str, ids: list[str], x: Inputs, prediction: Prediction,
              latency_ms: float) -> None:
        """The hot path's only call: sample, keep references or drop; never waits."""
        if self._share < 1.0 and self._random.random() >= self._share:
            return
        rows = len(ids)
        if self._rows + rows > self.settings.buffer_rows:
            if self.metrics is not None:
                self.metrics.dropped.inc(rows)
            return
        self._rows += rows
        self._gathering.append(_Request(request_id, ids, int(time.time() * 1000), x,
                                        prediction, latency_ms))

    async def start(self) -> None:
        token = Path(self.settings.token_file).read_text(encoding="utf-8").strip()
        self._client = aiohttp.ClientSession(
            headers={"authorization": f"Bearer {token}",
                     "content-type": "application/vnd.apache.arrow.stream"},
            timeout=aiohttp.ClientTimeout(total=self.settings.timeout))
        self._task = asyncio.create_task(self._run(), name="prediction-log")
        log.info("logging %g%% of predictions to %s every %gs%s", self.settings.percent,
                 self.endpoint, self.settings.flush_interval,
                 f" (excluding {', '.join(sorted(self.settings.exclude))})"
                 if self.settings.exclude else "")

    async def stop(self) -> None:
        """Send what is left (one last try within the timeout), then close. The sending
        task is not cancelled but told to finish: cancelled while it encodes, it would
        lose the rows it had taken."""
        if self._task is not None:
            self._stopping.set()
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(self._task, self.settings.timeout + 1.0)
            self._task = None
        with contextlib.suppress(Exception):
            await self.flush()
        if self._rows:
            log.warning("prediction log: %d rows not acknowledged at shutdown", self._rows)
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def _run(self) -> None:
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.settings.flush_interval)
            try:
                await self.flush()
            except Exception as error:  # noqa: BLE001 - kept and retried, never raised
                log.debug("prediction log: monitor did not take a batch: %s", error)

    async def flush(self) -> None:
        """Encode what has gathered, then send unacknowledged batches, oldest first."""
        if self._gathering:
            taken, self._gathering = self._gathering, []
            body = await asyncio.to_thread(self._encode, taken)
            self._unacknowledged.append((sum(len(r.ids) for r in taken), body))
        while self._unacknowledged:
            rows, body = self._unacknowledged[0]
            await self._send(body)
            self._unacknowledged.popleft()
            self._rows -= rows
            if self.metrics is not None:
                self.metrics.sent.inc(rows)

    async def _send(self, body: bytes) -> None:
        assert self._client is not None, "start() first"
        try:
            async with self._client.post(self.endpoint, data=body) as response:
                if response.status != 202:
                    raise RuntimeError(f"monitor answered {response.status}: "
                                       f"{(await response.text())[:200]}")
        except Exception:
            if self.metrics is not None:
                self.metrics.retried.inc(self._unacknowledged[0][0])
            raise

    def _encode(self, taken: list[_Request]) -> bytes:
        return records.to_ipc(self.batch(taken))

    def batch(self, taken: list[_Request]) -> pa.RecordBatch:
        """The rows of several requests as one record batch (see ``predictionlog.records``)."""
        counts = [len(r.ids) for r in taken]
        n = sum(counts)

        def repeated(values: list[object]) -> np.ndarray:
            return np.repeat(np.array(values, dtype=object), counts)

        columns: dict[str, pa.Array] = {
            records.ID: pa.array([i for r in taken for i in r.ids], pa.string()),
            records.REQUEST_ID: pa.array(repeated([r.request_id for r in taken]), pa.string()),
            records.TIME: pa.array(np.repeat([r.millis for r in taken], counts),
                                   pa.int64()).cast(records.TIME_TYPE),
            records.NAMESPACE: pa.array([self.settings.namespace] * n, pa.string()),
            records.DEPLOYMENT: pa.array([self.settings.deployment] * n, pa.string()),
            records.MODEL: pa.array([self.model] * n, pa.string()),
            records.VERSION: pa.array([self.version] * n, pa.string()),
            records.TRACK: pa.array([self.track] * n, pa.string()),
        }
        inputs = self._inputs([r.x for r in taken])
        if inputs is not None:
            columns[records.INPUTS] = inputs
        values = np.concatenate([r.prediction.values.reshape(-1) for r in taken])
        columns[records.PREDICTION] = pa.array(values if values.dtype != object
                                               else values.tolist())
        if all(r.prediction.probabilities is not None for r in taken):
            proba = np.concatenate([r.prediction.probabilities for r in taken]).astype(
                np.float32)
            columns[records.PROBABILITIES] = pa.FixedSizeListArray.from_arrays(
                pa.array(proba.reshape(-1)), proba.shape[1]).cast(pa.list_(pa.float32()))
        columns[records.LATENCY_MS] = pa.array(
            np.repeat([r.latency_ms for r in taken], counts), pa.float32())
        return pa.RecordBatch.from_pydict(columns)

    def _inputs(self, parts: list[Inputs]) -> pa.StructArray | None:
        """One struct field per logged feature, typed as the schema says, null if missing."""
        exclude = self.settings.exclude
        names = self.schema.feature_names
        kept = [j for j, name in enumerate(names) if name not in exclude]
        if not kept:
            return None
        arrays, fields = [], []
        for j in kept:
            kind = self.schema.feature_types[j]
            if isinstance(parts[0], ColumnBatch):
                column = np.concatenate([p.columns[j] for p in parts]).reshape(-1)  # type: ignore[union-attr]
            else:
                column = np.concatenate([p[:, j] for p in parts])  # type: ignore[index]
            arrays.append(_typed(column, kind))
            fields.append(pa.field(names[j], arrays[-1].type))
        return pa.StructArray.from_arrays(arrays, fields=fields)


def _typed(column: np.ndarray, kind: str) -> pa.Array:
    """A feature's values as the schema types it: strings (the missing category as null),
    booleans, or numbers (NaN as null)."""
    if kind == "string":
        return pa.array([None if v == MISSING_CATEGORY else v for v in column.tolist()],
                        pa.string())
    missing = np.isnan(column.astype(np.float64))
    if kind == "bool":
        return pa.array(column == 1.0, pa.bool_(), mask=missing)
    return pa.array(column.astype(np.float64), pa.float64(), mask=missing)
