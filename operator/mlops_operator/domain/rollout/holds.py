"""The holds and waits every stage shares: hold (Paused), keep running (Progressing),
wait for pods (rolled back after the progress deadline), report what the pods say.
"""

from __future__ import annotations

from dataclasses import replace

from mlops_operator.domain.durations import format_duration
from mlops_operator.domain.pods import PodProblem
from mlops_operator.domain.rollout.decision import TrackState
from mlops_operator.domain.rollout.rollback import roll_back
from mlops_operator.domain.rollout.status import RolloutPhase, RolloutStatus
from mlops_operator.domain.rollout.tick import Tick, seconds_elapsed
from mlops_operator.domain.vocabulary import EventType, RolloutReason


def hold(
    tick: Tick, status: RolloutStatus, why: str, reason: str, cause: str | None = None
) -> RolloutStatus:
    """Phase Paused with a reason; the event only when the cause changes.

    ``cause`` is the stable start of ``why`` (counts in the rest change every tick).
    """
    cause = cause or why
    if (status.phase is not RolloutPhase.PAUSED
            or not (status.pause_reason or "").startswith(cause)):
        warning = reason == RolloutReason.ANALYSIS_INCONCLUSIVE
        tick.event(EventType.WARNING if warning else EventType.NORMAL, reason, why)
    tick.reason = reason
    return replace(status, phase=RolloutPhase.PAUSED, pause_reason=why, message=why)


def keep_running(tick: Tick, status: RolloutStatus, message: str, reason: str) -> RolloutStatus:
    """Phase Progressing with ``message``; a Resumed event when it was Paused."""
    if status.phase is RolloutPhase.PAUSED:
        tick.event(EventType.NORMAL, RolloutReason.RESUMED, f"resumed: {message}")
    tick.reason = reason
    return replace(status, phase=RolloutPhase.PROGRESSING, pause_reason=None, message=message)


def wait_for_pods(
    tick: Tick, status: RolloutStatus, track: TrackState, version: str | None, needed: int,
    what: str,
) -> RolloutStatus:
    """Not enough ready pods yet: wait, or roll back after the progress deadline, or at
    once when the pods say waiting cannot help (e.g. the artifact's checksum is wrong)."""
    ready = track.ready_replicas if track.version == version else 0
    waited = seconds_elapsed(status.step_started_at, tick.now)
    counts = f"{ready}/{needed} pods ready"
    problem = track.problem
    if problem is not None and problem.permanent:
        return roll_back(tick, status, problem.reason, f"{what} cannot start: {problem.message}")
    if waited > tick.spec.progress_deadline:
        return roll_back(
            tick,
            status,
            RolloutReason.PROGRESS_DEADLINE_EXCEEDED,
            f"{what} not ready after {format_duration(waited)} ({counts}); "
            f"progressDeadline is {format_duration(tick.spec.progress_deadline)}",
        )
    if problem is None:
        return keep_running(tick, status, f"waiting for {what} ({counts})",
                            RolloutReason.WAITING_FOR_PODS)
    message = f"waiting for {what} ({counts}); {problem.describe()}"
    report_problem(tick, status, problem)
    return keep_running(tick, status, message, problem.reason)


def report_problem(tick: Tick, status: RolloutStatus, problem: PodProblem) -> None:
    """A Warning Event the first time the pods report this problem (not every tick)."""
    if problem.describe() not in (status.message or ""):
        tick.event(EventType.WARNING, problem.reason, problem.describe())
