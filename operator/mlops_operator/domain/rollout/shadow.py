"""Shadow steps: the canary gets copies of live requests (the stable servers mirror
them; it answers no user) and its checks judge its answers; first the rollout waits
for the stable pods to mirror.
"""

from __future__ import annotations

from dataclasses import replace

from mlops_operator.domain.analysis import Judgement, Verdict
from mlops_operator.domain.durations import format_duration
from mlops_operator.domain.rollout.canary import step_analysis
from mlops_operator.domain.rollout.decision import canary_replicas_for
from mlops_operator.domain.rollout.holds import keep_running, wait_for_pods
from mlops_operator.domain.rollout.rollback import roll_back
from mlops_operator.domain.rollout.spec import Step
from mlops_operator.domain.rollout.status import RolloutStatus
from mlops_operator.domain.rollout.tick import Tick, is_ready, seconds_elapsed
from mlops_operator.domain.vocabulary import EventType, RolloutReason


def step_shadow(tick: Tick, status: RolloutStatus, step: Step,
                judgement: Judgement) -> RolloutStatus:
    """The canary gets copies of ``step.percent`` % of live requests (the stable servers
    mirror them; the canary stays out of the Service users call) for at least
    ``step.duration``, and the step's checks must pass."""
    percent = int(step.percent or 100)
    needed = canary_replicas_for(percent, tick.spec.replicas)
    canary = tick.observations.canary
    if not is_ready(canary, status.canary_version, needed):
        return wait_for_pods(tick, status, canary, status.canary_version, needed,
                             f"shadow pods for {percent}% of requests")
    if status.shadow_started_at is None:
        if tick.observations.stable.mirror_to != status.canary_version:
            return _wait_for_mirroring(tick, status, percent)
        tick.event(EventType.NORMAL, RolloutReason.SHADOW_STARTED,
                   f"{status.canary_version} gets copies of {percent}% of live requests; its "
                   f"answers are compared with the stable version's and discarded")
        status = replace(status, shadow_started_at=tick.now, analysis=None)
        tick.wake_in(min((c.interval for c in step.checks), default=0.0))
    left = (step.duration or 0.0) - seconds_elapsed(status.shadow_started_at, tick.now)
    if left > 0 and judgement.verdict is Verdict.SUCCESSFUL:
        tick.wake_in(left)
        return keep_running(tick, status,
                            f"shadowing {percent}% of requests to {status.canary_version}: "
                            f"{judgement.message}; {format_duration(left)} left",
                            RolloutReason.SHADOWING)
    if left > 0:
        tick.wake_in(left)
    return step_analysis(tick, status, judgement, passed=RolloutReason.SHADOW_SUCCEEDED)


def _wait_for_mirroring(tick: Tick, status: RolloutStatus, percent: int) -> RolloutStatus:
    """The stable pods restart with the mirror's settings; until all ready ones copy
    requests there is nothing to measure (rolled back after the progress deadline)."""
    what = f"the stable pods to copy {percent}% of requests to {status.canary_version}"
    waited = seconds_elapsed(status.step_started_at, tick.now)
    if waited > tick.spec.progress_deadline:
        return roll_back(tick, status, RolloutReason.PROGRESS_DEADLINE_EXCEEDED,
                         f"{what}: not after {format_duration(waited)}; progressDeadline is "
                         f"{format_duration(tick.spec.progress_deadline)}")
    return keep_running(tick, status, f"waiting for {what}", RolloutReason.WAITING_FOR_PODS)
