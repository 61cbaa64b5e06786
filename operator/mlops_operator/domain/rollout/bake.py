"""The bake window (``strategy.bake``): the new version takes all traffic for a while,
its checks run in rounds, and the previous stable version waits as a warm standby to
take the traffic back at once.
"""

from __future__ import annotations

from dataclasses import replace

from mlops_operator.domain.analysis import Verdict
from mlops_operator.domain.durations import format_duration
from mlops_operator.domain.rollout.holds import keep_running
from mlops_operator.domain.rollout.measurements import record_analysis
from mlops_operator.domain.rollout.rollback import roll_back
from mlops_operator.domain.rollout.spec import Bake, Step, StepKind
from mlops_operator.domain.rollout.status import PromotionStage, RolloutStatus
from mlops_operator.domain.rollout.tick import Tick, seconds_elapsed
from mlops_operator.domain.vocabulary import EventType, HistoryEvent, RolloutReason


def start_bake(tick: Tick, status: RolloutStatus, window: Bake) -> RolloutStatus:
    """The canary has 100 %: the window opens (and its first tick runs)."""
    standby = f"{status.stable_version} stays as a warm standby ({window.standby_replicas} pod(s))"
    tick.event(EventType.NORMAL, RolloutReason.BAKING,
               f"{status.canary_version} takes 100% for a bake window of "
               f"{format_duration(window.duration)}; {standby}")
    status = tick.history(status, str(status.canary_version), HistoryEvent.BAKING, standby)
    status = replace(status, promotion=PromotionStage.BAKING, step_started_at=tick.now,
                     analysis=None)
    return continue_bake(tick, status, window)[0]


def continue_bake(tick: Tick, status: RolloutStatus,
                  window: Bake) -> tuple[RolloutStatus, bool]:
    """One tick of the window, and whether it is over: the checks run in rounds until it
    ends; a failed one goes back to the standby at once (a firing alert does too, as for
    every canary)."""
    status, judgement = record_analysis(tick, status,
                                        Step(StepKind.ANALYSIS, checks=window.checks))
    canary, stable = status.canary_version, status.stable_version
    if judgement.verdict is Verdict.FAILED:
        why = (f"{judgement.message} while baking; {stable} takes all traffic back from its "
               "warm standby")
        return roll_back(tick, status, RolloutReason.BAKE_FAILED, why), False
    if judgement.verdict is Verdict.SUCCESSFUL:
        status = replace(status, analysis=None)  # a round passed: the checks start the next one
    elapsed = seconds_elapsed(status.step_started_at, tick.now)
    if elapsed >= window.duration:
        baked = format_duration(window.duration)
        tick.event(EventType.NORMAL, RolloutReason.BAKE_SUCCEEDED,
                   f"{canary} baked {baked} with no failed check and no alert")
        return tick.history(status, str(canary), HistoryEvent.BAKED, baked), True
    left = window.duration - elapsed
    tick.wake_in(left)
    message = (f"baking {canary} at 100%: {format_duration(left)} left, {stable} on warm "
               f"standby; {judgement.message}")
    return keep_running(tick, status, message, RolloutReason.BAKING), False
