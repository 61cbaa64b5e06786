"""One decision in the making: the actions, events and wake-up time collected while
the machine moves, and the small questions every step asks.
"""

from __future__ import annotations

from dataclasses import replace

from mlops_operator.domain.durations import (
    as_datetime,
    seconds_since,
    to_rfc3339,
)
from mlops_operator.domain.rollout.decision import (
    Action,
    Event,
    Observations,
    TrackState,
)
from mlops_operator.domain.rollout.spec import (
    RolloutSpec,
    Step,
)
from mlops_operator.domain.rollout.status import (
    MAX_HISTORY,
    HistoryEntry,
    RolloutStatus,
)


class Tick:
    """Collects actions, events and notes while one decision is built."""

    def __init__(self, spec: RolloutSpec, obs: Observations) -> None:
        self.spec = spec
        self.obs = obs
        self.now = to_rfc3339(as_datetime(obs.now))
        self.actions: list[Action] = []
        self.events: list[Event] = []
        self.reason = "Unknown"  # condition reason of the resulting phase
        self.requeue: float | None = None
        self.stable_override: str | None = None  # stable workload version during promotion

    def act(self, action: Action) -> None:
        if action not in self.actions:
            self.actions.append(action)

    def event(self, type_: str, reason: str, message: str) -> None:
        self.events.append(Event(type_, reason, message))

    def wake_in(self, seconds: float) -> None:
        seconds = max(0.0, seconds)
        self.requeue = seconds if self.requeue is None else min(self.requeue, seconds)

    def history(self, s: RolloutStatus, version: str, event: str, reason: str) -> RolloutStatus:
        entry = HistoryEntry(version=version, event=event, at=self.now, reason=reason)
        return replace(s, history=(*s.history, entry)[-MAX_HISTORY:])


def is_ready(track: TrackState, version: str | None, needed: int) -> bool:
    return version is not None and track.version == version and track.ready_replicas >= needed


def seconds_elapsed(since: str | None, now: str) -> float:
    return seconds_since(since, now) if since else 0.0


def current_step(spec: RolloutSpec, s: RolloutStatus) -> Step | None:
    if s.promotion is not None or s.current_step_index is None:
        return None
    if s.current_step_index >= len(spec.steps):
        return None
    return spec.steps[s.current_step_index]


def position(spec: RolloutSpec, s: RolloutStatus) -> str:
    if s.promotion is not None:
        return f"promotion ({s.promotion.value})"
    index = s.current_step_index or 0
    step = spec.steps[index].describe() if index < len(spec.steps) else "end"
    return f"step {index + 1}/{len(spec.steps)} ({step})"
