"""After the steps: the canary grows to full size and takes all traffic (then bakes, if
``strategy.bake`` says so: ``bake``), the stable workload moves to the new version,
and the canary workload goes.
"""

from __future__ import annotations

from dataclasses import replace

from mlops_operator.domain.rollout.bake import continue_bake, start_bake
from mlops_operator.domain.rollout.decision import Action
from mlops_operator.domain.rollout.holds import wait_for_pods
from mlops_operator.domain.rollout.rollback import reset_canary
from mlops_operator.domain.rollout.status import (
    MAX_PREVIOUS_STABLE,
    PromotionStage,
    RolloutPhase,
    RolloutStatus,
)
from mlops_operator.domain.rollout.tick import Tick, is_ready
from mlops_operator.domain.vocabulary import EventType, HistoryEvent, RolloutReason


def enter_promotion(tick: Tick, status: RolloutStatus, why: str) -> RolloutStatus:
    """Past the steps (done, skipped or shortened): promotion starts by scaling up."""
    message = f"{why}; promoting {status.canary_version}"
    return replace(
        status,
        current_step_index=len(tick.spec.steps),
        step_started_at=tick.now,
        shadow_started_at=None,
        promotion=PromotionStage.SCALING_UP,
        analysis=None,
        pause_reason=None,
        phase=RolloutPhase.PROGRESSING,
        message=message,
    )


def run_promotion(tick: Tick, status: RolloutStatus) -> RolloutStatus:
    """One tick of the promotion: scale up, bake, update the stable workload, finalize."""
    replicas = tick.spec.replicas
    canary = status.canary_version
    window = tick.spec.active_bake
    if status.promotion is PromotionStage.SCALING_UP:
        if not is_ready(tick.observations.canary, canary, replicas):
            return wait_for_pods(tick, status, tick.observations.canary, canary, replicas,
                                 "canary pods for full traffic")
        status = _full_traffic(tick, status)
        if window is not None:
            return start_bake(tick, status, window)
        status = _update_stable(tick, status)
    elif status.promotion is PromotionStage.BAKING:
        if window is not None:
            status, baked = continue_bake(tick, status, window)
            if not baked:
                return status  # still baking, or rolled back
        status = _update_stable(tick, status)
    tick.stable_override = canary
    if is_ready(tick.observations.stable, canary, replicas):
        return finalize(tick, status)
    return wait_for_pods(tick, status, tick.observations.stable, canary, replicas,
                         f"stable pods on {canary}")


def _full_traffic(tick: Tick, status: RolloutStatus) -> RolloutStatus:
    """The canary, at full size, gets 100 % of traffic."""
    if status.current_weight != 100:
        tick.act(Action.SET_WEIGHT)
        tick.event(EventType.NORMAL, RolloutReason.WEIGHT_SET,
                   f"canary {status.canary_version} gets 100% of traffic")
    return replace(status, current_weight=100)


def _update_stable(tick: Tick, status: RolloutStatus) -> RolloutStatus:
    """The stable workload moves to the new version (the canary keeps serving meanwhile)."""
    tick.act(Action.PROMOTE_CANARY_TO_STABLE)
    tick.event(EventType.NORMAL, RolloutReason.PROMOTING,
               f"updating the stable pods to {status.canary_version}")
    return replace(status, promotion=PromotionStage.UPDATING_STABLE, step_started_at=tick.now,
                   analysis=None)


def finalize(tick: Tick, status: RolloutStatus) -> RolloutStatus:
    """The stable pods run the new version: it is the stable one, the canary goes."""
    version = str(status.canary_version)
    previous = status.stable_version
    tick.stable_override = None
    tick.act(Action.SET_WEIGHT)
    tick.act(Action.SCALE_DOWN_CANARY)
    tick.event(EventType.NORMAL, RolloutReason.PROMOTED,
               f"{version} promoted to stable (was {previous})")
    tick.reason = RolloutReason.ROLLOUT_COMPLETE
    status = tick.history(reset_canary(status), version, HistoryEvent.PROMOTED,
                          f"replaced {previous}")
    earlier = ((previous, *status.previous_stable_versions) if previous
               else status.previous_stable_versions)
    return replace(
        status,
        stable_version=version,
        previous_stable_versions=tuple(dict.fromkeys(
            v for v in earlier if v != version))[:MAX_PREVIOUS_STABLE],
        phase=RolloutPhase.HEALTHY,
        message=f"{version} is serving (promoted from canary, replaced {previous})",
    )
