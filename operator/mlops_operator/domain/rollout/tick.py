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
from mlops_operator.domain.vocabulary import EventType, HistoryEvent, RolloutReason


class Tick:
    """Collects actions, events and notes while one decision is built."""

    def __init__(self, spec: RolloutSpec, observations: Observations) -> None:
        self.spec = spec
        self.observations = observations
        self.now = to_rfc3339(as_datetime(observations.now))
        self.actions: list[Action] = []
        self.events: list[Event] = []
        self.reason: str = RolloutReason.UNKNOWN  # Progressing reason of the resulting phase
        self.requeue: float | None = None
        self.stable_override: str | None = None  # stable workload version during promotion

    def act(self, action: Action) -> None:
        if action not in self.actions:
            self.actions.append(action)

    def event(self, type_: EventType, reason: str, message: str) -> None:
        self.events.append(Event(type_, reason, message))

    def wake_in(self, seconds: float) -> None:
        seconds = max(0.0, seconds)
        self.requeue = seconds if self.requeue is None else min(self.requeue, seconds)

    def history(self, status: RolloutStatus, version: str, event: HistoryEvent,
                reason: str) -> RolloutStatus:
        """``status`` with one more history entry (the oldest beyond MAX_HISTORY dropped)."""
        entry = HistoryEntry(version=version, event=event, at=self.now, reason=reason)
        return replace(status, history=(*status.history, entry)[-MAX_HISTORY:])


def is_ready(track: TrackState, version: str | None, needed: int) -> bool:
    """The track runs ``version`` with at least ``needed`` ready pods."""
    return version is not None and track.version == version and track.ready_replicas >= needed


def seconds_elapsed(since: str | None, now: str) -> float:
    """Seconds from ``since`` to ``now``; 0 when it never started."""
    return seconds_since(since, now) if since else 0.0


def current_step(spec: RolloutSpec, status: RolloutStatus) -> Step | None:
    """The canary step the rollout is at; None in promotion or past the last step."""
    if status.promotion is not None or status.current_step_index is None:
        return None
    if status.current_step_index >= len(spec.steps):
        return None
    return spec.steps[status.current_step_index]


def position(spec: RolloutSpec, status: RolloutStatus) -> str:
    """Where the rollout is, for messages: "step 2/5 (pause 30s)", "promotion (Baking)"."""
    if status.promotion is not None:
        return f"promotion ({status.promotion.value})"
    index = status.current_step_index or 0
    step = spec.steps[index].describe() if index < len(spec.steps) else "end"
    return f"step {index + 1}/{len(spec.steps)} ({step})"
