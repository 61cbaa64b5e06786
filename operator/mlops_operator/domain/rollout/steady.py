"""The stable version alone, no canary in flight: the first deploy, the steady state
(Healthy, or Degraded when no pod serves it), and a target that is not approved.
"""

from __future__ import annotations

from dataclasses import replace

from mlops_operator.domain.durations import format_duration
from mlops_operator.domain.rollout.decision import Action
from mlops_operator.domain.rollout.holds import report_problem
from mlops_operator.domain.rollout.rollback import abandon
from mlops_operator.domain.rollout.status import RolloutPhase, RolloutStatus
from mlops_operator.domain.rollout.tick import Tick, is_ready, seconds_elapsed
from mlops_operator.domain.vocabulary import EventType, HistoryEvent, RolloutReason


def first_deploy(tick: Tick, status: RolloutStatus) -> RolloutStatus:
    """No version serves yet (or the first one never became ready): deploy the target
    as the stable version directly, no canary, once it is approved."""
    target = tick.spec.model_version
    if status.stable_version != target:
        if not tick.observations.target_approved:
            return unapproved(tick, status)
        status = replace(
            status,
            stable_version=target,
            phase=RolloutPhase.PROGRESSING,
            step_started_at=tick.now,
            pause_reason=None,
        )
        tick.act(Action.DEPLOY_STABLE)
        tick.event(EventType.NORMAL, RolloutReason.DEPLOYING,
                   f"deploying {target} as the stable version")
    return steady(tick, status)


def steady(tick: Tick, status: RolloutStatus) -> RolloutStatus:
    """Target is the stable version: drop any canary, report readiness."""
    first = status.canary_version is None and status.phase is RolloutPhase.PROGRESSING
    if status.canary_version is not None:
        status = abandon(tick, status, f"spec.modelVersion is back to the stable version "
                                       f"{status.stable_version}")
    stable = tick.observations.stable
    version = status.stable_version
    ready = stable.ready_replicas if stable.version == version else 0
    counts = f"{ready}/{tick.spec.replicas} pods ready"
    hopeless = stable.problem is not None and stable.problem.permanent
    if first and not hopeless:
        return _deploying(tick, status, counts)
    if is_ready(stable, version, 1):
        if status.phase is not RolloutPhase.HEALTHY:
            tick.event(EventType.NORMAL, RolloutReason.HEALTHY, f"{version} is serving ({counts})")
        tick.reason = RolloutReason.ROLLOUT_COMPLETE
        return replace(
            status,
            phase=RolloutPhase.HEALTHY,
            pause_reason=None,
            message=f"{version} is serving ({counts})",
        )
    return _degraded(tick, status, counts)


def _degraded(tick: Tick, status: RolloutStatus, counts: str) -> RolloutStatus:
    """No ready pod serves the stable version: Degraded, with what its pods report."""
    problem = tick.observations.stable.problem
    message = f"no ready pods serve the stable version {status.stable_version} ({counts})"
    reason = problem.reason if problem else RolloutReason.STABLE_NOT_READY
    if problem:
        message += f"; {problem.describe()}"
    if status.phase is not RolloutPhase.DEGRADED or status.message != message:
        tick.event(EventType.WARNING, reason, message)
    tick.reason = reason
    return replace(status, phase=RolloutPhase.DEGRADED, pause_reason=None, message=message)


def _deploying(tick: Tick, status: RolloutStatus, counts: str) -> RolloutStatus:
    """A first version: Healthy once fully ready, Degraded after the progress deadline;
    meanwhile the message says what the pods report."""
    version = status.stable_version
    if is_ready(tick.observations.stable, version, tick.spec.replicas):
        tick.event(EventType.NORMAL, RolloutReason.DEPLOYED, f"{version} is serving ({counts})")
        tick.reason = RolloutReason.ROLLOUT_COMPLETE
        status = tick.history(status, str(version), HistoryEvent.DEPLOYED, "first version")
        return replace(
            status,
            phase=RolloutPhase.HEALTHY,
            step_started_at=None,
            message=(f"{version} is serving ({counts})"),
        )
    waited = seconds_elapsed(status.step_started_at, tick.now)
    if waited > tick.spec.progress_deadline:
        message = (
            f"{version} not ready after {format_duration(waited)} ({counts}); "
            f"progressDeadline is {format_duration(tick.spec.progress_deadline)}"
        )
        tick.event(EventType.WARNING, RolloutReason.PROGRESS_DEADLINE_EXCEEDED, message)
        tick.reason = RolloutReason.PROGRESS_DEADLINE_EXCEEDED
        return replace(status, phase=RolloutPhase.DEGRADED, step_started_at=None,
                       message=message)
    problem = tick.observations.stable.problem
    if problem is not None:
        report_problem(tick, status, problem)
        tick.reason = problem.reason
        return replace(status, message=f"deploying {version} ({counts}); {problem.describe()}")
    tick.reason = RolloutReason.DEPLOYING
    return replace(status, message=f"deploying {version} ({counts})")


def unapproved(tick: Tick, status: RolloutStatus) -> RolloutStatus:
    """Only Approved versions go live: hold the stable version, say why."""
    target = tick.spec.model_version
    if status.canary_version is not None:
        status = abandon(tick, status, f"target {target} is not approved")
    why = tick.observations.target_message or "not Approved"
    message = f"{target} cannot go live: {why}"
    if status.phase is not RolloutPhase.DEGRADED or status.message != message:
        tick.event(EventType.WARNING, RolloutReason.TARGET_NOT_APPROVED, message)
    tick.reason = RolloutReason.TARGET_NOT_APPROVED
    return replace(status, phase=RolloutPhase.DEGRADED, pause_reason=None, message=message)
