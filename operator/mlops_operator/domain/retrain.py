"""Retraining (``TrainingJob.spec.retrain``): when to start the next run, as data.

A TrainingJob with ``spec.retrain`` starts child runs (TrainingJobs named
``<parent>-r<N>``) on a cron schedule and/or when an Alertmanager alert it lists
fires for its model. :func:`decide` takes the parsed spec, what the parent's
status remembers, the runs that exist, the alerts received and ``now``, and
returns what to do: start run N for one trigger, skip others (and why), delete
finished runs beyond the history limits, and when to look again. Like CronJob's
``Forbid``, a trigger while a run is active is skipped; ``minInterval`` keeps a
flapping alert from starting a training storm; one alert instance (its name and
``startsAt``) is judged once, however often Alertmanager re-sends it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, tzinfo
from typing import Any

from mlops_operator.domain.cron import Cron, CronError, zone_named
from mlops_operator.domain.durations import (
    DurationError,
    as_datetime,
    format_duration,
    parse_duration,
    seconds_since,
    to_rfc3339,
)
from mlops_operator.domain.errors import SpecError
from mlops_operator.domain.vocabulary import (
    TRAINING_FINISHED,
    RetrainReason,
    TrainingPhase,
    TriggerType,
)

DEFAULT_MIN_INTERVAL = "10m"
DEFAULT_SUCCESSFUL_HISTORY = 3
DEFAULT_FAILED_HISTORY = 1
#: Runs are TrainingJobs: these phases are final.
FINISHED_PHASES = TRAINING_FINISHED


class RetrainSpecError(SpecError):
    """``spec.retrain`` cannot be used; the message starts with the field's path."""


def run_name(parent: str, number: int) -> str:
    """The child run's name: deterministic, so a re-run after a crash finds it."""
    return f"{parent}-r{number}"


def run_number(parent: str, name: str) -> int | None:
    """N for ``<parent>-r<N>``, else None."""
    match = re.fullmatch(re.escape(parent) + r"-r([1-9][0-9]*)", name)
    return int(match.group(1)) if match else None


@dataclass(frozen=True)
class RetrainSpec:
    """``spec.retrain``, validated; ``cron`` is None without a schedule."""

    cron: Cron | None
    on_alerts: tuple[str, ...] = ()
    min_interval: float = 600.0
    max_runs: int | None = None
    successful_history: int = DEFAULT_SUCCESSFUL_HISTORY
    failed_history: int = DEFAULT_FAILED_HISTORY

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], default_zone: tzinfo) -> RetrainSpec:
        """Parse what CEL cannot check (cron syntax, time zone, durations)."""
        zone = default_zone
        if raw.get("timeZone"):
            try:
                zone = zone_named(str(raw["timeZone"]))
            except CronError as error:
                raise RetrainSpecError(f"spec.retrain.timeZone: {error}") from error
        cron = None
        if raw.get("schedule"):
            try:
                cron = Cron.parse(str(raw["schedule"]), zone)
            except CronError as error:
                raise RetrainSpecError(f"spec.retrain.schedule: {error}") from error
        try:
            interval = parse_duration(raw.get("minInterval", DEFAULT_MIN_INTERVAL))
        except DurationError as error:
            raise RetrainSpecError(f"spec.retrain.minInterval: {error}") from error
        alerts = tuple(str(a) for a in raw.get("onAlerts") or ())
        if cron is None and not alerts:
            raise RetrainSpecError("spec.retrain: set schedule, onAlerts or both")
        max_runs = raw.get("maxRuns")
        if max_runs is not None and (not isinstance(max_runs, int) or max_runs < 1):
            raise RetrainSpecError(f"spec.retrain.maxRuns: must be at least 1, not {max_runs!r}")
        return cls(cron, alerts, interval, max_runs,
                   int(raw.get("successfulRunsHistoryLimit", DEFAULT_SUCCESSFUL_HISTORY)),
                   int(raw.get("failedRunsHistoryLimit", DEFAULT_FAILED_HISTORY)))


@dataclass(frozen=True)
class Trigger:
    """Why a run starts: a schedule tick, or one firing alert instance."""

    type: TriggerType
    at: datetime  # the tick, or the alert's startsAt
    alert: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def schedule(cls, at: datetime) -> Trigger:
        return cls(TriggerType.SCHEDULE, at)

    @classmethod
    def firing(cls, alert: str, labels: Mapping[str, str], starts_at: datetime) -> Trigger:
        return cls(TriggerType.ALERT, starts_at, alert, dict(labels))

    def to_dict(self) -> dict[str, Any]:
        """The form kept on the run (annotation), in status and in the version's lineage."""
        if self.type == TriggerType.SCHEDULE:
            return {"type": TriggerType.SCHEDULE, "scheduledTime": to_rfc3339(self.at)}
        return {"type": TriggerType.ALERT, "alert": self.alert, "labels": dict(self.labels),
                "startsAt": to_rfc3339(self.at)}

    def describe(self) -> str:
        if self.type == TriggerType.SCHEDULE:
            return f"schedule tick {to_rfc3339(self.at)}"
        return f"alert {self.alert} (firing since {to_rfc3339(self.at)})"


@dataclass(frozen=True)
class Run:
    """A child run as the decision sees it."""

    name: str
    number: int
    phase: str | None
    created: datetime
    trigger: Mapping[str, Any] | None = None  # Trigger.to_dict() as kept on the run

    @property
    def finished(self) -> bool:
        return self.phase in FINISHED_PHASES


@dataclass(frozen=True)
class RetrainState:
    """What ``status.retrain`` remembers between decisions (and operator restarts)."""

    runs: int = 0  # started over the parent's life (maxRuns counts these)
    last_run: str | None = None
    last_run_time: datetime | None = None
    last_trigger: Mapping[str, Any] | None = None
    last_schedule_time: datetime | None = None  # the last tick judged (started or skipped)
    alerts_seen: Mapping[str, str] = field(default_factory=dict)  # alert -> latest startsAt

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any] | None) -> RetrainState:
        raw = raw or {}
        return cls(
            runs=int(raw.get("runs") or 0),
            last_run=raw.get("lastRun"),
            last_run_time=_time(raw.get("lastRunTime")),
            last_trigger=raw.get("lastTrigger"),
            last_schedule_time=_time(raw.get("lastScheduleTime")),
            alerts_seen=dict(raw.get("alertsSeen") or {}),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "runs": self.runs,
            "lastRun": self.last_run,
            "lastRunTime": to_rfc3339(self.last_run_time) if self.last_run_time else None,
            "lastTrigger": dict(self.last_trigger) if self.last_trigger else None,
            "lastScheduleTime": (to_rfc3339(self.last_schedule_time)
                                 if self.last_schedule_time else None),
            "alertsSeen": dict(self.alerts_seen),
        }


def _time(value: Any) -> datetime | None:
    try:
        return as_datetime(value) if value else None
    except ValueError:
        return None


@dataclass(frozen=True)
class Skip:
    """A trigger that starts no run; ``quiet`` ones are told by the condition, not an Event."""

    trigger: Trigger
    reason: str
    quiet: bool = False


@dataclass(frozen=True)
class Decision:
    """What to do now; ``state`` is the new ``status.retrain`` memory."""

    state: RetrainState
    start: tuple[int, Trigger] | None = None
    skipped: tuple[Skip, ...] = ()
    delete: tuple[str, ...] = ()
    active: str | None = None
    next_schedule_time: datetime | None = None
    limit_reached: bool = False

    @property
    def wake_at(self) -> datetime | None:
        """When a schedule tick falls due (alerts and run changes wake the loop anyway)."""
        return self.next_schedule_time


def _due_triggers(spec: RetrainSpec, state: RetrainState, alerts: Iterable[Trigger],
                  created: datetime, now: datetime) -> list[Trigger]:
    """New triggers, oldest first: the latest due schedule tick, unseen alert instances."""
    due: list[Trigger] = []
    if spec.cron is not None:
        reference = state.last_schedule_time or created
        if spec.cron.next_after(reference) <= now:
            due.append(Trigger.schedule(spec.cron.latest_at_or_before(now)))
    latest: dict[str, Trigger] = {}
    for alert in alerts:
        if alert.type != TriggerType.ALERT or alert.alert not in spec.on_alerts:
            continue
        seen = _time(state.alerts_seen.get(str(alert.alert)))
        if seen is not None and alert.at <= seen:
            continue  # a re-send of an instance already judged
        known = latest.get(str(alert.alert))
        if known is None or alert.at > known.at:
            latest[str(alert.alert)] = alert
    return sorted([*due, *latest.values()], key=lambda t: t.at)


def _why_not(spec: RetrainSpec, state: RetrainState, active: Run | None,
             now: datetime) -> str | None:
    """Why no run may start now (None: one may)."""
    if spec.max_runs is not None and state.runs >= spec.max_runs:
        return f"maxRuns {spec.max_runs} reached"
    if active is not None:
        return f"run {active.name} is still active"
    if state.last_run_time is not None:
        elapsed = seconds_since(state.last_run_time, now)
        if elapsed < spec.min_interval:
            return (f"the last run {state.last_run} started {format_duration(max(elapsed, 0))}"
                    f" ago, less than minInterval {format_duration(spec.min_interval)}")
    return None


def _judged(state: RetrainState, trigger: Trigger) -> RetrainState:
    """``state`` remembering that ``trigger`` was judged (so it is not judged again)."""
    if trigger.type == TriggerType.SCHEDULE:
        return replace(state, last_schedule_time=trigger.at)
    return replace(state, alerts_seen={**state.alerts_seen,
                                       str(trigger.alert): to_rfc3339(trigger.at)})


def expired_runs(spec: RetrainSpec, runs: Sequence[Run]) -> tuple[str, ...]:
    """Finished runs beyond the history limits, oldest first; active runs are kept."""
    doomed: list[Run] = []
    for phase, keep in ((TrainingPhase.SUCCEEDED, spec.successful_history),
                        (TrainingPhase.FAILED, spec.failed_history)):
        finished = sorted((r for r in runs if r.phase == phase), key=lambda r: -r.number)
        doomed += finished[max(keep, 0):]
    return tuple(r.name for r in sorted(doomed, key=lambda r: r.number))


def _with_runs(state: RetrainState, runs: Sequence[Run]) -> RetrainState:
    """``state`` caught up with the runs that exist: after a crash between creating a run
    and writing the status, the runs themselves say what was started and why."""
    latest = max(runs, key=lambda r: r.number, default=None)
    if latest is None or latest.number <= state.runs and state.last_run is not None:
        return state
    seen = dict(state.alerts_seen)
    last_tick = state.last_schedule_time
    for run in runs:
        trigger = run.trigger or {}
        at = _time(trigger.get("startsAt") or trigger.get("scheduledTime"))
        if at is None:
            continue
        if trigger.get("type") == TriggerType.ALERT and trigger.get("alert"):
            previous = _time(seen.get(str(trigger["alert"])))
            if previous is None or at > previous:
                seen[str(trigger["alert"])] = to_rfc3339(at)
        elif trigger.get("type") == TriggerType.SCHEDULE and (last_tick is None or at > last_tick):
            last_tick = at
    return replace(state, runs=max(state.runs, latest.number), last_run=latest.name,
                   last_run_time=max(latest.created, state.last_run_time or latest.created),
                   last_trigger=latest.trigger or state.last_trigger, alerts_seen=seen,
                   last_schedule_time=last_tick)


def decide(spec: RetrainSpec, state: RetrainState, runs: Sequence[Run],
           alerts: Iterable[Trigger], now: datetime, *, parent: str,
           created: datetime) -> Decision:
    """Judge every new trigger; start at most one run; prune the history.

    ``created`` is the parent's creation: the first schedule tick is the first after it.
    """
    state = _with_runs(state, runs)
    running = sorted((r for r in runs if not r.finished), key=lambda r: r.number)
    active = running[-1] if running else None
    start: tuple[int, Trigger] | None = None
    skipped: list[Skip] = []
    for trigger in _due_triggers(spec, state, alerts, created, now):
        reason = _why_not(spec, state, active, now)
        state = _judged(state, trigger)
        if reason is not None:
            skipped.append(Skip(trigger, reason, quiet=reason.startswith("maxRuns")))
            continue
        number = state.runs + 1
        start = (number, trigger)
        active = Run(run_name(parent, number), number, None, now)
        state = replace(state, runs=number, last_run=active.name, last_run_time=now,
                        last_trigger=trigger.to_dict())
    reference = state.last_schedule_time or created
    limit = spec.max_runs is not None and state.runs >= spec.max_runs
    return Decision(
        state=state,
        start=start,
        skipped=tuple(skipped),
        delete=expired_runs(spec, runs),
        active=active.name if active is not None else None,
        next_schedule_time=(spec.cron.next_after(max(reference, now))
                            if spec.cron is not None and not limit else None),
        limit_reached=limit,
    )


def summary(spec: RetrainSpec, decision: Decision) -> tuple[bool, RetrainReason, str]:
    """The ``Retraining`` condition: (armed, reason, message) for ``kubectl describe``."""
    runs = decision.state.runs
    started = f"{runs} run{'' if runs == 1 else 's'}"
    if decision.limit_reached:
        return False, RetrainReason.MAX_RUNS_REACHED, (
            f"{started} started: maxRuns {spec.max_runs} reached, no more runs start")
    waits = []
    if spec.cron is not None and decision.next_schedule_time is not None:
        waits.append(f"schedule {spec.cron.expression!r} "
                     f"(next {to_rfc3339(decision.next_schedule_time)})")
    if spec.on_alerts:
        waits.append("alerts " + ", ".join(spec.on_alerts))
    waiting = " or ".join(waits)
    if decision.active is not None:
        return (True, RetrainReason.RUN_ACTIVE,
                f"run {decision.active} is active; then waiting for {waiting}")
    return True, RetrainReason.WAITING, f"waiting for {waiting}; {started} so far"
