"""The checks a rollout measures (an analysis step, a shadow step, the bake window):
which are due now, and this tick's measurements recorded in the status and judged.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from mlops_operator.domain.analysis import CheckState, Judgement, combine, due
from mlops_operator.domain.checks import CheckSpec
from mlops_operator.domain.rollout.spec import RolloutSpec, Step, StepKind
from mlops_operator.domain.rollout.status import (
    AnalysisState,
    PromotionStage,
    RolloutPhase,
    RolloutStatus,
)
from mlops_operator.domain.rollout.tick import Tick, current_step, seconds_elapsed


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


def record_analysis(
    tick: Tick, status: RolloutStatus, step: Step
) -> tuple[RolloutStatus, Judgement]:
    """Add this tick's measurements to the step's checks and judge them."""
    index = int(status.current_step_index or 0)
    state = status.analysis if status.analysis and status.analysis.step_index == index else None
    states: list[CheckState] = []
    judgements: list[Judgement] = []
    latest: str | None = None
    for check in step.checks:
        current = state.check(check.name) if state else CheckState(check.name)
        measurement = tick.observations.measurements.get(check.name)
        if measurement is not None:
            updated = current.record(check, measurement)
            if updated is not current:
                latest = max(latest or measurement.at, measurement.at)
            current = updated
        states.append(current)
        judgements.append(current.judge(check))
        last = _measured_or_started(current.last_measured_at, step, status)
        if step.kind is StepKind.SHADOW and last is None:
            continue  # nothing mirrored yet: the shadow step says when to look again
        if not current.judge(check).verdict.terminal:
            wait = check.interval - seconds_elapsed(last, tick.now) if last else 0.0
            tick.wake_in(wait)
    verdict = combine(judgements)
    status = replace(status, analysis=AnalysisState(step_index=index, checks=tuple(states)))
    if latest is not None:
        status = replace(status, last_analysis=_last_analysis(
            status, index, verdict, latest, judgements, states))
    return status, verdict


def _last_analysis(status: RolloutStatus, index: int, verdict: Judgement, at: str,
                   judgements: list[Judgement], states: list[CheckState]) -> dict[str, Any]:
    """``status.lastAnalysis``: the verdict of the newest measurements, check by check."""
    return {
        "version": status.canary_version,
        "stepIndex": index,
        "verdict": verdict.verdict.value,
        "message": verdict.message,
        "at": at,
        "checks": [
            {"name": judgement.check, "verdict": judgement.verdict.value,
             "message": judgement.message, "lastValue": state.tally.last_value,
             **({"detail": state.measurements[-1].detail}
                if state.measurements and state.measurements[-1].detail else {})}
            for judgement, state in zip(judgements, states, strict=True)
        ],
    }


def _measured_or_started(last_measured_at: str | None, step: Step | None,
                         status: RolloutStatus) -> str | None:
    """When a check was last measured; in a shadow step that never measured it, when the
    mirroring began: its first measurement waits one interval, as copies take that long
    to arrive (measured at once, it would only find no data and pause the rollout)."""
    if last_measured_at or step is None or step.kind is not StepKind.SHADOW:
        return last_measured_at
    return status.shadow_started_at
