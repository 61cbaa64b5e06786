"""The canary rollout of an mlops Deployment, as a pure state machine.

``decide(spec, status, observations) -> Decision``. All state lives in the
Deployment's status (:class:`RolloutStatus`, camelCase when serialised), so an
operator restart resumes exactly where it stopped, and running ``decide``
twice on the same inputs gives the same decision.

Two workloads ("tracks") serve a Deployment: ``stable`` and ``canary``. A
:class:`Decision` is declarative: the versions and replica counts of both
tracks and the traffic weights. Apply the weights first, then the workloads:
the machine only raises the canary weight once enough canary pods are ready
(observed on an earlier tick), and when it rolls back it moves traffic to
stable in the same decision that scales the canary away.

Lifecycle of one target version::

    first deploy     stable := target                      -> Healthy when ready
    canary           steps: setWeight / pause / analysis   (Progressing, Paused)
    promotion        ScalingUp: canary to full replicas, then weight 100
                     UpdatingStable: stable workload := target, wait until ready
                     finalize: stable 100 %, canary scaled away  -> Healthy
    rollback         alert, failed analysis, abort, deadline  -> RolledBack

A rolled-back version is not retried until ``spec.modelVersion`` changes to
something else (GitOps-safe: no flapping against the repository).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from mlops_operator.domain.analysis import (
    AnalysisSpecError,
    Builtin,
    CheckSpec,
    CheckState,
    Judgement,
    Measurement,
    Verdict,
    combine,
    due,
)
from mlops_operator.domain.conditions import make_condition
from mlops_operator.domain.durations import (
    DurationError,
    as_datetime,
    format_duration,
    parse_duration,
    seconds_since,
    to_rfc3339,
)

MAX_HISTORY = 20
DEFAULT_PROGRESS_DEADLINE = 600.0
#: Checks an analysis step runs when neither it nor spec.strategy.analysis names any.
DEFAULT_CHECKS: tuple[CheckSpec, ...] = (
    CheckSpec.for_builtin(Builtin.ERROR_RATE),
    CheckSpec.for_builtin(Builtin.LATENCY_P99),
)

CONDITION_READY = "Ready"
CONDITION_PROGRESSING = "Progressing"


class SpecError(ValueError):
    """An invalid Deployment spec; the message names the field."""


class RolloutPhase(StrEnum):
    """Deployment.status.phase."""

    PROGRESSING = "Progressing"
    PAUSED = "Paused"
    HEALTHY = "Healthy"
    DEGRADED = "Degraded"
    ROLLED_BACK = "RolledBack"


class PromotionStage(StrEnum):
    """Where a promotion is, once the steps are done (or skipped by promote)."""

    SCALING_UP = "ScalingUp"  # canary -> full replicas, then 100 % of traffic
    UPDATING_STABLE = "UpdatingStable"  # stable workload runs the new version


class Action(StrEnum):
    """What changed in this decision, in the order to apply it (informational:
    the declarative fields of :class:`Decision` are the source of truth)."""

    SET_WEIGHT = "SetWeight"
    DEPLOY_STABLE = "DeployStable"
    CREATE_CANARY = "CreateCanary"
    PROMOTE_CANARY_TO_STABLE = "PromoteCanaryToStable"
    SCALE_DOWN_CANARY = "ScaleDownCanary"


class StepKind(StrEnum):
    """The three kinds of canary step."""

    SET_WEIGHT = "setWeight"
    PAUSE = "pause"
    ANALYSIS = "analysis"


# --------------------------------------------------------------------------- spec


@dataclass(frozen=True)
class Step:
    """One canary step."""

    kind: StepKind
    weight: int | None = None  # setWeight
    duration: float | None = None  # pause; None = until promoted
    checks: tuple[CheckSpec, ...] = ()  # analysis

    def describe(self) -> str:
        """E.g. "setWeight 20", "pause 30s", "analysis errorRate, latencyP99"."""
        if self.kind is StepKind.SET_WEIGHT:
            return f"setWeight {self.weight}"
        if self.kind is StepKind.PAUSE:
            return (
                "pause until promoted"
                if self.duration is None
                else (f"pause {format_duration(self.duration)}")
            )
        return "analysis " + ", ".join(c.name for c in self.checks)


def set_weight(weight: int) -> Step:
    """A setWeight step (for code and tests)."""
    return Step(StepKind.SET_WEIGHT, weight=weight)


def pause(duration: float | None = None) -> Step:
    """A pause step; None waits until promoted."""
    return Step(StepKind.PAUSE, duration=duration)


def analysis(*checks: CheckSpec) -> Step:
    """An analysis step running ``checks``."""
    return Step(StepKind.ANALYSIS, checks=tuple(checks) or DEFAULT_CHECKS)


def _parse_checks(raw: Any, defaults: tuple[CheckSpec, ...], where: str) -> tuple[CheckSpec, ...]:
    if raw is None:
        return defaults
    if not isinstance(raw, list) or not raw:
        raise SpecError(f"{where}.checks must be a non-empty list of names or check specs")
    by_name = {c.name: c for c in defaults}
    checks: list[CheckSpec] = []
    for index, item in enumerate(raw):
        try:
            if isinstance(item, str):
                if item in by_name:
                    checks.append(by_name[item])
                elif item in {b.value for b in Builtin}:
                    checks.append(CheckSpec.for_builtin(item))
                else:
                    builtins = ", ".join(b.value for b in Builtin)
                    raise SpecError(
                        f"{where}.checks[{index}]: unknown check {item!r} (define it in "
                        f"spec.strategy.analysis.checks or use a built-in: {builtins})"
                    )
            else:
                checks.append(CheckSpec.from_dict(item))
        except AnalysisSpecError as error:
            raise SpecError(f"{where}.checks[{index}]: {error}") from None
    names = [c.name for c in checks]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise SpecError(f"{where}.checks: duplicate check name(s) {', '.join(duplicates)}")
    return tuple(checks)


def _parse_step(raw: Any, index: int, defaults: tuple[CheckSpec, ...]) -> Step:
    where = f"spec.strategy.steps[{index}]"
    if not isinstance(raw, Mapping) or len(raw) != 1:
        raise SpecError(f"{where} must have exactly one of setWeight, pause, analysis; got {raw!r}")
    ((key, value),) = raw.items()
    if key == "setWeight":
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100:
            raise SpecError(f"{where}.setWeight must be an integer 0..100, not {value!r}")
        return set_weight(value)
    if key == "pause":
        value = value or {}
        if not isinstance(value, Mapping) or set(value) - {"duration"}:
            raise SpecError(f"{where}.pause must be {{}} or {{duration: 30s}}, not {value!r}")
        if value.get("duration") is None:
            return pause(None)
        try:
            return pause(parse_duration(value["duration"]))
        except DurationError as error:
            raise SpecError(f"{where}.pause.duration: {error}") from None
    if key == "analysis":
        value = value or {}
        if not isinstance(value, Mapping) or set(value) - {"checks"}:
            raise SpecError(f"{where}.analysis must be {{checks: [...]}}, not {value!r}")
        checks = _parse_checks(value.get("checks"), defaults, f"{where}.analysis")
        return Step(StepKind.ANALYSIS, checks=checks)
    raise SpecError(f"{where}: unknown step {key!r} (expected setWeight, pause or analysis)")


def default_steps(checks: tuple[CheckSpec, ...] = DEFAULT_CHECKS) -> tuple[Step, ...]:
    """Used when spec.strategy.steps is absent: 20 %, analyse, 50 %, analyse."""
    return (set_weight(20), analysis(*checks), set_weight(50), analysis(*checks))


@dataclass(frozen=True)
class RolloutSpec:
    """The parts of Deployment.spec the rollout needs."""

    model_version: str
    replicas: int = 1
    steps: tuple[Step, ...] = field(default_factory=default_steps)
    progress_deadline: float = DEFAULT_PROGRESS_DEADLINE  # seconds waiting for pods
    promote: bool = False  # skip the remaining steps of the canary and promote it
    abort: bool = False  # roll the canary back now (and do not start new ones)
    paused: bool = False  # hold at the current step
    generation: int | None = None

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any], *, generation: int | None = None) -> RolloutSpec:
        """Parse Deployment.spec: modelVersion, replicas, promote, abort, paused and
        strategy: {steps, analysis: {checks}, progressDeadline}."""
        if not isinstance(spec, Mapping):
            raise SpecError("spec must be an object")
        version = spec.get("modelVersion")
        if not isinstance(version, str) or not version:
            raise SpecError("spec.modelVersion must name a ModelVersion")
        replicas = spec.get("replicas", 1)
        if isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < 1:
            raise SpecError(f"spec.replicas must be an integer >= 1, not {replicas!r}")
        strategy = spec.get("strategy") or {}
        if not isinstance(strategy, Mapping):
            raise SpecError("spec.strategy must be an object")
        unknown = sorted(set(strategy) - {"steps", "analysis", "progressDeadline"})
        if unknown:
            raise SpecError(
                f"spec.strategy: unknown field(s) {', '.join(unknown)} "
                "(known: steps, analysis, progressDeadline)"
            )
        analysis_spec = strategy.get("analysis") or {}
        if not isinstance(analysis_spec, Mapping) or set(analysis_spec) - {"checks"}:
            raise SpecError("spec.strategy.analysis must be {checks: [...]}")
        defaults = DEFAULT_CHECKS
        if analysis_spec.get("checks") is not None:
            raw = analysis_spec["checks"]
            if not isinstance(raw, list) or not raw or any(isinstance(c, str) for c in raw):
                raise SpecError("spec.strategy.analysis.checks must be a non-empty list of checks")
            defaults = _parse_checks(raw, (), "spec.strategy.analysis")
        raw_steps = strategy.get("steps")
        if raw_steps is None:
            steps = default_steps(defaults)
        elif isinstance(raw_steps, list):
            steps = tuple(_parse_step(s, i, defaults) for i, s in enumerate(raw_steps))
        else:
            raise SpecError("spec.strategy.steps must be a list")
        try:
            deadline = parse_duration(strategy.get("progressDeadline", DEFAULT_PROGRESS_DEADLINE))
        except DurationError as error:
            raise SpecError(f"spec.strategy.progressDeadline: {error}") from None
        flags = {}
        for name in ("promote", "abort", "paused"):
            value = spec.get(name, False)
            if not isinstance(value, bool):
                raise SpecError(f"spec.{name} must be true or false, not {value!r}")
            flags[name] = value
        return cls(
            model_version=version,
            replicas=replicas,
            steps=steps,
            progress_deadline=deadline,
            generation=generation,
            **flags,
        )


# --------------------------------------------------------------------------- status


@dataclass(frozen=True)
class HistoryEntry:
    """One line of the rollout history."""

    version: str
    event: str  # Deployed, CanaryStarted, Promoted, RolledBack, Abandoned
    at: str
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Status form."""
        return {"version": self.version, "event": self.event, "at": self.at, "reason": self.reason}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> HistoryEntry:
        """Inverse of :meth:`to_dict`."""
        return cls(
            version=str(data.get("version", "")),
            event=str(data.get("event", "")),
            at=str(data.get("at", "")),
            reason=str(data.get("reason") or ""),
        )


@dataclass(frozen=True)
class AnalysisState:
    """Measurements of the analysis step in progress."""

    step_index: int
    checks: tuple[CheckState, ...] = ()

    def check(self, name: str) -> CheckState:
        """The state of ``name`` (empty if never measured)."""
        for state in self.checks:
            if state.name == name:
                return state
        return CheckState(name)

    def to_dict(self) -> dict[str, Any]:
        """Status form (a list, so a merge patch replaces it whole)."""
        return {"stepIndex": self.step_index, "checks": [c.to_dict() for c in self.checks]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AnalysisState:
        """Inverse of :meth:`to_dict`."""
        return cls(
            step_index=int(data.get("stepIndex", 0)),
            checks=tuple(CheckState.from_dict(c) for c in data.get("checks") or ()),
        )


def _enum_or_none(enum: type[StrEnum], value: Any) -> Any:
    try:
        return enum(value) if value is not None else None
    except ValueError:
        return None


@dataclass(frozen=True)
class RolloutStatus:
    """Everything the state machine remembers, stored in Deployment.status.

    :meth:`to_dict` always writes every key (None as null) so a JSON merge
    patch of the status clears what is no longer set.
    """

    phase: RolloutPhase | None = None
    stable_version: str | None = None
    canary_version: str | None = None
    current_step_index: int | None = None
    current_weight: int = 0
    step_started_at: str | None = None
    canary_started_at: str | None = None
    promotion: PromotionStage | None = None
    pause_reason: str | None = None
    message: str | None = None
    analysis: AnalysisState | None = None
    last_analysis: Mapping[str, Any] | None = None
    rolled_back_version: str | None = None
    rollback_reason: str | None = None
    history: tuple[HistoryEntry, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """camelCase status fields."""
        return {
            "phase": self.phase.value if self.phase else None,
            "stableVersion": self.stable_version,
            "canaryVersion": self.canary_version,
            "currentStepIndex": self.current_step_index,
            "currentWeight": self.current_weight,
            "stepStartedAt": self.step_started_at,
            "canaryStartedAt": self.canary_started_at,
            "promotion": self.promotion.value if self.promotion else None,
            "pauseReason": self.pause_reason,
            "message": self.message,
            "analysis": self.analysis.to_dict() if self.analysis else None,
            "lastAnalysis": dict(self.last_analysis) if self.last_analysis else None,
            "rolledBackVersion": self.rolled_back_version,
            "rollbackReason": self.rollback_reason,
            "history": [h.to_dict() for h in self.history],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> RolloutStatus:
        """Read the status back; absent keys take their defaults, other keys are ignored."""
        data = data or {}
        index = data.get("currentStepIndex")
        return cls(
            phase=_enum_or_none(RolloutPhase, data.get("phase")),
            stable_version=data.get("stableVersion") or None,
            canary_version=data.get("canaryVersion") or None,
            current_step_index=int(index) if index is not None else None,
            current_weight=int(data.get("currentWeight") or 0),
            step_started_at=data.get("stepStartedAt") or None,
            canary_started_at=data.get("canaryStartedAt") or None,
            promotion=_enum_or_none(PromotionStage, data.get("promotion")),
            pause_reason=data.get("pauseReason") or None,
            message=data.get("message") or None,
            analysis=AnalysisState.from_dict(data["analysis"]) if data.get("analysis") else None,
            last_analysis=dict(data["lastAnalysis"]) if data.get("lastAnalysis") else None,
            rolled_back_version=data.get("rolledBackVersion") or None,
            rollback_reason=data.get("rollbackReason") or None,
            history=tuple(HistoryEntry.from_dict(h) for h in data.get("history") or ()),
        )


# --------------------------------------------------------------------------- observations


@dataclass(frozen=True)
class TrackState:
    """What one track's workload runs: its version and how many pods are ready."""

    version: str | None = None
    ready_replicas: int = 0


@dataclass(frozen=True)
class FiringAlert:
    """A firing Alertmanager alert labelled with this Deployment."""

    name: str
    message: str = ""
    started_at: datetime | str | None = None  # alerts older than the canary are ignored


@dataclass(frozen=True, kw_only=True)
class Observations:
    """What the handler saw this tick."""

    now: datetime | str
    target_approved: bool  # spec.modelVersion names an Approved ModelVersion
    target_message: str = ""  # why not, e.g. "ModelVersion iris-v4 is Rejected: ..."
    stable: TrackState = field(default_factory=TrackState)
    canary: TrackState = field(default_factory=TrackState)
    measurements: Mapping[str, Measurement] = field(default_factory=dict)  # by check name
    alerts: Sequence[FiringAlert] = ()
    prometheus_reachable: bool = True
    prometheus_error: str = ""


# --------------------------------------------------------------------------- decision


@dataclass(frozen=True)
class Weights:
    """Traffic split in percent; always sums to 100."""

    stable: int = 100
    canary: int = 0

    def as_dict(self) -> dict[str, int]:
        """``{"stable": s, "canary": c}``."""
        return {"stable": self.stable, "canary": self.canary}


@dataclass(frozen=True)
class Event:
    """A Kubernetes Event to post on the Deployment."""

    type: str  # Normal | Warning
    reason: str
    message: str


@dataclass(frozen=True)
class Decision:
    """The desired state after this tick, plus what to tell people."""

    status: RolloutStatus
    weights: Weights
    stable_version: str | None  # version the stable workload must run (None: nothing yet)
    stable_replicas: int
    canary_version: str | None  # None: no canary
    canary_replicas: int
    actions: tuple[Action, ...] = ()
    events: tuple[Event, ...] = ()
    conditions: tuple[dict[str, Any], ...] = ()  # without lastTransitionTime: use set_condition
    requeue_after: float | None = None  # seconds until something is due (pause end, measurement)


def canary_replicas_for(weight: int, replicas: int) -> int:
    """Canary pods needed to carry ``weight`` percent: at least 1, at most ``replicas``."""
    if weight <= 0:
        return 1
    return min(replicas, max(1, math.ceil(replicas * weight / 100)))


class _Tick:
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


def _ready(track: TrackState, version: str | None, needed: int) -> bool:
    return version is not None and track.version == version and track.ready_replicas >= needed


def _elapsed(since: str | None, now: str) -> float:
    return seconds_since(since, now) if since else 0.0


def decide(spec: RolloutSpec, status: RolloutStatus, obs: Observations) -> Decision:
    """The next desired state of a Deployment; pure and deterministic."""
    tick = _Tick(spec, obs)
    s = status
    target = spec.model_version
    if s.rolled_back_version and target != s.rolled_back_version:
        s = replace(s, rolled_back_version=None, rollback_reason=None)  # the spec moved on
    if s.rolled_back_version:
        s = _stay_rolled_back(tick, s)
    elif s.stable_version is None or _first_deploy_pending(s):
        s = _first_deploy(tick, s)
    elif target == s.stable_version:
        s = _steady(tick, s)
    elif not obs.target_approved:
        s = _unapproved(tick, s)
    elif s.canary_version != target:
        s = _start(tick, s)
    else:
        s = _progress(tick, s)
    return _finish(tick, s)


def _first_deploy_pending(s: RolloutStatus) -> bool:
    """A first version was deployed but never became ready: replace it directly."""
    return s.canary_version is None and s.phase is RolloutPhase.PROGRESSING


def _first_deploy(tick: _Tick, s: RolloutStatus) -> RolloutStatus:
    target = tick.spec.model_version
    if s.stable_version != target:
        if not tick.obs.target_approved:
            return _unapproved(tick, s)
        s = replace(
            s,
            stable_version=target,
            phase=RolloutPhase.PROGRESSING,
            step_started_at=tick.now,
            pause_reason=None,
        )
        tick.act(Action.DEPLOY_STABLE)
        tick.event("Normal", "Deploying", f"deploying {target} as the stable version")
    return _steady(tick, s)


def _steady(tick: _Tick, s: RolloutStatus) -> RolloutStatus:
    """Target is the stable version: drop any canary, report readiness."""
    first_deploy = s.canary_version is None and s.phase is RolloutPhase.PROGRESSING
    if s.canary_version is not None:
        s = _abandon(tick, s, f"spec.modelVersion is back to the stable version {s.stable_version}")
    stable = tick.obs.stable
    replicas = tick.spec.replicas
    version = s.stable_version
    counts = f"{stable.ready_replicas if stable.version == version else 0}/{replicas} pods ready"
    if first_deploy:  # Healthy once fully ready
        if _ready(stable, version, replicas):
            tick.event("Normal", "Deployed", f"{version} is serving ({counts})")
            tick.reason = "RolloutComplete"
            s = tick.history(s, str(version), "Deployed", "first version")
            return replace(
                s,
                phase=RolloutPhase.HEALTHY,
                step_started_at=None,
                message=(f"{version} is serving ({counts})"),
            )
        waited = _elapsed(s.step_started_at, tick.now)
        if waited > tick.spec.progress_deadline:
            message = (
                f"{version} not ready after {format_duration(waited)} ({counts}); "
                f"progressDeadline is {format_duration(tick.spec.progress_deadline)}"
            )
            tick.event("Warning", "ProgressDeadlineExceeded", message)
            tick.reason = "ProgressDeadlineExceeded"
            return replace(s, phase=RolloutPhase.DEGRADED, step_started_at=None, message=message)
        tick.reason = "Deploying"
        return replace(s, message=f"deploying {version} ({counts})")
    if _ready(stable, version, 1):
        if s.phase is not RolloutPhase.HEALTHY:
            tick.event("Normal", "Healthy", f"{version} is serving ({counts})")
        tick.reason = "RolloutComplete"
        return replace(
            s,
            phase=RolloutPhase.HEALTHY,
            pause_reason=None,
            message=f"{version} is serving ({counts})",
        )
    message = f"no ready pods serve the stable version {version} ({counts})"
    if s.phase is not RolloutPhase.DEGRADED or s.message != message:
        tick.event("Warning", "StableNotReady", message)
    tick.reason = "StableNotReady"
    return replace(s, phase=RolloutPhase.DEGRADED, pause_reason=None, message=message)


def _stay_rolled_back(tick: _Tick, s: RolloutStatus) -> RolloutStatus:
    """Target is the rolled-back version: keep serving stable, change nothing."""
    tick.reason = "RolledBack"
    message = (
        f"{s.rolled_back_version} was rolled back ({s.rollback_reason}); serving "
        f"{s.stable_version}; set spec.modelVersion to another version to continue"
    )
    return replace(s, phase=RolloutPhase.ROLLED_BACK, message=message)


def _unapproved(tick: _Tick, s: RolloutStatus) -> RolloutStatus:
    """Only Approved versions go live: hold the stable version, say why."""
    target = tick.spec.model_version
    if s.canary_version is not None:
        s = _abandon(tick, s, f"target {target} is not approved")
    why = tick.obs.target_message or "not Approved"
    message = f"{target} cannot go live: {why}"
    if s.phase is not RolloutPhase.DEGRADED or s.message != message:
        tick.event("Warning", "TargetNotApproved", message)
    tick.reason = "TargetNotApproved"
    return replace(s, phase=RolloutPhase.DEGRADED, pause_reason=None, message=message)


def _reset_canary(s: RolloutStatus) -> RolloutStatus:
    return replace(
        s,
        canary_version=None,
        current_step_index=None,
        current_weight=0,
        step_started_at=None,
        canary_started_at=None,
        promotion=None,
        pause_reason=None,
        analysis=None,
    )


def _abandon(tick: _Tick, s: RolloutStatus, why: str) -> RolloutStatus:
    """Drop the canary in flight (not a rollback: the spec moved on)."""
    version = str(s.canary_version)
    if s.current_weight > 0:
        tick.act(Action.SET_WEIGHT)
    tick.act(Action.SCALE_DOWN_CANARY)
    tick.event("Normal", "CanaryAbandoned", f"canary {version} abandoned: {why}")
    s = tick.history(s, version, "Abandoned", why)
    return _reset_canary(s)


def _rollback(tick: _Tick, s: RolloutStatus, code: str, why: str) -> RolloutStatus:
    """Traffic to stable now, canary scaled away; the version is not retried."""
    version = s.canary_version or tick.spec.model_version
    reason = f"{code}: {why}"
    if s.canary_version is not None:
        if s.current_weight > 0:
            tick.act(Action.SET_WEIGHT)
        tick.act(Action.SCALE_DOWN_CANARY)
    tick.event(
        "Warning", "RolledBack", f"rolled back {version}, serving {s.stable_version}: {reason}"
    )
    tick.reason = "RolledBack"
    s = tick.history(_reset_canary(s), version, "RolledBack", reason)
    s = replace(
        s,
        phase=RolloutPhase.ROLLED_BACK,
        rolled_back_version=version,
        rollback_reason=reason,
    )
    return _stay_rolled_back(tick, s)


def _start(tick: _Tick, s: RolloutStatus) -> RolloutStatus:
    """A new approved target: abandon any other canary and start this one at step 0."""
    target = tick.spec.model_version
    replacing = s.canary_version is not None
    if replacing:
        s = _abandon(tick, s, f"spec.modelVersion changed to {target}")
    if tick.spec.abort:
        return _rollback(tick, s, "Aborted", "spec.abort is set; the canary was not started")
    if replacing:  # the canary workload is re-used for the new version, not scaled away
        tick.actions.remove(Action.SCALE_DOWN_CANARY)
    steps = len(tick.spec.steps)
    s = replace(
        s,
        phase=RolloutPhase.PROGRESSING,
        canary_version=target,
        current_step_index=0,
        current_weight=0,
        step_started_at=tick.now,
        canary_started_at=tick.now,
        promotion=None if steps else PromotionStage.SCALING_UP,
        pause_reason=None,
        analysis=None,
        message=f"canary {target} starting (stable {s.stable_version})",
    )
    tick.act(Action.CREATE_CANARY)
    tick.event(
        "Normal",
        "CanaryStarted",
        f"canary {target} started against stable {s.stable_version} ({steps} steps)",
    )
    tick.reason = "CanaryStarted"
    return tick.history(s, target, "CanaryStarted", f"stable was {s.stable_version}")


def _current_step(spec: RolloutSpec, s: RolloutStatus) -> Step | None:
    if s.promotion is not None or s.current_step_index is None:
        return None
    if s.current_step_index >= len(spec.steps):
        return None
    return spec.steps[s.current_step_index]


def _applicable_alert(tick: _Tick, s: RolloutStatus) -> FiringAlert | None:
    for alert in sorted(tick.obs.alerts, key=lambda a: (a.name, a.message)):
        if alert.started_at is None or s.canary_started_at is None:
            return alert
        if seconds_since(s.canary_started_at, alert.started_at) >= 0:
            return alert
    return None


def _progress(tick: _Tick, s: RolloutStatus) -> RolloutStatus:
    """The canary of the target is in flight: one step of the machine."""
    spec = tick.spec
    if s.current_step_index is None:  # a status without a step: start the steps over
        s = replace(s, current_step_index=0, step_started_at=tick.now, analysis=None)
    if s.promotion is None and s.current_step_index >= len(spec.steps):
        s = _enter_promotion(tick, s, "all steps done")  # the steps were shortened meanwhile
    if spec.abort:
        return _rollback(tick, s, "Aborted", "spec.abort is set")
    alert = _applicable_alert(tick, s)
    if alert is not None:
        detail = f": {alert.message}" if alert.message else ""
        return _rollback(tick, s, "AlertFiring", f"alert {alert.name} is firing{detail}")
    step = _current_step(spec, s)
    judgement = None
    if step is not None and step.kind is StepKind.ANALYSIS:
        s, judgement = _record_analysis(tick, s, step)
        if judgement.verdict is Verdict.FAILED:
            return _rollback(tick, s, "AnalysisFailed", judgement.message)
    if spec.paused:
        return _pause(tick, s, f"paused by spec.paused at {_where(spec, s)}", "PausedBySpec")
    if spec.promote and s.promotion is None:
        tick.event("Normal", "Promoting", "spec.promote is set: skipping the remaining steps")
        s = _enter_promotion(tick, s, "spec.promote")
        step = None
    if s.promotion is not None:
        return _promotion(tick, s)
    assert step is not None
    if step.kind is StepKind.SET_WEIGHT:
        return _step_set_weight(tick, s, step)
    if step.kind is StepKind.PAUSE:
        return _step_pause(tick, s, step)
    assert judgement is not None
    return _step_analysis(tick, s, judgement)


def _where(spec: RolloutSpec, s: RolloutStatus) -> str:
    if s.promotion is not None:
        return f"promotion ({s.promotion.value})"
    index = s.current_step_index or 0
    step = spec.steps[index].describe() if index < len(spec.steps) else "end"
    return f"step {index + 1}/{len(spec.steps)} ({step})"


def _pause(
    tick: _Tick, s: RolloutStatus, why: str, reason: str, cause: str | None = None
) -> RolloutStatus:
    """Phase Paused with a reason; the event only when the cause changes.

    ``cause`` is the stable start of ``why`` (counts in the rest change every tick).
    """
    cause = cause or why
    if s.phase is not RolloutPhase.PAUSED or not (s.pause_reason or "").startswith(cause):
        tick.event("Warning" if reason == "AnalysisInconclusive" else "Normal", reason, why)
    tick.reason = reason
    return replace(s, phase=RolloutPhase.PAUSED, pause_reason=why, message=why)


def _running(tick: _Tick, s: RolloutStatus, message: str, reason: str) -> RolloutStatus:
    if s.phase is RolloutPhase.PAUSED:
        tick.event("Normal", "Resumed", f"resumed: {message}")
    tick.reason = reason
    return replace(s, phase=RolloutPhase.PROGRESSING, pause_reason=None, message=message)


def _advance(tick: _Tick, s: RolloutStatus, done: str) -> RolloutStatus:
    """Next step (or promotion after the last one)."""
    index = (s.current_step_index or 0) + 1
    s = replace(s, current_step_index=index, step_started_at=tick.now, analysis=None)
    if index >= len(tick.spec.steps):
        return _enter_promotion(tick, s, done)
    next_step = tick.spec.steps[index].describe()
    return _running(
        tick,
        s,
        f"{done}; next: step {index + 1}/{len(tick.spec.steps)} ({next_step})",
        "CanaryProgressing",
    )


def _enter_promotion(tick: _Tick, s: RolloutStatus, why: str) -> RolloutStatus:
    message = f"{why}; promoting {s.canary_version}"
    return replace(
        s,
        current_step_index=len(tick.spec.steps),
        step_started_at=tick.now,
        promotion=PromotionStage.SCALING_UP,
        analysis=None,
        pause_reason=None,
        phase=RolloutPhase.PROGRESSING,
        message=message,
    )


def _wait_for_pods(
    tick: _Tick, s: RolloutStatus, track: TrackState, version: str | None, needed: int, what: str
) -> RolloutStatus:
    """Not enough ready pods yet: wait, or roll back after the progress deadline."""
    ready = track.ready_replicas if track.version == version else 0
    waited = _elapsed(s.step_started_at, tick.now)
    counts = f"{ready}/{needed} pods ready"
    if waited > tick.spec.progress_deadline:
        return _rollback(
            tick,
            s,
            "ProgressDeadlineExceeded",
            f"{what} not ready after {format_duration(waited)} ({counts}); "
            f"progressDeadline is {format_duration(tick.spec.progress_deadline)}",
        )
    return _running(tick, s, f"waiting for {what} ({counts})", "WaitingForPods")


def _step_set_weight(tick: _Tick, s: RolloutStatus, step: Step) -> RolloutStatus:
    weight = int(step.weight or 0)
    needed = canary_replicas_for(weight, tick.spec.replicas)
    if not _ready(tick.obs.canary, s.canary_version, needed):
        return _wait_for_pods(
            tick, s, tick.obs.canary, s.canary_version, needed, f"canary pods for {weight}%"
        )
    if weight != s.current_weight:
        tick.act(Action.SET_WEIGHT)
        tick.event("Normal", "WeightSet", f"canary {s.canary_version} gets {weight}% of traffic")
    return _advance(tick, replace(s, current_weight=weight), f"canary weight {weight}%")


def _step_pause(tick: _Tick, s: RolloutStatus, step: Step) -> RolloutStatus:
    if step.duration is None:
        return _pause(
            tick, s, f"paused at {_where(tick.spec, s)}: set spec.promote to continue", "Paused"
        )
    elapsed = _elapsed(s.step_started_at, tick.now)
    if elapsed >= step.duration:
        return _advance(tick, s, f"paused {format_duration(step.duration)}")
    tick.wake_in(step.duration - elapsed)
    until = to_rfc3339(
        as_datetime(s.step_started_at or tick.now) + timedelta(seconds=step.duration)
    )
    return _running(
        tick, s, f"pausing {format_duration(step.duration)} until {until}", "CanaryProgressing"
    )


def _record_analysis(tick: _Tick, s: RolloutStatus, step: Step) -> tuple[RolloutStatus, Judgement]:
    """Add this tick's measurements to the step's checks and judge them."""
    index = int(s.current_step_index or 0)
    state = s.analysis if s.analysis and s.analysis.step_index == index else None
    states: list[CheckState] = []
    judgements: list[Judgement] = []
    latest = None
    for check in step.checks:
        current = state.check(check.name) if state else CheckState(check.name)
        measurement = tick.obs.measurements.get(check.name)
        if measurement is not None:
            updated = current.record(check, measurement)
            if updated is not current:
                latest = max(latest or measurement.at, measurement.at)
            current = updated
        states.append(current)
        judgements.append(current.judge(check))
        if not current.judge(check).verdict.terminal:
            last = current.last_measured_at
            wait = check.interval - _elapsed(last, tick.now) if last else 0.0
            tick.wake_in(wait)
    verdict = combine(judgements)
    s = replace(s, analysis=AnalysisState(step_index=index, checks=tuple(states)))
    if latest is not None:
        s = replace(
            s,
            last_analysis={
                "version": s.canary_version,
                "stepIndex": index,
                "verdict": verdict.verdict.value,
                "message": verdict.message,
                "at": latest,
                "checks": [
                    {"name": j.check, "verdict": j.verdict.value, "message": j.message,
                     "lastValue": st.tally.last_value}
                    for j, st in zip(judgements, states, strict=True)
                ],
            },
        )
    return s, verdict


def _step_analysis(tick: _Tick, s: RolloutStatus, judgement: Judgement) -> RolloutStatus:
    where = _where(tick.spec, s)
    if not tick.obs.prometheus_reachable:
        detail = f": {tick.obs.prometheus_error}" if tick.obs.prometheus_error else ""
        cause = f"analysis at {where} paused: Prometheus is unreachable"
        return _pause(
            tick,
            s,
            f"{cause}{detail} (never promoted without data)",
            "AnalysisInconclusive",
            cause,
        )
    if judgement.verdict is Verdict.SUCCESSFUL:
        tick.event("Normal", "AnalysisSucceeded", f"{where}: {judgement.message}")
        return _advance(tick, s, f"analysis passed ({judgement.message})")
    if judgement.verdict is Verdict.INCONCLUSIVE:
        cause = f"analysis at {where} inconclusive"
        return _pause(
            tick,
            s,
            f"{cause}: {judgement.message} (keeps measuring; resumes when the checks pass)",
            "AnalysisInconclusive",
            cause,
        )
    return _running(tick, s, f"analysing at {where}: {judgement.message}", "Analysing")


def _promotion(tick: _Tick, s: RolloutStatus) -> RolloutStatus:
    spec = tick.spec
    replicas = spec.replicas
    canary = s.canary_version
    if s.promotion is PromotionStage.SCALING_UP:
        if not _ready(tick.obs.canary, canary, replicas):
            return _wait_for_pods(
                tick, s, tick.obs.canary, canary, replicas, "canary pods for full traffic"
            )
        if s.current_weight != 100:
            tick.act(Action.SET_WEIGHT)
            tick.event("Normal", "WeightSet", f"canary {canary} gets 100% of traffic")
        tick.act(Action.PROMOTE_CANARY_TO_STABLE)
        tick.event("Normal", "Promoting", f"updating the stable pods to {canary}")
        s = replace(
            s,
            current_weight=100,
            promotion=PromotionStage.UPDATING_STABLE,
            step_started_at=tick.now,
        )
    tick.stable_override = canary
    if _ready(tick.obs.stable, canary, replicas):
        return _finalize(tick, s)
    return _wait_for_pods(tick, s, tick.obs.stable, canary, replicas, f"stable pods on {canary}")


def _finalize(tick: _Tick, s: RolloutStatus) -> RolloutStatus:
    version = str(s.canary_version)
    previous = s.stable_version
    tick.stable_override = None
    tick.act(Action.SET_WEIGHT)
    tick.act(Action.SCALE_DOWN_CANARY)
    tick.event("Normal", "Promoted", f"{version} promoted to stable (was {previous})")
    tick.reason = "RolloutComplete"
    s = tick.history(_reset_canary(s), version, "Promoted", f"replaced {previous}")
    return replace(
        s,
        stable_version=version,
        phase=RolloutPhase.HEALTHY,
        message=f"{version} is serving (promoted from canary, replaced {previous})",
    )


# --------------------------------------------------------------------------- output


def _finish(tick: _Tick, s: RolloutStatus) -> Decision:
    spec = tick.spec
    canary = s.canary_version
    weight = s.current_weight if canary else 0
    if canary is None:
        canary_replicas = 0
    elif s.promotion is not None:
        canary_replicas = spec.replicas
    else:
        step = _current_step(spec, s)
        wanted = weight
        if step is not None and step.kind is StepKind.SET_WEIGHT:
            wanted = max(weight, int(step.weight or 0))
        canary_replicas = canary_replicas_for(wanted, spec.replicas)
    stable_version = tick.stable_override or s.stable_version
    return Decision(
        status=s,
        weights=Weights(stable=100 - weight, canary=weight),
        stable_version=stable_version,
        stable_replicas=spec.replicas if stable_version else 0,
        canary_version=canary,
        canary_replicas=canary_replicas,
        actions=tuple(_ordered(tick.actions)),
        events=tuple(tick.events),
        conditions=_conditions(tick, s),
        requeue_after=tick.requeue,
    )


def _ordered(actions: list[Action]) -> list[Action]:
    """Weights first, scale-downs last: the order that never drops traffic."""
    order = list(Action)
    return sorted(actions, key=order.index)


def _conditions(tick: _Tick, s: RolloutStatus) -> tuple[dict[str, Any], ...]:
    generation = tick.spec.generation
    stable = tick.obs.stable
    version = s.stable_version
    if version is None:
        ready = make_condition(
            CONDITION_READY,
            False,
            "NothingDeployed",
            "no version is serving yet",
            observed_generation=generation,
        )
    elif _ready(stable, version, 1):
        ready = make_condition(
            CONDITION_READY,
            True,
            "StableReady",
            f"{version}: {stable.ready_replicas}/{tick.spec.replicas} pods ready",
            observed_generation=generation,
        )
    else:
        ready = make_condition(
            CONDITION_READY,
            False,
            "StableNotReady",
            f"no ready pods serve {version}",
            observed_generation=generation,
        )
    message = s.message or ""
    if s.phase is RolloutPhase.PROGRESSING:
        progressing = make_condition(
            CONDITION_PROGRESSING, True, tick.reason, message, observed_generation=generation
        )
    elif s.phase is RolloutPhase.PAUSED:
        progressing = make_condition(
            CONDITION_PROGRESSING, None, tick.reason, message, observed_generation=generation
        )
    else:
        progressing = make_condition(
            CONDITION_PROGRESSING, False, tick.reason, message, observed_generation=generation
        )
    return (ready, progressing)


# --------------------------------------------------------------------------- helpers for handlers


def checks_to_measure(
    spec: RolloutSpec, status: RolloutStatus, now: datetime | str
) -> tuple[CheckSpec, ...]:
    """The checks of the current analysis step that are due now (not yet decided).

    Measure these, then pass the results as ``Observations.measurements``.
    """
    if status.canary_version is None or status.canary_version != spec.model_version:
        return ()
    if spec.promote or status.phase not in (RolloutPhase.PROGRESSING, RolloutPhase.PAUSED):
        return ()
    step = _current_step(spec, status)
    if step is None or step.kind is not StepKind.ANALYSIS:
        return ()
    index = status.current_step_index
    state = status.analysis if status.analysis and status.analysis.step_index == index else None
    due_checks = []
    for check in step.checks:
        current = state.check(check.name) if state else CheckState(check.name)
        if current.judge(check).verdict.terminal:
            continue
        if due(check, current.last_measured_at, now):
            due_checks.append(check)
    return tuple(due_checks)


def decide_from_dicts(
    spec: Mapping[str, Any],
    status: Mapping[str, Any] | None,
    obs: Observations,
    *,
    generation: int | None = None,
) -> Decision:
    """:func:`decide` on raw dicts; an invalid spec holds everything as it is
    (phase Degraded, condition reason InvalidSpec) instead of raising."""
    current = RolloutStatus.from_dict(status)
    try:
        parsed = RolloutSpec.from_dict(spec, generation=generation)
    except (SpecError, AnalysisSpecError) as error:
        raw = spec.get("replicas") if isinstance(spec, Mapping) else None
        replicas = raw if isinstance(raw, int) and not isinstance(raw, bool) and raw >= 1 else None
        return hold_invalid_spec(current, str(error), obs, replicas=replicas, generation=generation)
    return decide(parsed, current, obs)


def hold_invalid_spec(
    status: RolloutStatus,
    error: str,
    obs: Observations,
    *,
    replicas: int | None = None,
    generation: int | None = None,
) -> Decision:
    """Keep traffic and workloads as the status says; report the spec error.

    ``replicas`` is the spec's replica count if it was readable, else the
    number of ready stable pods is kept.
    """
    message = f"invalid spec: {error}"
    events: tuple[Event, ...] = ()
    if status.phase is not RolloutPhase.DEGRADED or status.message != message:
        events = (Event("Warning", "InvalidSpec", message),)
    canary = status.canary_version
    weight = status.current_weight if canary else 0
    count = replicas if replicas is not None else max(obs.stable.ready_replicas, 1)
    stable_version = status.stable_version
    if status.promotion is PromotionStage.UPDATING_STABLE:
        stable_version = canary
    if canary is None:
        canary_replicas = 0
    elif status.promotion is not None:
        canary_replicas = count
    else:
        canary_replicas = canary_replicas_for(weight, count)
    serving = _ready(obs.stable, stable_version, 1)
    return Decision(
        status=replace(status, phase=RolloutPhase.DEGRADED, message=message),
        weights=Weights(stable=100 - weight, canary=weight),
        stable_version=stable_version,
        stable_replicas=count if stable_version else 0,
        canary_version=canary,
        canary_replicas=canary_replicas,
        events=events,
        conditions=(
            make_condition(
                CONDITION_READY,
                serving,
                "StableReady" if serving else "StableNotReady",
                f"stable version {stable_version}",
                observed_generation=generation,
            ),
            make_condition(
                CONDITION_PROGRESSING,
                False,
                "InvalidSpec",
                message,
                observed_generation=generation,
            ),
        ),
    )
