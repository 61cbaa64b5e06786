"""The Deployment spec the rollout reads: steps (shadow, setWeight, pause, analysis), checks,
flags (promote, abort, paused) and the progress deadline, parsed and validated.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from mlops_operator.domain.checks import AnalysisSpecError, Builtin, CheckSpec
from mlops_operator.domain.durations import (
    DurationError,
    format_duration,
    parse_duration,
)
from mlops_operator.domain.errors import SpecError

DEFAULT_PROGRESS_DEADLINE = 600.0
#: One-shot manual control: the annotation's value names the version it is meant for, so
#: it cannot act on a later rollout (kubectl mlops and the Argo CD actions set these).
PROMOTE_ANNOTATION = "mlops.dev/promote"
ABORT_ANNOTATION = "mlops.dev/abort"
ONE_SHOT = {"promote": PROMOTE_ANNOTATION, "abort": ABORT_ANNOTATION}


#: Checks an analysis step runs when neither it nor spec.strategy.analysis names any.
DEFAULT_CHECKS: tuple[CheckSpec, ...] = (
    CheckSpec.for_builtin(Builtin.ERROR_RATE),
    CheckSpec.for_builtin(Builtin.LATENCY_P99),
)


class RolloutSpecError(SpecError):
    """An invalid Deployment spec; the message names the field."""


class StepKind(StrEnum):
    """The kinds of canary step."""

    SHADOW = "shadow"
    SET_WEIGHT = "setWeight"
    PAUSE = "pause"
    ANALYSIS = "analysis"


#: Checks a shadow step runs when it names none: agreement with the live version first.
SHADOW_CHECK = CheckSpec.for_builtin(Builtin.PREDICTION_AGREEMENT)


@dataclass(frozen=True)
class Step:
    """One canary step."""

    kind: StepKind
    weight: int | None = None  # setWeight
    duration: float | None = None  # pause: None = until promoted; shadow: at least this long
    checks: tuple[CheckSpec, ...] = ()  # analysis, shadow
    percent: int | None = None  # shadow: share of live requests mirrored to the canary

    def describe(self) -> str:
        """E.g. "setWeight 20", "pause 30s", "analysis errorRate, latencyP99",
        "shadow 50% for 2m"."""
        if self.kind is StepKind.SHADOW:
            length = f" for {format_duration(self.duration)}" if self.duration else ""
            return f"shadow {self.percent}%{length}"
        if self.kind is StepKind.SET_WEIGHT:
            return f"setWeight {self.weight}"
        if self.kind is StepKind.PAUSE:
            return (
                "pause until promoted"
                if self.duration is None
                else (f"pause {format_duration(self.duration)}")
            )
        return "analysis " + ", ".join(c.name for c in self.checks)


@dataclass(frozen=True)
class Bake:
    """After the steps the new version takes all traffic while the previous stable stays
    as a warm standby; a failed check or an alert inside ``duration`` goes back to it."""

    duration: float
    checks: tuple[CheckSpec, ...] = DEFAULT_CHECKS
    standby_replicas: int = 1


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
        raise RolloutSpecError(f"{where}.checks must be a non-empty list of names or check specs")
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
                    raise RolloutSpecError(
                        f"{where}.checks[{index}]: unknown check {item!r} (define it in "
                        f"spec.strategy.analysis.checks or use a built-in: {builtins})"
                    )
            else:
                checks.append(CheckSpec.from_dict(item))
        except AnalysisSpecError as error:
            raise RolloutSpecError(f"{where}.checks[{index}]: {error}") from None
    names = [c.name for c in checks]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise RolloutSpecError(f"{where}.checks: duplicate check name(s) {', '.join(duplicates)}")
    return tuple(checks)


def _parse_shadow(value: Any, where: str, defaults: tuple[CheckSpec, ...]) -> Step:
    """``shadow: {percent: 50, duration: 2m, checks: [...]}``; checks default to
    predictionAgreement plus the strategy's default checks."""
    value = value or {}
    if not isinstance(value, Mapping) or set(value) - {"percent", "duration", "checks"}:
        raise RolloutSpecError(f"{where}.shadow must be "
                               f"{{percent: 50, duration: 2m, checks: [...]}}, not {value!r}")
    percent = value.get("percent", 100)
    if isinstance(percent, bool) or not isinstance(percent, int) or not 1 <= percent <= 100:
        raise RolloutSpecError(f"{where}.shadow.percent must be an integer 1..100, not {percent!r}")
    duration = None
    if value.get("duration") is not None:
        try:
            duration = parse_duration(value["duration"])
        except DurationError as error:
            raise RolloutSpecError(f"{where}.shadow.duration: {error}") from None
    shadow_defaults = (SHADOW_CHECK, *(c for c in defaults if c.name != SHADOW_CHECK.name))
    checks = _parse_checks(value.get("checks"), shadow_defaults, f"{where}.shadow")
    return Step(StepKind.SHADOW, duration=duration, checks=checks, percent=percent)


def _parse_step(raw: Any, index: int, defaults: tuple[CheckSpec, ...]) -> Step:
    where = f"spec.strategy.steps[{index}]"
    if not isinstance(raw, Mapping) or len(raw) != 1:
        raise RolloutSpecError(f"{where} must have exactly one of shadow, setWeight, pause, "
                               f"analysis; got {raw!r}")
    ((key, value),) = raw.items()
    if key == "shadow":
        return _parse_shadow(value, where, defaults)
    if key == "setWeight":
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100:
            raise RolloutSpecError(f"{where}.setWeight must be an integer 0..100, not {value!r}")
        return set_weight(value)
    if key == "pause":
        value = value or {}
        if not isinstance(value, Mapping) or set(value) - {"duration"}:
            raise RolloutSpecError(
                f"{where}.pause must be {{}} or {{duration: 30s}}, not {value!r}")
        if value.get("duration") is None:
            return pause(None)
        try:
            return pause(parse_duration(value["duration"]))
        except DurationError as error:
            raise RolloutSpecError(f"{where}.pause.duration: {error}") from None
    if key == "analysis":
        value = value or {}
        if not isinstance(value, Mapping) or set(value) - {"checks"}:
            raise RolloutSpecError(f"{where}.analysis must be {{checks: [...]}}, not {value!r}")
        checks = _parse_checks(value.get("checks"), defaults, f"{where}.analysis")
        return Step(StepKind.ANALYSIS, checks=checks)
    raise RolloutSpecError(f"{where}: unknown step {key!r} (expected shadow, setWeight, pause or "
                           f"analysis)")


def default_steps(checks: tuple[CheckSpec, ...] = DEFAULT_CHECKS) -> tuple[Step, ...]:
    """Used when spec.strategy.steps is absent: 20 %, analyse, 50 %, analyse."""
    return (set_weight(20), analysis(*checks), set_weight(50), analysis(*checks))


STRATEGY_FIELDS = ("steps", "analysis", "progressDeadline", "alerts", "rollbackWindow", "bake")
#: How many earlier stable versions a revert may return to without the steps.
DEFAULT_ROLLBACK_WINDOW = 2
MAX_ROLLBACK_WINDOW = 10


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
    #: Alert names that roll the canary back; an alert not listed here does nothing
    #: (a Deployment opts in to what may stop it).
    alerts: tuple[str, ...] = ()
    #: A target among this many versions that were stable before the current one is
    #: moved to at once, without the steps (a revert); 0 runs every target as a canary.
    rollback_window: int = DEFAULT_ROLLBACK_WINDOW
    bake: Bake | None = None  # no bake window: the old version goes as soon as promoted
    #: What asked for promote / abort: the sticky spec flag, or a one-shot annotation
    #: naming this target (ONE_SHOT), which the handler removes once it is spent.
    promote_source: str = "spec.promote"
    abort_source: str = "spec.abort"

    @property
    def active_bake(self) -> Bake | None:
        """The bake window this rollout runs: none when spec.promote skips it."""
        return None if self.promote else self.bake

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any], *, generation: int | None = None,
                  annotations: Mapping[str, str] | None = None) -> RolloutSpec:
        """Parse Deployment.spec: modelVersion, replicas, promote, abort, paused and
        strategy: {steps, analysis: {checks}, progressDeadline, alerts}; a one-shot
        annotation naming spec.modelVersion counts as its flag."""
        if not isinstance(spec, Mapping):
            raise RolloutSpecError("spec must be an object")
        version = _parse_target(spec)
        replicas = spec.get("replicas", 1)
        if isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < 1:
            raise RolloutSpecError(f"spec.replicas must be an integer >= 1, not {replicas!r}")
        strategy = spec.get("strategy") or {}
        if not isinstance(strategy, Mapping):
            raise RolloutSpecError("spec.strategy must be an object")
        unknown = sorted(set(strategy) - set(STRATEGY_FIELDS))
        if unknown:
            raise RolloutSpecError(
                f"spec.strategy: unknown field(s) {', '.join(unknown)} "
                f"(known: {', '.join(STRATEGY_FIELDS)})"
            )
        try:
            deadline = parse_duration(strategy.get("progressDeadline", DEFAULT_PROGRESS_DEADLINE))
        except DurationError as error:
            raise RolloutSpecError(f"spec.strategy.progressDeadline: {error}") from None
        flags = {}
        for name in ("promote", "abort", "paused"):
            value = spec.get(name, False)
            if not isinstance(value, bool):
                raise RolloutSpecError(f"spec.{name} must be true or false, not {value!r}")
            flags[name] = value
        for name, annotation in ONE_SHOT.items():
            if not flags[name] and (annotations or {}).get(annotation) == version:
                flags[name] = True
                flags[f"{name}_source"] = f"{annotation}={version}"
        return cls(
            model_version=version,
            replicas=replicas,
            steps=_parse_steps(strategy),
            bake=_parse_bake(strategy.get("bake"), _default_checks(strategy)),
            progress_deadline=deadline,
            generation=generation,
            alerts=_parse_alerts(strategy.get("alerts")),
            rollback_window=_parse_rollback_window(strategy.get("rollbackWindow")),
            **flags,
        )


def _parse_steps(strategy: Mapping[str, Any]) -> tuple[Step, ...]:
    """spec.strategy.steps, whose analysis steps default to spec.strategy.analysis.checks."""
    defaults = _default_checks(strategy)
    raw_steps = strategy.get("steps")
    if raw_steps is None:
        return default_steps(defaults)
    if not isinstance(raw_steps, list):
        raise RolloutSpecError("spec.strategy.steps must be a list")
    steps = tuple(_parse_step(step, i, defaults) for i, step in enumerate(raw_steps))
    _check_shadows_come_first(steps)
    return steps


def _check_shadows_come_first(steps: tuple[Step, ...]) -> None:
    """A shadow answers no user, so it cannot follow a step that gave the canary traffic."""
    weighted = None
    for index, step in enumerate(steps):
        if step.kind is StepKind.SET_WEIGHT and step.weight:
            weighted = weighted if weighted is not None else index
        if step.kind is StepKind.SHADOW and weighted is not None:
            raise RolloutSpecError(
                f"spec.strategy.steps[{index}]: a shadow step must come before the canary gets "
                f"traffic (steps[{weighted}] is setWeight {steps[weighted].weight})")


def _parse_alerts(raw: Any) -> tuple[str, ...]:
    """spec.strategy.alerts: the alert names (Alertmanager's ``alertname``) accepted."""
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(isinstance(a, str) and a.strip() for a in raw):
        raise RolloutSpecError(
            f"spec.strategy.alerts must be a list of alert names, e.g. [CanaryLatencyHigh], "
            f"not {raw!r}"
        )
    return tuple(raw)


def _parse_rollback_window(raw: Any) -> int:
    """spec.strategy.rollbackWindow: {versions: N}, 0..MAX_ROLLBACK_WINDOW."""
    if raw is None:
        return DEFAULT_ROLLBACK_WINDOW
    versions = raw.get("versions", DEFAULT_ROLLBACK_WINDOW) if isinstance(raw, Mapping) else None
    if (not isinstance(raw, Mapping) or set(raw) - {"versions"} or isinstance(versions, bool)
            or not isinstance(versions, int) or not 0 <= versions <= MAX_ROLLBACK_WINDOW):
        raise RolloutSpecError(
            f"spec.strategy.rollbackWindow must be {{versions: N}} with N an integer "
            f"0..{MAX_ROLLBACK_WINDOW}, not {raw!r}"
        )
    return versions


def _default_checks(strategy: Mapping[str, Any]) -> tuple[CheckSpec, ...]:
    """spec.strategy.analysis.checks: what analysis steps and the bake run by default."""
    analysis_spec = strategy.get("analysis") or {}
    if not isinstance(analysis_spec, Mapping) or set(analysis_spec) - {"checks"}:
        raise RolloutSpecError("spec.strategy.analysis must be {checks: [...]}")
    if analysis_spec.get("checks") is None:
        return DEFAULT_CHECKS
    raw = analysis_spec["checks"]
    if not isinstance(raw, list) or not raw or any(isinstance(c, str) for c in raw):
        raise RolloutSpecError("spec.strategy.analysis.checks must be a non-empty list of checks")
    return _parse_checks(raw, (), "spec.strategy.analysis")


def _parse_bake(raw: Any, defaults: tuple[CheckSpec, ...]) -> Bake | None:
    """spec.strategy.bake: {duration, checks, standbyReplicas}."""
    if raw is None:
        return None
    where = "spec.strategy.bake"
    if not isinstance(raw, Mapping) or set(raw) - {"duration", "checks", "standbyReplicas"}:
        raise RolloutSpecError(f"{where} must be "
                               f"{{duration: 10m, checks: [...], standbyReplicas: 1}}, not {raw!r}")
    if raw.get("duration") is None:
        raise RolloutSpecError(f"{where}.duration is required, e.g. 10m")
    try:
        duration = parse_duration(raw["duration"])
    except DurationError as error:
        raise RolloutSpecError(f"{where}.duration: {error}") from None
    if duration <= 0:
        raise RolloutSpecError(f"{where}.duration must be longer than 0s")
    standby = raw.get("standbyReplicas", 1)
    if isinstance(standby, bool) or not isinstance(standby, int) or standby < 1:
        raise RolloutSpecError(f"{where}.standbyReplicas must be an integer >= 1, not {standby!r}")
    return Bake(duration, _parse_checks(raw.get("checks"), defaults, where), standby)


def _parse_target(spec: Mapping[str, Any]) -> str:
    """spec.modelVersion, or "" for a Deployment that follows a model (spec.model with
    spec.follow: latestApproved): its handler resolves the version before deciding."""
    version, model = spec.get("modelVersion"), spec.get("model")
    if version is None and model is not None:
        if not isinstance(model, str) or not model:
            raise RolloutSpecError("spec.model must name a model")
        if spec.get("follow") != "latestApproved":
            raise RolloutSpecError(f"spec.follow must be latestApproved with spec.model, "
                                   f"not {spec.get('follow')!r}")
        return ""
    if not isinstance(version, str) or not version:
        raise RolloutSpecError("spec.modelVersion must name a ModelVersion (or set spec.model with "
                               "spec.follow: latestApproved)")
    return version
