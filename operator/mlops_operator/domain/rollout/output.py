"""A finished tick as a Decision: weights, replica counts, ordered actions, conditions.
"""

from __future__ import annotations

from typing import Any

from mlops_operator.domain.conditions import make_condition
from mlops_operator.domain.rollout.decision import (
    CONDITION_PROGRESSING,
    CONDITION_READY,
    Action,
    Decision,
    Mirror,
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


def finish(tick: Tick, s: RolloutStatus) -> Decision:
    spec = tick.spec
    canary = s.canary_version
    weight = s.current_weight if canary else 0
    mirror = None
    if canary is None:
        canary_replicas = 0
    elif s.promotion is not None:
        canary_replicas = spec.replicas
    else:
        step = current_step(spec, s)
        wanted = weight
        if step is not None and step.kind is StepKind.SET_WEIGHT:
            wanted = max(weight, int(step.weight or 0))
        if step is not None and step.kind is StepKind.SHADOW:
            wanted = max(weight, int(step.percent or 100))
            if s.phase in (RolloutPhase.PROGRESSING, RolloutPhase.PAUSED):
                mirror = Mirror(canary, int(step.percent or 100))
        canary_replicas = canary_replicas_for(wanted, spec.replicas)
    stable_version = tick.stable_override or s.stable_version
    return Decision(
        status=s,
        weights=Weights(stable=100 - weight, canary=weight),
        stable_version=stable_version,
        stable_replicas=_stable_replicas(spec, s) if stable_version else 0,
        canary_version=canary,
        canary_replicas=canary_replicas,
        actions=tuple(_ordered(tick.actions)),
        events=tuple(tick.events),
        conditions=_conditions(tick, s),
        requeue_after=tick.requeue,
        mirror=mirror,
    )


def _stable_replicas(spec: RolloutSpec, s: RolloutStatus) -> int:
    """While the new version bakes at 100 %, the previous one keeps a warm standby."""
    if s.promotion is PromotionStage.BAKING and spec.active_bake is not None:
        return min(spec.active_bake.standby_replicas, spec.replicas)
    return spec.replicas


def _ordered(actions: list[Action]) -> list[Action]:
    """Weights first, scale-downs last: the order that never drops traffic."""
    order = list(Action)
    return sorted(actions, key=order.index)


def _conditions(tick: Tick, s: RolloutStatus) -> tuple[dict[str, Any], ...]:
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
    elif is_ready(stable, version, 1):
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
            f"no ready pods serve {version}"
            + (f": {stable.problem.describe()}" if stable.problem else ""),
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
