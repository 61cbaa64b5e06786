"""The moves several states share: hold (Paused), keep running, wait for pods,
enter promotion, abandon a canary, roll it back.
"""

from __future__ import annotations

from dataclasses import replace

from mlops_operator.domain.durations import (
    format_duration,
)
from mlops_operator.domain.pods import PodProblem
from mlops_operator.domain.rollout.decision import (
    Action,
    TrackState,
)
from mlops_operator.domain.rollout.status import (
    PromotionStage,
    RolloutPhase,
    RolloutStatus,
)
from mlops_operator.domain.rollout.tick import (
    Tick,
    seconds_elapsed,
)


def reset_canary(s: RolloutStatus) -> RolloutStatus:
    return replace(
        s,
        canary_version=None,
        current_step_index=None,
        current_weight=0,
        step_started_at=None,
        canary_started_at=None,
        shadow_started_at=None,
        promotion=None,
        pause_reason=None,
        analysis=None,
    )


def abandon(tick: Tick, s: RolloutStatus, why: str) -> RolloutStatus:
    """Drop the canary in flight (not a rollback: the spec moved on)."""
    version = str(s.canary_version)
    if s.current_weight > 0:
        tick.act(Action.SET_WEIGHT)
    tick.act(Action.SCALE_DOWN_CANARY)
    tick.event("Normal", "CanaryAbandoned", f"canary {version} abandoned: {why}")
    s = tick.history(s, version, "Abandoned", why)
    return reset_canary(s)


def roll_back(tick: Tick, s: RolloutStatus, code: str, why: str) -> RolloutStatus:
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
    s = tick.history(reset_canary(s), version, "RolledBack", reason)
    s = replace(
        s,
        phase=RolloutPhase.ROLLED_BACK,
        rolled_back_version=version,
        rollback_reason=reason,
    )
    return stay_rolled_back(tick, s)


def stay_rolled_back(tick: Tick, s: RolloutStatus) -> RolloutStatus:
    """Target is the rolled-back version: keep serving stable, change nothing."""
    tick.reason = "RolledBack"
    message = (
        f"{s.rolled_back_version} was rolled back ({s.rollback_reason}); serving "
        f"{s.stable_version}; set spec.modelVersion to another version to continue"
    )
    return replace(s, phase=RolloutPhase.ROLLED_BACK, message=message)


def hold(
    tick: Tick, s: RolloutStatus, why: str, reason: str, cause: str | None = None
) -> RolloutStatus:
    """Phase Paused with a reason; the event only when the cause changes.

    ``cause`` is the stable start of ``why`` (counts in the rest change every tick).
    """
    cause = cause or why
    if s.phase is not RolloutPhase.PAUSED or not (s.pause_reason or "").startswith(cause):
        tick.event("Warning" if reason == "AnalysisInconclusive" else "Normal", reason, why)
    tick.reason = reason
    return replace(s, phase=RolloutPhase.PAUSED, pause_reason=why, message=why)


def keep_running(tick: Tick, s: RolloutStatus, message: str, reason: str) -> RolloutStatus:
    if s.phase is RolloutPhase.PAUSED:
        tick.event("Normal", "Resumed", f"resumed: {message}")
    tick.reason = reason
    return replace(s, phase=RolloutPhase.PROGRESSING, pause_reason=None, message=message)


def wait_for_pods(
    tick: Tick, s: RolloutStatus, track: TrackState, version: str | None, needed: int, what: str
) -> RolloutStatus:
    """Not enough ready pods yet: wait, or roll back after the progress deadline, or at
    once when the pods say waiting cannot help (e.g. the artifact's checksum is wrong)."""
    ready = track.ready_replicas if track.version == version else 0
    waited = seconds_elapsed(s.step_started_at, tick.now)
    counts = f"{ready}/{needed} pods ready"
    problem = track.problem
    if problem is not None and problem.permanent:
        return roll_back(tick, s, problem.reason, f"{what} cannot start: {problem.message}")
    if waited > tick.spec.progress_deadline:
        return roll_back(
            tick,
            s,
            "ProgressDeadlineExceeded",
            f"{what} not ready after {format_duration(waited)} ({counts}); "
            f"progressDeadline is {format_duration(tick.spec.progress_deadline)}",
        )
    if problem is None:
        return keep_running(tick, s, f"waiting for {what} ({counts})", "WaitingForPods")
    message = f"waiting for {what} ({counts}); {problem.describe()}"
    report_problem(tick, s, problem)
    return keep_running(tick, s, message, problem.reason)


def report_problem(tick: Tick, s: RolloutStatus, problem: PodProblem) -> None:
    """A Warning Event the first time the pods report this problem (not every tick)."""
    if problem.describe() not in (s.message or ""):
        tick.event("Warning", problem.reason, problem.describe())


def enter_promotion(tick: Tick, s: RolloutStatus, why: str) -> RolloutStatus:
    message = f"{why}; promoting {s.canary_version}"
    return replace(
        s,
        current_step_index=len(tick.spec.steps),
        step_started_at=tick.now,
        shadow_started_at=None,
        promotion=PromotionStage.SCALING_UP,
        analysis=None,
        pause_reason=None,
        phase=RolloutPhase.PROGRESSING,
        message=message,
    )
