"""Adaptive batching: merge concurrent requests into one model call.

Tree ensembles cost much more per call than per row, so under load one
onnxruntime call for 50 rows beats 50 calls of one row. The batcher never waits
on a clock when there is no one to wait for: after the first request it yields
one event-loop iteration at a time, and flushes as soon as an iteration brings
no new request, the batch reaches ``max_rows``, or ``max_delay`` has passed. A
lone request therefore pays one loop iteration (microseconds), not a timer.
(``perf_counter``, not ``loop.time()``: uvloop's clock has millisecond steps.)
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from time import perf_counter

from mlops_runtime.server.columns import Inputs, concat
from mlops_runtime.server.runtime import Prediction

log = logging.getLogger(__name__)


class AdaptiveBatcher:
    """Collects (inputs, future) pairs on the event loop and runs them together."""

    def __init__(
        self,
        run: Callable[[Inputs], Prediction],
        on_batch: Callable[[Inputs, Prediction], None] | None,
        max_rows: int,
        max_delay: float,
    ) -> None:
        self._run = run
        self._on_batch = on_batch
        self.max_rows = max_rows
        self.max_delay = max_delay
        self._pending: list[tuple[Inputs, asyncio.Future[Prediction]]] = []
        self._rows = 0
        self._generation = 0
        self._started = 0.0
        self.calls = 0  # model calls made and rows predicted: tests and the benchmark read them
        self.rows = 0

    async def predict(self, x: Inputs) -> Prediction:
        """Predict ``x`` as part of whatever batch is forming right now."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Prediction] = loop.create_future()
        if not self._pending:
            self._generation += 1
            self._started = perf_counter()
            loop.call_soon(self._tick, self._generation, 1)
        self._pending.append((x, future))
        self._rows += x.shape[0]
        if self._rows >= self.max_rows:
            self._flush()
        return await future

    def _tick(self, generation: int, seen: int) -> None:
        """Keep collecting while each loop iteration brings new requests."""
        if generation != self._generation or not self._pending:
            return  # that batch was already flushed because it was full
        count = len(self._pending)
        if count > seen and perf_counter() - self._started < self.max_delay:
            asyncio.get_running_loop().call_soon(self._tick, generation, count)
            return
        self._flush()

    def _flush(self) -> None:
        batch, self._pending, self._rows = self._pending, [], 0
        self._generation += 1
        if not batch:
            return
        x = concat([item[0] for item in batch])
        self.calls += 1
        self.rows += x.shape[0]
        try:
            prediction = self._run(x)
        except Exception as error:  # a model failure fails this batch, not the server
            log.exception("model call failed for a batch of %d rows", x.shape[0])
            for _, future in batch:
                if not future.done():
                    future.set_exception(error)
            return
        if self._on_batch is not None:
            self._on_batch(x, prediction)
        offset = 0
        for part, future in batch:
            stop = offset + part.shape[0]
            if not future.done():  # a cancelled request (client went away) is skipped
                future.set_result(prediction.rows(offset, stop))
            offset = stop
