"""``decide``: which state the rollout is in (rolled back, first deploy, steady,
unapproved target, a canary to start or in flight), and which feature module moves it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from mlops_operator.domain.analysis import Verdict
from mlops_operator.domain.errors import SpecError
from mlops_operator.domain.rollout.alerts import alert_against_canary, merge_alerts
from mlops_operator.domain.rollout.canary import (
    start_canary,
    step_analysis,
    step_pause,
    step_set_weight,
)
from mlops_operator.domain.rollout.decision import Decision, Observations
from mlops_operator.domain.rollout.finish import finish, hold_invalid_spec
from mlops_operator.domain.rollout.holds import hold
from mlops_operator.domain.rollout.measurements import record_analysis
from mlops_operator.domain.rollout.promotion import enter_promotion, run_promotion
from mlops_operator.domain.rollout.rollback import roll_back, stay_rolled_back
from mlops_operator.domain.rollout.shadow import step_shadow
from mlops_operator.domain.rollout.spec import RolloutSpec, StepKind
from mlops_operator.domain.rollout.status import RolloutPhase, RolloutStatus
from mlops_operator.domain.rollout.steady import first_deploy, steady, unapproved
from mlops_operator.domain.rollout.tick import Tick, current_step, position
from mlops_operator.domain.vocabulary import EventType, RolloutReason


def decide(spec: RolloutSpec, status: RolloutStatus, observations: Observations) -> Decision:
    """The next desired state of a Deployment; pure and deterministic."""
    tick = Tick(spec, observations)
    alerts, expiry = merge_alerts(status.alerts, observations.alerts,
                                  observations.resolved_alerts, spec.alerts, tick.now)
    status = replace(status, alerts=alerts)
    if expiry is not None:
        tick.wake_in(expiry)
    target = spec.model_version
    if status.rolled_back_version and target != status.rolled_back_version:
        status = replace(status, rolled_back_version=None, rollback_reason=None)  # moved on
    if status.rolled_back_version:
        status = stay_rolled_back(tick, status)
    elif status.stable_version is None or _first_deploy_pending(status):
        status = first_deploy(tick, status)
    elif target == status.stable_version:
        status = steady(tick, status)
    elif not observations.target_approved:
        status = unapproved(tick, status)
    elif status.canary_version != target:
        status = start_canary(tick, status)
    else:
        status = _canary_in_flight(tick, status)
    return finish(tick, status)


def _first_deploy_pending(status: RolloutStatus) -> bool:
    """A first version was deployed but never became ready: replace it directly."""
    return status.canary_version is None and status.phase is RolloutPhase.PROGRESSING


def _canary_in_flight(tick: Tick, status: RolloutStatus) -> RolloutStatus:
    """The canary of the target is in flight: roll back (abort, alert, failed checks),
    hold (spec.paused), promote, or take the current step."""
    spec = tick.spec
    if status.current_step_index is None:  # a status without a step: start the steps over
        status = replace(status, current_step_index=0, step_started_at=tick.now, analysis=None)
    if status.promotion is None and status.current_step_index >= len(spec.steps):
        status = enter_promotion(tick, status, "all steps done")  # the steps were shortened
    if spec.abort:
        return roll_back(tick, status, RolloutReason.ABORTED, f"{spec.abort_source} is set")
    alert = alert_against_canary(status)
    if alert is not None:
        detail = f": {alert.message}" if alert.message else ""
        return roll_back(tick, status, RolloutReason.ALERT_FIRING,
                         f"alert {alert.name} is firing{detail}")
    step = current_step(spec, status)
    judgement = None
    if step is not None and step.kind in (StepKind.ANALYSIS, StepKind.SHADOW):
        status, judgement = record_analysis(tick, status, step)
        if judgement.verdict is Verdict.FAILED:
            code = (RolloutReason.SHADOW_FAILED if step.kind is StepKind.SHADOW
                    else RolloutReason.ANALYSIS_FAILED)
            return roll_back(tick, status, code, judgement.message)
    if spec.paused:
        return hold(tick, status, f"paused by spec.paused at {position(spec, status)}",
                    RolloutReason.PAUSED_BY_SPEC)
    if spec.promote and status.promotion is None:
        tick.event(EventType.NORMAL, RolloutReason.PROMOTING,
                   f"{spec.promote_source} is set: skipping the remaining steps")
        status = enter_promotion(tick, status, spec.promote_source)
        step = None
    if status.promotion is not None:
        return run_promotion(tick, status)
    assert step is not None
    if step.kind is StepKind.SET_WEIGHT:
        return step_set_weight(tick, status, step)
    if step.kind is StepKind.PAUSE:
        return step_pause(tick, status, step)
    assert judgement is not None
    if step.kind is StepKind.SHADOW:
        return step_shadow(tick, status, step, judgement)
    return step_analysis(tick, status, judgement)


def decide_from_dicts(
    spec: Mapping[str, Any],
    status: Mapping[str, Any] | None,
    observations: Observations,
    *,
    generation: int | None = None,
    annotations: Mapping[str, str] | None = None,
) -> Decision:
    """:func:`decide` on raw dicts; an invalid spec holds everything as it is
    (phase Degraded, condition reason InvalidSpec) instead of raising."""
    current = RolloutStatus.from_dict(status)
    try:
        parsed = RolloutSpec.from_dict(spec, generation=generation, annotations=annotations)
    except SpecError as error:  # the rollout's own, or a check's
        raw = spec.get("replicas") if isinstance(spec, Mapping) else None
        replicas = raw if isinstance(raw, int) and not isinstance(raw, bool) and raw >= 1 else None
        return hold_invalid_spec(current, str(error), observations, replicas=replicas,
                                 generation=generation)
    return decide(parsed, current, observations)
