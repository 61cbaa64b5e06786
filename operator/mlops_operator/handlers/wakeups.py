"""Wake-ups of the per-Deployment reconcile loops.

Each mlops Deployment has one loop (a kopf daemon) that reconciles, then sleeps
until something it depends on changes (a watch event calls :meth:`Wakeups.wake`)
or until its decision said a time-based step is due. Nothing polls.
"""

from __future__ import annotations

import asyncio

Key = tuple[str, str]  # (namespace, name)


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
