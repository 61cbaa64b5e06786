"""``decide``: which state the rollout is in, and the step it takes from there.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from mlops_operator.domain.analysis import (
    Verdict,
)
from mlops_operator.domain.checks import AnalysisSpecError
from mlops_operator.domain.durations import (
    format_duration,
    seconds_since,
)
from mlops_operator.domain.rollout.alerts import merge_alerts
from mlops_operator.domain.rollout.decision import (
    Action,
    Decision,
    Observations,
)
from mlops_operator.domain.rollout.output import (
    finish,
)
from mlops_operator.domain.rollout.promotion import run_promotion
from mlops_operator.domain.rollout.spec import (
    RolloutSpec,
    SpecError,
    StepKind,
)
from mlops_operator.domain.rollout.status import (
    FiringAlert,
    PromotionStage,
    RolloutPhase,
    RolloutStatus,
)
from mlops_operator.domain.rollout.steps import (
    record_analysis,
    step_analysis,
    step_pause,
    step_set_weight,
    step_shadow,
)
from mlops_operator.domain.rollout.tick import (
    Tick,
    current_step,
    is_ready,
    position,
    seconds_elapsed,
)
from mlops_operator.domain.rollout.transitions import (
    abandon,
    enter_promotion,
    hold,
    report_problem,
    roll_back,
    stay_rolled_back,
)


def decide(spec: RolloutSpec, status: RolloutStatus, obs: Observations) -> Decision:
    """The next desired state of a Deployment; pure and deterministic."""
    tick = Tick(spec, obs)
    alerts, expiry = merge_alerts(status.alerts, obs.alerts, obs.resolved_alerts, spec.alerts,
                                  tick.now)
    s = replace(status, alerts=alerts)
    if expiry is not None:
        tick.wake_in(expiry)
    target = spec.model_version
    if s.rolled_back_version and target != s.rolled_back_version:
        s = replace(s, rolled_back_version=None, rollback_reason=None)  # the spec moved on
    if s.rolled_back_version:
        s = stay_rolled_back(tick, s)
    elif s.stable_version is None or _first_deploy_pending(s):
        s = _first_deploy(tick, s)
    elif target == s.stable_version:
        s = _steady(tick, s)
    elif not obs.target_approved:
        s = _unapproved(tick, s)
    elif s.canary_version != target:
        s = _start(tick, s)
    else:
        s = _progress(tick, s)
    return finish(tick, s)


def _first_deploy_pending(s: RolloutStatus) -> bool:
    """A first version was deployed but never became ready: replace it directly."""
    return s.canary_version is None and s.phase is RolloutPhase.PROGRESSING


def _first_deploy(tick: Tick, s: RolloutStatus) -> RolloutStatus:
    target = tick.spec.model_version
    if s.stable_version != target:
        if not tick.obs.target_approved:
            return _unapproved(tick, s)
        s = replace(
            s,
            stable_version=target,
            phase=RolloutPhase.PROGRESSING,
            step_started_at=tick.now,
            pause_reason=None,
        )
        tick.act(Action.DEPLOY_STABLE)
        tick.event("Normal", "Deploying", f"deploying {target} as the stable version")
    return _steady(tick, s)


def _steady(tick: Tick, s: RolloutStatus) -> RolloutStatus:
    """Target is the stable version: drop any canary, report readiness."""
    first_deploy = s.canary_version is None and s.phase is RolloutPhase.PROGRESSING
    if s.canary_version is not None:
        s = abandon(tick, s, f"spec.modelVersion is back to the stable version {s.stable_version}")
    stable = tick.obs.stable
    version = s.stable_version
    ready = stable.ready_replicas if stable.version == version else 0
    counts = f"{ready}/{tick.spec.replicas} pods ready"
    hopeless = stable.problem is not None and stable.problem.permanent
    if first_deploy and not hopeless:
        return _deploying(tick, s, counts)
    if is_ready(stable, version, 1):
        if s.phase is not RolloutPhase.HEALTHY:
            tick.event("Normal", "Healthy", f"{version} is serving ({counts})")
        tick.reason = "RolloutComplete"
        return replace(
            s,
            phase=RolloutPhase.HEALTHY,
            pause_reason=None,
            message=f"{version} is serving ({counts})",
        )
    problem = stable.problem
    message = f"no ready pods serve the stable version {version} ({counts})"
    reason = problem.reason if problem else "StableNotReady"
    if problem:
        message += f"; {problem.describe()}"
    if s.phase is not RolloutPhase.DEGRADED or s.message != message:
        tick.event("Warning", reason, message)
    tick.reason = reason
    return replace(s, phase=RolloutPhase.DEGRADED, pause_reason=None, message=message)


def _deploying(tick: Tick, s: RolloutStatus, counts: str) -> RolloutStatus:
    """A first version: Healthy once fully ready, Degraded after the progress deadline;
    meanwhile the message says what the pods report."""
    version = s.stable_version
    if is_ready(tick.obs.stable, version, tick.spec.replicas):
        tick.event("Normal", "Deployed", f"{version} is serving ({counts})")
        tick.reason = "RolloutComplete"
        s = tick.history(s, str(version), "Deployed", "first version")
        return replace(
            s,
            phase=RolloutPhase.HEALTHY,
            step_started_at=None,
            message=(f"{version} is serving ({counts})"),
        )
    waited = seconds_elapsed(s.step_started_at, tick.now)
    if waited > tick.spec.progress_deadline:
        message = (
            f"{version} not ready after {format_duration(waited)} ({counts}); "
            f"progressDeadline is {format_duration(tick.spec.progress_deadline)}"
        )
        tick.event("Warning", "ProgressDeadlineExceeded", message)
        tick.reason = "ProgressDeadlineExceeded"
        return replace(s, phase=RolloutPhase.DEGRADED, step_started_at=None, message=message)
    problem = tick.obs.stable.problem
    if problem is not None:
        report_problem(tick, s, problem)
        tick.reason = problem.reason
        return replace(s, message=f"deploying {version} ({counts}); {problem.describe()}")
    tick.reason = "Deploying"
    return replace(s, message=f"deploying {version} ({counts})")


def _unapproved(tick: Tick, s: RolloutStatus) -> RolloutStatus:
    """Only Approved versions go live: hold the stable version, say why."""
    target = tick.spec.model_version
    if s.canary_version is not None:
        s = abandon(tick, s, f"target {target} is not approved")
    why = tick.obs.target_message or "not Approved"
    message = f"{target} cannot go live: {why}"
    if s.phase is not RolloutPhase.DEGRADED or s.message != message:
        tick.event("Warning", "TargetNotApproved", message)
    tick.reason = "TargetNotApproved"
    return replace(s, phase=RolloutPhase.DEGRADED, pause_reason=None, message=message)


def _start(tick: Tick, s: RolloutStatus) -> RolloutStatus:
    """A new approved target: abandon any other canary and start this one at step 0, or
    with no steps at all when it was stable within strategy.rollbackWindow."""
    target = tick.spec.model_version
    replacing = s.canary_version is not None
    if replacing:
        s = abandon(tick, s, f"spec.modelVersion changed to {target}")
    if tick.spec.abort:
        return roll_back(tick, s, "Aborted", "spec.abort is set; the canary was not started")
    if replacing:  # the canary workload is re-used for the new version, not scaled away
        tick.actions.remove(Action.SCALE_DOWN_CANARY)
    stable = s.stable_version
    if target in s.previous_stable_versions[:tick.spec.rollback_window]:
        ago = s.previous_stable_versions.index(target) + 1
        why = (f"{target} was the stable version {ago} version(s) ago, within "
               f"strategy.rollbackWindow ({tick.spec.rollback_window}): skipping the steps")
        return _launch(tick, s, "FastRollback", skip_steps=True,
                       message=f"{why}; 100% once its pods are ready (stable {stable})",
                       event=f"{why}; replacing {stable}")
    steps = len(tick.spec.steps)
    return _launch(tick, s, "CanaryStarted", skip_steps=not steps,
                   message=f"canary {target} starting (stable {stable})",
                   event=f"canary {target} started against stable {stable} ({steps} steps)")


def _launch(tick: Tick, s: RolloutStatus, reason: str, *, skip_steps: bool, message: str,
            event: str) -> RolloutStatus:
    """The target's canary workload starts: at step 0, or straight into promotion when
    there are no steps or it is a revert within strategy.rollbackWindow (no analysis;
    all traffic once its pods are ready)."""
    target = tick.spec.model_version
    s = replace(
        s,
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
    tick.event("Normal", reason, event)
    tick.reason = reason
    return tick.history(s, target, reason, f"stable was {s.stable_version}")


def _applicable_alert(tick: Tick, s: RolloutStatus) -> FiringAlert | None:
    """The first firing alert this Deployment accepts (spec.strategy.alerts) that started
    after its canary did."""
    for alert in s.alerts:  # accepted ones only, sorted by name
        if alert.started_at is None or s.canary_started_at is None:
            return alert
        if seconds_since(s.canary_started_at, alert.started_at) >= 0:
            return alert
    return None


def _progress(tick: Tick, s: RolloutStatus) -> RolloutStatus:
    """The canary of the target is in flight: one step of the machine."""
    spec = tick.spec
    if s.current_step_index is None:  # a status without a step: start the steps over
        s = replace(s, current_step_index=0, step_started_at=tick.now, analysis=None)
    if s.promotion is None and s.current_step_index >= len(spec.steps):
        s = enter_promotion(tick, s, "all steps done")  # the steps were shortened meanwhile
    if spec.abort:
        return roll_back(tick, s, "Aborted", "spec.abort is set")
    alert = _applicable_alert(tick, s)
    if alert is not None:
        detail = f": {alert.message}" if alert.message else ""
        return roll_back(tick, s, "AlertFiring", f"alert {alert.name} is firing{detail}")
    step = current_step(spec, s)
    judgement = None
    if step is not None and step.kind in (StepKind.ANALYSIS, StepKind.SHADOW):
        s, judgement = record_analysis(tick, s, step)
        if judgement.verdict is Verdict.FAILED:
            code = "ShadowFailed" if step.kind is StepKind.SHADOW else "AnalysisFailed"
            return roll_back(tick, s, code, judgement.message)
    if spec.paused:
        return hold(tick, s, f"paused by spec.paused at {position(spec, s)}", "PausedBySpec")
    if spec.promote and s.promotion is None:
        tick.event("Normal", "Promoting", "spec.promote is set: skipping the remaining steps")
        s = enter_promotion(tick, s, "spec.promote")
        step = None
    if s.promotion is not None:
        return run_promotion(tick, s)
    assert step is not None
    if step.kind is StepKind.SET_WEIGHT:
        return step_set_weight(tick, s, step)
    if step.kind is StepKind.PAUSE:
        return step_pause(tick, s, step)
    assert judgement is not None
    if step.kind is StepKind.SHADOW:
        return step_shadow(tick, s, step, judgement)
    return step_analysis(tick, s, judgement)


def decide_from_dicts(
    spec: Mapping[str, Any],
    status: Mapping[str, Any] | None,
    obs: Observations,
    *,
    generation: int | None = None,
) -> Decision:
    """:func:`decide` on raw dicts; an invalid spec holds everything as it is
    (phase Degraded, condition reason InvalidSpec) instead of raising."""
    current = RolloutStatus.from_dict(status)
    try:
        parsed = RolloutSpec.from_dict(spec, generation=generation)
    except (SpecError, AnalysisSpecError) as error:
        raw = spec.get("replicas") if isinstance(spec, Mapping) else None
        replicas = raw if isinstance(raw, int) and not isinstance(raw, bool) and raw >= 1 else None
        return hold_invalid_spec(current, str(error), obs, replicas=replicas, generation=generation)
    return decide(parsed, current, obs)


def hold_invalid_spec(
    status: RolloutStatus,
    error: str,
    obs: Observations,
    *,
    replicas: int | None = None,
    generation: int | None = None,
) -> Decision:
    """Keep traffic and workloads as the status says; report the spec error.

    The same :func:`finish` as every tick builds the decision, from a spec with no
    steps: ``replicas`` is the spec's count if it was readable, else the number of
    ready stable pods is kept.
    """
    message = f"invalid spec: {error}"
    count = replicas if replicas is not None else max(obs.stable.ready_replicas, 1)
    held = RolloutSpec(
        model_version=status.stable_version or status.canary_version or "",
        replicas=count,
        steps=(),
        generation=generation,
    )
    tick = Tick(held, obs)
    if status.phase is not RolloutPhase.DEGRADED or status.message != message:
        tick.event("Warning", "InvalidSpec", message)
    tick.reason = "InvalidSpec"
    if status.promotion is PromotionStage.UPDATING_STABLE:
        tick.stable_override = status.canary_version
    return finish(tick, replace(status, phase=RolloutPhase.DEGRADED, message=message))
