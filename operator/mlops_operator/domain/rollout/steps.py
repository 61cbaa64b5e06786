"""The canary steps (shadow, setWeight, pause, analysis) and the promotion that follows
them.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from mlops_operator.domain.analysis import (
    CheckState,
    Judgement,
    Verdict,
    combine,
    due,
)
from mlops_operator.domain.checks import CheckSpec
from mlops_operator.domain.durations import (
    as_datetime,
    format_duration,
    to_rfc3339,
)
from mlops_operator.domain.rollout.decision import (
    Action,
    canary_replicas_for,
)
from mlops_operator.domain.rollout.spec import (
    RolloutSpec,
    Step,
    StepKind,
)
from mlops_operator.domain.rollout.status import (
    AnalysisState,
    PromotionStage,
    RolloutPhase,
    RolloutStatus,
)
from mlops_operator.domain.rollout.tick import (
    Tick,
    current_step,
    is_ready,
    position,
    seconds_elapsed,
)
from mlops_operator.domain.rollout.transitions import (
    enter_promotion,
    hold,
    keep_running,
    roll_back,
    wait_for_pods,
)


def advance(tick: Tick, s: RolloutStatus, done: str) -> RolloutStatus:
    """Next step (or promotion after the last one)."""
    index = (s.current_step_index or 0) + 1
    s = replace(s, current_step_index=index, step_started_at=tick.now, analysis=None,
                shadow_started_at=None)
    if index >= len(tick.spec.steps):
        return enter_promotion(tick, s, done)
    next_step = tick.spec.steps[index].describe()
    return keep_running(
        tick,
        s,
        f"{done}; next: step {index + 1}/{len(tick.spec.steps)} ({next_step})",
        "CanaryProgressing",
    )


def step_set_weight(tick: Tick, s: RolloutStatus, step: Step) -> RolloutStatus:
    weight = int(step.weight or 0)
    needed = canary_replicas_for(weight, tick.spec.replicas)
    if not is_ready(tick.obs.canary, s.canary_version, needed):
        return wait_for_pods(
            tick, s, tick.obs.canary, s.canary_version, needed, f"canary pods for {weight}%"
        )
    if weight != s.current_weight:
        tick.act(Action.SET_WEIGHT)
        tick.event("Normal", "WeightSet", f"canary {s.canary_version} gets {weight}% of traffic")
    return advance(tick, replace(s, current_weight=weight), f"canary weight {weight}%")


def step_pause(tick: Tick, s: RolloutStatus, step: Step) -> RolloutStatus:
    if step.duration is None:
        return hold(
            tick, s, f"paused at {position(tick.spec, s)}: set spec.promote to continue", "Paused"
        )
    elapsed = seconds_elapsed(s.step_started_at, tick.now)
    if elapsed >= step.duration:
        return advance(tick, s, f"paused {format_duration(step.duration)}")
    tick.wake_in(step.duration - elapsed)
    until = to_rfc3339(
        as_datetime(s.step_started_at or tick.now) + timedelta(seconds=step.duration)
    )
    return keep_running(
        tick, s, f"pausing {format_duration(step.duration)} until {until}", "CanaryProgressing"
    )


def record_analysis(tick: Tick, s: RolloutStatus, step: Step) -> tuple[RolloutStatus, Judgement]:
    """Add this tick's measurements to the step's checks and judge them."""
    index = int(s.current_step_index or 0)
    state = s.analysis if s.analysis and s.analysis.step_index == index else None
    states: list[CheckState] = []
    judgements: list[Judgement] = []
    latest = None
    for check in step.checks:
        current = state.check(check.name) if state else CheckState(check.name)
        measurement = tick.obs.measurements.get(check.name)
        if measurement is not None:
            updated = current.record(check, measurement)
            if updated is not current:
                latest = max(latest or measurement.at, measurement.at)
            current = updated
        states.append(current)
        judgements.append(current.judge(check))
        last = _measured_or_started(current.last_measured_at, step, s)
        if step.kind is StepKind.SHADOW and last is None:
            continue  # nothing mirrored yet: step_shadow says when to look again
        if not current.judge(check).verdict.terminal:
            wait = check.interval - seconds_elapsed(last, tick.now) if last else 0.0
            tick.wake_in(wait)
    verdict = combine(judgements)
    s = replace(s, analysis=AnalysisState(step_index=index, checks=tuple(states)))
    if latest is not None:
        s = replace(
            s,
            last_analysis={
                "version": s.canary_version,
                "stepIndex": index,
                "verdict": verdict.verdict.value,
                "message": verdict.message,
                "at": latest,
                "checks": [
                    {"name": j.check, "verdict": j.verdict.value, "message": j.message,
                     "lastValue": st.tally.last_value}
                    for j, st in zip(judgements, states, strict=True)
                ],
            },
        )
    return s, verdict


def step_shadow(tick: Tick, s: RolloutStatus, step: Step, judgement: Judgement) -> RolloutStatus:
    """The canary gets copies of ``step.percent`` % of live requests (the stable servers
    mirror them; the canary stays out of the Service users call) for at least
    ``step.duration``, and the step's checks must pass."""
    percent = int(step.percent or 100)
    needed = canary_replicas_for(percent, tick.spec.replicas)
    if not is_ready(tick.obs.canary, s.canary_version, needed):
        return wait_for_pods(tick, s, tick.obs.canary, s.canary_version, needed,
                             f"shadow pods for {percent}% of requests")
    if s.shadow_started_at is None:
        if tick.obs.stable.mirror_to != s.canary_version:
            return _wait_for_mirroring(tick, s, percent)
        tick.event("Normal", "ShadowStarted",
                   f"{s.canary_version} gets copies of {percent}% of live requests; its "
                   f"answers are compared with the stable version's and discarded")
        s = replace(s, shadow_started_at=tick.now, analysis=None)
        tick.wake_in(min((c.interval for c in step.checks), default=0.0))
    left = (step.duration or 0.0) - seconds_elapsed(s.shadow_started_at, tick.now)
    if left > 0 and judgement.verdict is Verdict.SUCCESSFUL:
        tick.wake_in(left)
        return keep_running(tick, s, f"shadowing {percent}% of requests to {s.canary_version}: "
                            f"{judgement.message}; {format_duration(left)} left", "Shadowing")
    if left > 0:
        tick.wake_in(left)
    return step_analysis(tick, s, judgement, passed="ShadowSucceeded")


def _wait_for_mirroring(tick: Tick, s: RolloutStatus, percent: int) -> RolloutStatus:
    """The stable pods restart with the mirror's settings; until all ready ones copy
    requests there is nothing to measure (rolled back after the progress deadline)."""
    what = f"the stable pods to copy {percent}% of requests to {s.canary_version}"
    waited = seconds_elapsed(s.step_started_at, tick.now)
    if waited > tick.spec.progress_deadline:
        return roll_back(tick, s, "ProgressDeadlineExceeded",
                         f"{what}: not after {format_duration(waited)}; progressDeadline is "
                         f"{format_duration(tick.spec.progress_deadline)}")
    return keep_running(tick, s, f"waiting for {what}", "WaitingForPods")


def step_analysis(tick: Tick, s: RolloutStatus, judgement: Judgement,
                  passed: str = "AnalysisSucceeded") -> RolloutStatus:
    where = position(tick.spec, s)
    if not tick.obs.prometheus_reachable:
        detail = f": {tick.obs.prometheus_error}" if tick.obs.prometheus_error else ""
        cause = f"analysis at {where} paused: Prometheus is unreachable"
        return hold(
            tick,
            s,
            f"{cause}{detail} (never promoted without data)",
            "AnalysisInconclusive",
            cause,
        )
    if judgement.verdict is Verdict.SUCCESSFUL:
        tick.event("Normal", passed, f"{where}: {judgement.message}")
        return advance(tick, s, f"analysis passed ({judgement.message})")
    if judgement.verdict is Verdict.INCONCLUSIVE:
        cause = f"analysis at {where} inconclusive"
        return hold(
            tick,
            s,
            f"{cause}: {judgement.message} (keeps measuring; resumes when the checks pass)",
            "AnalysisInconclusive",
            cause,
        )
    return keep_running(tick, s, f"analysing at {where}: {judgement.message}", "Analysing")


def checks_to_measure(
    spec: RolloutSpec, status: RolloutStatus, now: datetime | str
) -> tuple[CheckSpec, ...]:
    """The checks of the current analysis step, or of the bake window, that are due now
    (not yet decided).

    Measure these, then pass the results as ``Observations.measurements``.
    """
    if status.canary_version is None or status.canary_version != spec.model_version:
        return ()
    if spec.promote or status.phase not in (RolloutPhase.PROGRESSING, RolloutPhase.PAUSED):
        return ()
    if status.promotion is PromotionStage.BAKING:
        checks = spec.active_bake.checks if spec.active_bake else ()
        step = None
    else:
        step = current_step(spec, status)
        if step is None or step.kind not in (StepKind.ANALYSIS, StepKind.SHADOW):
            return ()
        if step.kind is StepKind.SHADOW and status.shadow_started_at is None:
            return ()  # nothing is mirrored yet: there is nothing to measure
        checks = step.checks
    index = status.current_step_index
    state = status.analysis if status.analysis and status.analysis.step_index == index else None
    due_checks = []
    for check in checks:
        current = state.check(check.name) if state else CheckState(check.name)
        if current.judge(check).verdict.terminal:
            continue
        if due(check, _measured_or_started(current.last_measured_at, step, status), now):
            due_checks.append(check)
    return tuple(due_checks)


def _measured_or_started(last_measured_at: str | None, step: Step | None,
                         s: RolloutStatus) -> str | None:
    """When a check was last measured; in a shadow step that never measured it, when the
    mirroring began: its first measurement waits one interval, as copies take that long
    to arrive (measured at once, it would only find no data and pause the rollout)."""
    if last_measured_at or step is None or step.kind is not StepKind.SHADOW:
        return last_measured_at
    return s.shadow_started_at
