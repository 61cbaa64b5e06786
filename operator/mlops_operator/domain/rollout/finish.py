"""A finished tick as a Decision: weights, replica counts, ordered actions, conditions;
and the decision that holds everything as it is when the spec is invalid.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from mlops_operator.domain.conditions import make_condition
from mlops_operator.domain.health import health_conditions, rollout_health
from mlops_operator.domain.rollout.decision import (
    Action,
    Decision,
    Mirror,
    Observations,
    Weights,
    canary_replicas_for,
)
from mlops_operator.domain.rollout.spec import (
    RolloutSpec,
    StepKind,
)
from mlops_operator.domain.rollout.status import (
    PromotionStage,
    RolloutPhase,
    RolloutStatus,
)
from mlops_operator.domain.rollout.tick import (
    Tick,
    current_step,
    is_ready,
)
from mlops_operator.domain.vocabulary import ConditionType, EventType, RolloutReason


def finish(tick: Tick, status: RolloutStatus) -> Decision:
    """The Decision of a tick that left the rollout at ``status``."""
    spec = tick.spec
    canary = status.canary_version
    weight = status.current_weight if canary else 0
    mirror = None
    if canary is None:
        canary_replicas = 0
    elif status.promotion is not None:
        canary_replicas = spec.replicas
    else:
        step = current_step(spec, status)
        wanted = weight
        if step is not None and step.kind is StepKind.SET_WEIGHT:
            wanted = max(weight, int(step.weight or 0))
        if step is not None and step.kind is StepKind.SHADOW:
            wanted = max(weight, int(step.percent or 100))
            if status.phase in (RolloutPhase.PROGRESSING, RolloutPhase.PAUSED):
                mirror = Mirror(canary, int(step.percent or 100))
        canary_replicas = canary_replicas_for(wanted, spec.replicas)
    stable_version = tick.stable_override or status.stable_version
    return Decision(
        status=status,
        weights=Weights(stable=100 - weight, canary=weight),
        stable_version=stable_version,
        stable_replicas=_stable_replicas(spec, status) if stable_version else 0,
        canary_version=canary,
        canary_replicas=canary_replicas,
        actions=tuple(_ordered(tick.actions)),
        events=tuple(tick.events),
        conditions=_conditions(tick, status),
        requeue_after=tick.requeue,
        mirror=mirror,
    )


def _stable_replicas(spec: RolloutSpec, status: RolloutStatus) -> int:
    """While the new version bakes at 100 %, the previous one keeps a warm standby."""
    if status.promotion is PromotionStage.BAKING and spec.active_bake is not None:
        return min(spec.active_bake.standby_replicas, spec.replicas)
    return spec.replicas


def _ordered(actions: list[Action]) -> list[Action]:
    """Weights first, scale-downs last: the order that never drops traffic."""
    order = list(Action)
    return sorted(actions, key=order.index)


def _conditions(tick: Tick, status: RolloutStatus) -> tuple[dict[str, Any], ...]:
    """Available (a ready pod serves the stable version), Progressing (the phase), and
    Ready/Reconciling/Stalled (the phase as tools read it)."""
    health = health_conditions(
        rollout_health(status.phase, tick.reason, tick.observations.target_rejected),
        tick.reason, status.message or "", tick.spec.generation)
    return (_available(tick, status), _progressing(tick, status), *health)


def _available(tick: Tick, status: RolloutStatus) -> dict[str, Any]:
    generation = tick.spec.generation
    stable = tick.observations.stable
    version = status.stable_version
    if version is None:
        return make_condition(
            ConditionType.AVAILABLE,
            False,
            RolloutReason.NOTHING_DEPLOYED,
            "no version is serving yet",
            observed_generation=generation,
        )
    if is_ready(stable, version, 1):
        return make_condition(
            ConditionType.AVAILABLE,
            True,
            RolloutReason.STABLE_READY,
            f"{version}: {stable.ready_replicas}/{tick.spec.replicas} pods ready",
            observed_generation=generation,
        )
    return make_condition(
        ConditionType.AVAILABLE,
        False,
        RolloutReason.STABLE_NOT_READY,
        f"no ready pods serve {version}"
        + (f": {stable.problem.describe()}" if stable.problem else ""),
        observed_generation=generation,
    )


def _progressing(tick: Tick, status: RolloutStatus) -> dict[str, Any]:
    """True while it moves, Unknown while Paused, False once it came to rest."""
    if status.phase is RolloutPhase.PROGRESSING:
        value: bool | None = True
    elif status.phase is RolloutPhase.PAUSED:
        value = None
    else:
        value = False
    return make_condition(ConditionType.PROGRESSING, value, tick.reason, status.message or "",
                          observed_generation=tick.spec.generation)


def hold_invalid_spec(
    status: RolloutStatus,
    error: str,
    observations: Observations,
    *,
    replicas: int | None = None,
    generation: int | None = None,
    reason: RolloutReason = RolloutReason.INVALID_SPEC,
) -> Decision:
    """Keep traffic and workloads as the status says; report the spec error (or, with
    ``reason`` ChildRefused, the API server's refusal of an object built from the spec).

    The same :func:`finish` as every tick builds the decision, from a spec with no
    steps: ``replicas`` is the spec's count if it was readable, else the number of
    ready stable pods is kept.
    """
    message = f"invalid spec: {error}"
    count = replicas if replicas is not None else max(observations.stable.ready_replicas, 1)
    held = RolloutSpec(
        model_version=status.stable_version or status.canary_version or "",
        replicas=count,
        steps=(),
        generation=generation,
    )
    tick = Tick(held, observations)
    if status.phase is not RolloutPhase.DEGRADED or status.message != message:
        tick.event(EventType.WARNING, reason, message)
    tick.reason = reason
    if status.promotion is PromotionStage.UPDATING_STABLE:
        tick.stable_override = status.canary_version
    return finish(tick, replace(status, phase=RolloutPhase.DEGRADED, message=message))
