"""Shadow traffic without a mesh: copies of sampled live requests go to another model
server (a shadow), its answers are compared with the live ones, then discarded.

The live answer never waits for the shadow: :meth:`Mirror.offer` only samples and
puts the request's input matrix and prediction on a bounded queue (a full queue drops
the copy and counts it). Worker tasks on the same event loop let copies gather for
``batch_delay`` seconds, take what has queued up (up to ``batch_rows`` rows) and send it
as one ``POST /predict`` body — one HTTP request costs far more CPU than a row, and that
CPU is the live server's; a copy's answer is never awaited by anyone — and record
how often the two predictions agree: the same label for classifiers; for regressors, a
relative difference within ``tolerance`` (the absolute and relative differences are
also histograms). The operator's ``predictionAgreement`` check reads these series to
gate a shadow step.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
import numpy as np
import orjson
from mlops_telemetry import (
    AGREEMENT_LABEL,
    MIRROR_ABS_DIFFERENCE,
    MIRROR_OUTCOME_LABEL,
    MIRROR_REL_DIFFERENCE,
    MIRROR_REQUESTS,
    MIRROR_ROWS,
    SERVER_LABELS,
    SHADOW_LABEL,
)
from prometheus_client import CollectorRegistry, Counter, Histogram

from mlops_runtime.server.columns import ColumnBatch, Inputs, concat
from mlops_runtime.server.runtime import Prediction

log = logging.getLogger(__name__)
DIFFERENCE_BUCKETS = (0.0001, 0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 100.0)
_NUMPY = orjson.OPT_SERIALIZE_NUMPY
_HEADERS = {"content-type": "application/json"}


#: One sampled live request: its inputs, the live prediction and its rows' IDs.
_Copy = tuple[Inputs, Prediction, list[str] | None]


@dataclass(frozen=True)
class MirrorSettings:
    """Where copies go and how many: ``url`` is the shadow's base URL (its Service)."""

    url: str
    version: str  # the shadow's version: a label on the agreement series
    percent: float = 100.0  # share of live requests copied
    queue_size: int = 256  # copies waiting to be sent; more are dropped
    workers: int = 2  # requests to the shadow in flight at once
    batch_rows: int = 256  # rows of queued copies sent in one request
    batch_delay: float = 0.01  # seconds copies may gather before a request is sent
    timeout: float = 2.0  # seconds for the shadow to answer one copy
    tolerance: float = 0.1  # regressors: |a - b| <= tolerance * max(|a|, |b|) agrees


class MirrorMetrics:
    """The agreement series, labelled with this server's labels and the shadow version."""

    def __init__(self, registry: CollectorRegistry, server_labels: Sequence[str],
                 shadow: str, regressor: bool) -> None:
        labels = [*SERVER_LABELS, SHADOW_LABEL]
        values = (*server_labels, shadow)
        requests = Counter(MIRROR_REQUESTS, "Mirrored requests by outcome.",
                           [*labels, MIRROR_OUTCOME_LABEL], registry=registry)
        rows = Counter(MIRROR_ROWS, "Compared rows by whether both predictions agree.",
                       [*labels, AGREEMENT_LABEL], registry=registry)
        self.compared = requests.labels(*values, "compared")
        self.failed = requests.labels(*values, "failed")
        self.dropped = requests.labels(*values, "dropped")
        self.agree = rows.labels(*values, "agree")
        self.disagree = rows.labels(*values, "disagree")
        self.abs_difference = self.rel_difference = None
        if regressor:
            self.abs_difference = Histogram(
                MIRROR_ABS_DIFFERENCE, "Regressors: |live - shadow| per compared row.",
                labels, buckets=DIFFERENCE_BUCKETS, registry=registry).labels(*values)
            self.rel_difference = Histogram(
                MIRROR_REL_DIFFERENCE,
                "Regressors: |live - shadow| / max(|live|, |shadow|) per compared row.",
                labels, buckets=DIFFERENCE_BUCKETS, registry=registry).labels(*values)


def agreement(live: np.ndarray, shadow: Sequence[Any], classifier: bool,
              tolerance: float) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Per row: whether both agree, and for regressors the absolute and relative
    differences. A shadow answer of another length disagrees on every row."""
    if len(shadow) != len(live):
        return np.zeros(len(live), dtype=bool), None, None
    if classifier:
        return np.array([a == b for a, b in zip(live.tolist(), shadow, strict=True)],
                        dtype=bool), None, None
    a = live.astype(np.float64)
    b = np.asarray(shadow, dtype=np.float64)
    absolute = np.abs(a - b)
    scale = np.maximum(np.abs(a), np.abs(b))
    relative = np.divide(absolute, scale, out=np.zeros_like(absolute), where=scale > 0)
    return relative <= tolerance, absolute, relative


class Mirror:
    """Samples live requests onto a bounded queue; workers send and compare them."""

    def __init__(self, settings: MirrorSettings, classifier: bool,
                 metrics: MirrorMetrics | None) -> None:
        self.settings = settings
        self.classifier = classifier
        self.metrics = metrics
        self.endpoint = settings.url.rstrip("/") + "/predict"
        self._share = settings.percent / 100.0
        self._random = random.Random()
        self._queue: asyncio.Queue[_Copy] = asyncio.Queue(settings.queue_size)
        self._workers: list[asyncio.Task[None]] = []
        self._client: aiohttp.ClientSession | None = None

    def offer(self, x: Inputs, prediction: Prediction, ids: list[str] | None = None) -> None:
        """The hot path's only call: sample, enqueue or drop; never waits. ``ids`` (the
        rows' prediction IDs) go with the copy, so the shadow logs them under the same IDs
        and a label for a live answer also judges the shadow."""
        if self._share < 1.0 and self._random.random() >= self._share:
            return
        try:
            self._queue.put_nowait((x, prediction, ids))
        except asyncio.QueueFull:
            if self.metrics is not None:
                self.metrics.dropped.inc()

    async def start(self) -> None:
        self._client = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=self.settings.workers),
            timeout=aiohttp.ClientTimeout(total=self.settings.timeout))
        self._workers = [asyncio.create_task(self._work(), name=f"mirror-{i}")
                         for i in range(self.settings.workers)]
        log.info("mirroring %g%% of requests to %s (shadow %s)", self.settings.percent,
                 self.endpoint, self.settings.version)

    async def stop(self) -> None:
        for task in self._workers:
            task.cancel()
        for task in self._workers:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._workers = []
        if self._client is not None:
            await self._client.close()
            self._client = None

    def _take(self, first: _Copy) -> list[_Copy]:
        """``first`` and whatever else is queued, up to ``batch_rows`` rows."""
        taken, rows = [first], len(first[0])
        while rows < self.settings.batch_rows and not self._queue.empty():
            item = self._queue.get_nowait()
            taken.append(item)
            rows += len(item[0])
        return taken

    async def _work(self) -> None:
        assert self._client is not None
        while True:
            first = await self._queue.get()
            await asyncio.sleep(self.settings.batch_delay)
            taken = self._take(first)
            try:
                await self._compare(self._client, taken)
            except Exception as error:  # noqa: BLE001 - a shadow's failure is only counted
                log.debug("mirror copy failed: %s", error)
                if self.metrics is not None:
                    self.metrics.failed.inc(len(taken))

    async def _compare(self, client: aiohttp.ClientSession,
                       taken: list[_Copy]) -> None:
        x = concat([item[0] for item in taken])
        live = np.concatenate([item[1].values for item in taken])
        if isinstance(x, ColumnBatch):  # strings, booleans, nulls: as named columns
            document: dict[str, Any] = x.document()
        else:
            document = {"instances": x if x.dtype.kind in "biuf" else x.tolist()}
        if all(item[2] is not None for item in taken):
            document["ids"] = [i for item in taken for i in item[2] or ()]
        body = orjson.dumps(document, option=_NUMPY)
        async with client.post(self.endpoint, data=body, headers=_HEADERS) as response:
            content = await response.read()
        if response.status != 200:
            raise RuntimeError(f"shadow answered {response.status}")
        shadow = orjson.loads(content).get("predictions")
        if not isinstance(shadow, list):
            raise RuntimeError("shadow answer has no predictions list")
        agree, absolute, relative = agreement(live, shadow, self.classifier,
                                              self.settings.tolerance)
        metrics = self.metrics
        if metrics is None:
            return
        metrics.compared.inc(len(taken))
        agreed = int(agree.sum())
        metrics.agree.inc(agreed)
        metrics.disagree.inc(len(agree) - agreed)
        if absolute is not None and metrics.abs_difference is not None:
            for value in absolute.tolist():
                metrics.abs_difference.observe(value)
        if relative is not None and metrics.rel_difference is not None:
            for value in relative.tolist():
                metrics.rel_difference.observe(value)
