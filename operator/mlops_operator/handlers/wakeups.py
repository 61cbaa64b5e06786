"""Wake-ups of the per-Deployment reconcile loops.

Each mlops Deployment has one loop (a kopf daemon) that reconciles, then sleeps
until something it depends on changes (a watch event calls :meth:`Wakeups.wake`)
or until its decision said a time-based step is due. Nothing polls.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from mlops_operator import metrics

Key = tuple[str, str]  # (namespace, name)
#: After an unexpected error, try again this much later (a watch event may come sooner).
RETRY_AFTER_ERROR = 10.0
log = logging.getLogger(__name__)


class Wakeups:
    """One asyncio.Event per running loop, keyed by (namespace, name).

    Used from the event loop only (watch handlers and the alert receiver are
    coroutines there), so no locking is needed.
    """

    def __init__(self) -> None:
        self._events: dict[Key, asyncio.Event] = {}

    def register(self, key: Key) -> asyncio.Event:
        """The loop of ``key`` starts; it waits on the returned event."""
        return self._events.setdefault(key, asyncio.Event())

    def unregister(self, key: Key) -> None:
        self._events.pop(key, None)

    def wake(self, key: Key) -> bool:
        """Ask the loop of ``key`` to reconcile now; False if no loop runs for it."""
        event = self._events.get(key)
        if event is None:
            return False
        event.set()
        return True

    def __len__(self) -> int:
        return len(self._events)


async def sleep_until_woken(event: asyncio.Event, timeout: float | None) -> bool:
    """Wait for ``event`` (then clear it) or ``timeout`` seconds; True if woken."""
    try:
        if timeout is None:
            await event.wait()
        else:
            await asyncio.wait_for(event.wait(), timeout=max(timeout, 0.0))
    except TimeoutError:
        return False
    event.clear()
    return True


async def reconcile_until_stopped(key: Key, wakeups: Wakeups, stopped: Any, kind: str,
                                  once: Callable[[], Awaitable[float | None]]) -> None:
    """The loop of every per-object daemon: ``once()`` reconciles and says when it is due
    again (None: only when woken); between runs sleep until woken or due. An error is
    logged once per failed reconcile and retried later: the loop must go on."""
    woken = wakeups.register(key)
    try:
        while not stopped:
            try:
                with metrics.timed_reconcile(kind):
                    wait = await once()
            except Exception:  # noqa: BLE001 - any error: log, retry, keep the loop alive
                log.exception("%s/%s: %s reconcile failed; retrying in %.0fs", *key, kind,
                              RETRY_AFTER_ERROR)
                wait = RETRY_AFTER_ERROR
            await sleep_until_woken(woken, wait)
    finally:
        wakeups.unregister(key)
