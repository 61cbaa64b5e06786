"""After the steps: the canary grows to full size and takes all traffic, bakes there with
the previous stable version as a warm standby (``strategy.bake``), then the stable
workload moves to the new version and the canary workload goes.
"""

from __future__ import annotations

from dataclasses import replace

from mlops_operator.domain.analysis import Verdict
from mlops_operator.domain.durations import format_duration
from mlops_operator.domain.rollout.decision import Action
from mlops_operator.domain.rollout.spec import Bake, Step, StepKind
from mlops_operator.domain.rollout.status import (
    MAX_PREVIOUS_STABLE,
    PromotionStage,
    RolloutPhase,
    RolloutStatus,
)
from mlops_operator.domain.rollout.steps import record_analysis
from mlops_operator.domain.rollout.tick import Tick, is_ready, seconds_elapsed
from mlops_operator.domain.rollout.transitions import (
    keep_running,
    reset_canary,
    roll_back,
    wait_for_pods,
)


def run_promotion(tick: Tick, s: RolloutStatus) -> RolloutStatus:
    spec = tick.spec
    replicas = spec.replicas
    canary = s.canary_version
    bake = spec.active_bake
    if s.promotion is PromotionStage.SCALING_UP:
        if not is_ready(tick.obs.canary, canary, replicas):
            return wait_for_pods(
                tick, s, tick.obs.canary, canary, replicas, "canary pods for full traffic"
            )
        if s.current_weight != 100:
            tick.act(Action.SET_WEIGHT)
            tick.event("Normal", "WeightSet", f"canary {canary} gets 100% of traffic")
        s = replace(s, current_weight=100)
        if bake is not None:
            return _start_bake(tick, s, bake)
        s = _update_stable(tick, s)
    elif s.promotion is PromotionStage.BAKING:
        if bake is not None:
            s, baked = _bake(tick, s, bake)
            if not baked:
                return s  # still baking, or rolled back
        s = _update_stable(tick, s)
    tick.stable_override = canary
    if is_ready(tick.obs.stable, canary, replicas):
        return finalize(tick, s)
    return wait_for_pods(tick, s, tick.obs.stable, canary, replicas, f"stable pods on {canary}")


def _update_stable(tick: Tick, s: RolloutStatus) -> RolloutStatus:
    tick.act(Action.PROMOTE_CANARY_TO_STABLE)
    tick.event("Normal", "Promoting", f"updating the stable pods to {s.canary_version}")
    return replace(s, promotion=PromotionStage.UPDATING_STABLE, step_started_at=tick.now,
                   analysis=None)


def _start_bake(tick: Tick, s: RolloutStatus, bake: Bake) -> RolloutStatus:
    standby = f"{s.stable_version} stays as a warm standby ({bake.standby_replicas} pod(s))"
    tick.event("Normal", "Baking", f"{s.canary_version} takes 100% for a bake window of "
                                   f"{format_duration(bake.duration)}; {standby}")
    s = tick.history(s, str(s.canary_version), "Baking", standby)
    s = replace(s, promotion=PromotionStage.BAKING, step_started_at=tick.now, analysis=None)
    return _bake(tick, s, bake)[0]


def _bake(tick: Tick, s: RolloutStatus, bake: Bake) -> tuple[RolloutStatus, bool]:
    """One tick of the window, and whether it is over: the checks run in rounds until it
    ends; a failed one goes back to the standby at once (a firing alert does too, as for
    every canary)."""
    s, judgement = record_analysis(tick, s, Step(StepKind.ANALYSIS, checks=bake.checks))
    canary, stable = s.canary_version, s.stable_version
    if judgement.verdict is Verdict.FAILED:
        why = (f"{judgement.message} while baking; {stable} takes all traffic back from its "
               "warm standby")
        return roll_back(tick, s, "BakeFailed", why), False
    if judgement.verdict is Verdict.SUCCESSFUL:
        s = replace(s, analysis=None)  # a round passed: the checks start the next one
    elapsed = seconds_elapsed(s.step_started_at, tick.now)
    if elapsed >= bake.duration:
        tick.event("Normal", "BakeSucceeded", f"{canary} baked {format_duration(bake.duration)} "
                                              f"with no failed check and no alert")
        return tick.history(s, str(canary), "Baked", format_duration(bake.duration)), True
    left = bake.duration - elapsed
    tick.wake_in(left)
    message = (f"baking {canary} at 100%: {format_duration(left)} left, {stable} on warm "
               f"standby; {judgement.message}")
    return keep_running(tick, s, message, "Baking"), False


def finalize(tick: Tick, s: RolloutStatus) -> RolloutStatus:
    version = str(s.canary_version)
    previous = s.stable_version
    tick.stable_override = None
    tick.act(Action.SET_WEIGHT)
    tick.act(Action.SCALE_DOWN_CANARY)
    tick.event("Normal", "Promoted", f"{version} promoted to stable (was {previous})")
    tick.reason = "RolloutComplete"
    s = tick.history(reset_canary(s), version, "Promoted", f"replaced {previous}")
    earlier = (previous, *s.previous_stable_versions) if previous else s.previous_stable_versions
    return replace(
        s,
        stable_version=version,
        previous_stable_versions=tuple(dict.fromkeys(
            v for v in earlier if v != version))[:MAX_PREVIOUS_STABLE],
        phase=RolloutPhase.HEALTHY,
        message=f"{version} is serving (promoted from canary, replaced {previous})",
    )
