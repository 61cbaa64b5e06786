"""The canary of a new approved target: its start (at step 0, or straight to promotion
for a revert within ``strategy.rollbackWindow``), its setWeight, pause and analysis
steps, and advancing from one step to the next (into promotion after the last).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from mlops_operator.domain.analysis import Judgement, Verdict
from mlops_operator.domain.durations import as_datetime, format_duration, to_rfc3339
from mlops_operator.domain.rollout.decision import Action, canary_replicas_for
from mlops_operator.domain.rollout.holds import hold, keep_running, wait_for_pods
from mlops_operator.domain.rollout.promotion import enter_promotion
from mlops_operator.domain.rollout.rollback import abandon, roll_back
from mlops_operator.domain.rollout.spec import Step
from mlops_operator.domain.rollout.status import PromotionStage, RolloutPhase, RolloutStatus
from mlops_operator.domain.rollout.tick import Tick, is_ready, position, seconds_elapsed
from mlops_operator.domain.vocabulary import EventType, HistoryEvent, RolloutReason


def start_canary(tick: Tick, status: RolloutStatus) -> RolloutStatus:
    """A new approved target: abandon any other canary and start this one at step 0, or
    with no steps at all when it was stable within strategy.rollbackWindow."""
    target = tick.spec.model_version
    replacing = status.canary_version is not None
    if replacing:
        status = abandon(tick, status, f"spec.modelVersion changed to {target}")
    if tick.spec.abort:
        return roll_back(tick, status, RolloutReason.ABORTED,
                         f"{tick.spec.abort_source} is set; the canary was not started")
    if replacing:  # the canary workload is re-used for the new version, not scaled away
        tick.actions.remove(Action.SCALE_DOWN_CANARY)
    stable = status.stable_version
    window = tick.spec.rollback_window
    if target in status.previous_stable_versions[:window]:
        ago = status.previous_stable_versions.index(target) + 1
        why = (f"{target} was the stable version {ago} version(s) ago, within "
               f"strategy.rollbackWindow ({window}): skipping the steps")
        return _launch(tick, status, HistoryEvent.FAST_ROLLBACK, skip_steps=True,
                       message=f"{why}; 100% once its pods are ready (stable {stable})",
                       event=f"{why}; replacing {stable}")
    steps = len(tick.spec.steps)
    return _launch(tick, status, HistoryEvent.CANARY_STARTED, skip_steps=not steps,
                   message=f"canary {target} starting (stable {stable})",
                   event=f"canary {target} started against stable {stable} ({steps} steps)")


def _launch(tick: Tick, status: RolloutStatus, start: HistoryEvent, *, skip_steps: bool,
            message: str, event: str) -> RolloutStatus:
    """The target's canary workload starts: at step 0, or straight into promotion when
    there are no steps or it is a revert within strategy.rollbackWindow (no analysis;
    all traffic once its pods are ready)."""
    target = tick.spec.model_version
    status = replace(
        status,
        phase=RolloutPhase.PROGRESSING,
        canary_version=target,
        current_step_index=len(tick.spec.steps) if skip_steps else 0,
        current_weight=0,
        step_started_at=tick.now,
        canary_started_at=tick.now,
        promotion=PromotionStage.SCALING_UP if skip_steps else None,
        pause_reason=None,
        analysis=None,
        message=message,
    )
    tick.act(Action.CREATE_CANARY)
    reason = RolloutReason(start)  # the same word in the Event, condition and history
    tick.event(EventType.NORMAL, reason, event)
    tick.reason = reason
    return tick.history(status, target, start, f"stable was {status.stable_version}")


def step_set_weight(tick: Tick, status: RolloutStatus, step: Step) -> RolloutStatus:
    """Enough canary pods for the weight first, then the weight; then the next step."""
    weight = int(step.weight or 0)
    needed = canary_replicas_for(weight, tick.spec.replicas)
    canary = tick.observations.canary
    if not is_ready(canary, status.canary_version, needed):
        return wait_for_pods(tick, status, canary, status.canary_version, needed,
                             f"canary pods for {weight}%")
    if weight != status.current_weight:
        tick.act(Action.SET_WEIGHT)
        tick.event(EventType.NORMAL, RolloutReason.WEIGHT_SET,
                   f"canary {status.canary_version} gets {weight}% of traffic")
    return advance(tick, replace(status, current_weight=weight), f"canary weight {weight}%")


def step_pause(tick: Tick, status: RolloutStatus, step: Step) -> RolloutStatus:
    """A timed pause waits its duration; one without a duration holds until spec.promote."""
    if step.duration is None:
        return hold(
            tick, status, f"paused at {position(tick.spec, status)}: set spec.promote to continue",
            RolloutReason.PAUSED,
        )
    elapsed = seconds_elapsed(status.step_started_at, tick.now)
    if elapsed >= step.duration:
        return advance(tick, status, f"paused {format_duration(step.duration)}")
    tick.wake_in(step.duration - elapsed)
    until = to_rfc3339(
        as_datetime(status.step_started_at or tick.now) + timedelta(seconds=step.duration)
    )
    return keep_running(
        tick, status, f"pausing {format_duration(step.duration)} until {until}",
        RolloutReason.CANARY_PROGRESSING,
    )


def step_analysis(tick: Tick, status: RolloutStatus, judgement: Judgement,
                  passed: RolloutReason = RolloutReason.ANALYSIS_SUCCEEDED) -> RolloutStatus:
    """The step's checks, judged this tick (a failure was rolled back before): advance when
    they pass, hold when inconclusive or Prometheus is unreachable, else keep analysing."""
    where = position(tick.spec, status)
    observations = tick.observations
    if not observations.prometheus_reachable:
        error = observations.prometheus_error
        detail = f": {error}" if error else ""
        cause = f"analysis at {where} paused: Prometheus is unreachable"
        return hold(tick, status, f"{cause}{detail} (never promoted without data)",
                    RolloutReason.ANALYSIS_INCONCLUSIVE, cause)
    if judgement.verdict is Verdict.SUCCESSFUL:
        tick.event(EventType.NORMAL, passed, f"{where}: {judgement.message}")
        return advance(tick, status, f"analysis passed ({judgement.message})")
    if judgement.verdict is Verdict.INCONCLUSIVE:
        cause = f"analysis at {where} inconclusive"
        return hold(
            tick,
            status,
            f"{cause}: {judgement.message} (keeps measuring; resumes when the checks pass)",
            RolloutReason.ANALYSIS_INCONCLUSIVE,
            cause,
        )
    return keep_running(tick, status, f"analysing at {where}: {judgement.message}",
                        RolloutReason.ANALYSING)


def advance(tick: Tick, status: RolloutStatus, done: str) -> RolloutStatus:
    """Next step (or promotion after the last one)."""
    index = (status.current_step_index or 0) + 1
    status = replace(status, current_step_index=index, step_started_at=tick.now, analysis=None,
                     shadow_started_at=None)
    if index >= len(tick.spec.steps):
        return enter_promotion(tick, status, done)
    next_step = tick.spec.steps[index].describe()
    return keep_running(
        tick,
        status,
        f"{done}; next: step {index + 1}/{len(tick.spec.steps)} ({next_step})",
        RolloutReason.CANARY_PROGRESSING,
    )
