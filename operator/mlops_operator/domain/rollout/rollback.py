"""Ending a canary that will not be promoted: roll it back (traffic to stable, the
version not retried), stay rolled back, or abandon it (the spec moved on).
"""

from __future__ import annotations

from dataclasses import replace

from mlops_operator.domain.rollout.decision import Action
from mlops_operator.domain.rollout.status import RolloutPhase, RolloutStatus
from mlops_operator.domain.rollout.tick import Tick
from mlops_operator.domain.vocabulary import EventType, HistoryEvent, RolloutReason


def roll_back(tick: Tick, status: RolloutStatus, code: str, why: str) -> RolloutStatus:
    """Traffic to stable now, canary scaled away; the version is not retried."""
    version = status.canary_version or tick.spec.model_version
    reason = f"{code}: {why}"
    if status.canary_version is not None:
        if status.current_weight > 0:
            tick.act(Action.SET_WEIGHT)
        tick.act(Action.SCALE_DOWN_CANARY)
    tick.event(
        EventType.WARNING, RolloutReason.ROLLED_BACK,
        f"rolled back {version}, serving {status.stable_version}: {reason}",
    )
    tick.reason = RolloutReason.ROLLED_BACK
    status = tick.history(reset_canary(status), version, HistoryEvent.ROLLED_BACK, reason)
    status = replace(
        status,
        phase=RolloutPhase.ROLLED_BACK,
        rolled_back_version=version,
        rollback_reason=reason,
    )
    return stay_rolled_back(tick, status)


def stay_rolled_back(tick: Tick, status: RolloutStatus) -> RolloutStatus:
    """Target is the rolled-back version: keep serving stable, change nothing."""
    tick.reason = RolloutReason.ROLLED_BACK
    message = (
        f"{status.rolled_back_version} was rolled back ({status.rollback_reason}); serving "
        f"{status.stable_version}; set spec.modelVersion to another version to continue"
    )
    return replace(status, phase=RolloutPhase.ROLLED_BACK, message=message)


def abandon(tick: Tick, status: RolloutStatus, why: str) -> RolloutStatus:
    """Drop the canary in flight (not a rollback: the spec moved on)."""
    version = str(status.canary_version)
    if status.current_weight > 0:
        tick.act(Action.SET_WEIGHT)
    tick.act(Action.SCALE_DOWN_CANARY)
    tick.event(EventType.NORMAL, RolloutReason.CANARY_ABANDONED,
               f"canary {version} abandoned: {why}")
    status = tick.history(status, version, HistoryEvent.ABANDONED, why)
    return reset_canary(status)


def reset_canary(status: RolloutStatus) -> RolloutStatus:
    """``status`` with no canary: no version, step, weight, promotion or analysis."""
    return replace(
        status,
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
