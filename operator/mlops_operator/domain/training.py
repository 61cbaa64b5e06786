"""A TrainingJob's phase from what the batch Job and its pod show.

The handler gathers facts (Job counters and conditions, the latest pod's
state, the parsed termination message, the last log lines) into
:class:`JobFacts`; :func:`training_phase` turns them into a phase plus the
condition reason and message, naming the cause a user can act on.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mlops_operator.domain.conditions import sanitize_reason, truncate
from mlops_operator.domain.results import result_problem
from mlops_operator.domain.vocabulary import TrainingPhase, TrainingReason

LOG_LINES_IN_MESSAGE = 5

#: Container waiting reasons that mean the pod will not start by itself.
STUCK_WAITING_REASONS = frozenset(
    {
        "ErrImagePull",
        "ErrImageNeverPull",
        "ImagePullBackOff",
        "InvalidImageName",
        "CreateContainerConfigError",
        "CreateContainerError",
        "CrashLoopBackOff",
    }
)

#: Metrics shown in printer columns, first present wins.
HEADLINE_METRICS = ("accuracy", "f1", "roc_auc", "r2", "rmse", "mae")


@dataclass(frozen=True)
class JobFacts:
    """What the handler observed about the batch Job and its latest pod."""

    exists: bool
    active: int = 0
    succeeded: int = 0
    failed: int = 0
    backoff_limit: int = 6
    active_deadline_seconds: int | None = None
    complete: bool = False  # Job condition Complete=True
    failed_condition: bool = False  # Job condition Failed=True
    failed_reason: str | None = None  # its reason: DeadlineExceeded, BackoffLimitExceeded, ...
    failed_message: str | None = None
    pod_phase: str | None = None  # latest pod: Pending, Running, Succeeded, Failed
    waiting_reason: str | None = None  # trainer container waiting reason, e.g. ImagePullBackOff
    waiting_message: str | None = None
    termination_message: Mapping[str, Any] | None = None  # parsed JSON, None if absent/invalid
    log_tail: Sequence[str] = field(default_factory=tuple)


@dataclass(frozen=True)
class TrainingOutcome:
    """The phase to record and the condition that explains it."""

    phase: TrainingPhase
    reason: str  # a TrainingReason, or one the trainer or the container reported
    message: str
    result: Mapping[str, Any] | None = None  # the {"ok": true, ...} payload on success
    create_job: bool = False  # the Job does not exist yet: create it

    @property
    def terminal(self) -> bool:
        """Whether the TrainingJob is finished."""
        return self.phase.terminal


def log_excerpt(lines: Sequence[str], count: int = LOG_LINES_IN_MESSAGE) -> str:
    """The last ``count`` non-blank log lines, joined on one line."""
    kept = [line.rstrip() for line in lines if line and line.strip()]
    return " | ".join(kept[-count:])


def _failure_from_message(message: Mapping[str, Any] | None) -> tuple[str, str] | None:
    """(reason, message) from a ``{"ok": false, ...}`` termination message."""
    if not isinstance(message, Mapping) or message.get("ok") is not False:
        return None
    raw_reason = message.get("reason")
    text = str(message.get("message") or "").strip()
    reason = sanitize_reason(raw_reason, TrainingReason.TRAINING_FAILED)
    if raw_reason and reason != raw_reason:
        text = f"{raw_reason}: {text}" if text else str(raw_reason)
    return reason, text or "the trainer reported a failure without a message"


def _with_logs(message: str, facts: JobFacts) -> str:
    excerpt = log_excerpt(facts.log_tail)
    return f"{message}; last log lines: {excerpt}" if excerpt else message


def _done(phase: TrainingPhase, reason: str, message: str, **extra: Any) -> TrainingOutcome:
    return TrainingOutcome(phase=phase, reason=reason, message=truncate(message), **extra)


def training_phase(facts: JobFacts) -> TrainingOutcome:
    """Phase, reason and message for a TrainingJob whose Job shows ``facts``.

    Call it only while the TrainingJob is not terminal: a finished job keeps
    its phase even when its Job is garbage-collected later.
    """
    if not facts.exists:
        return _done(
            TrainingPhase.PENDING, TrainingReason.JOB_NOT_CREATED, "creating the training Job",
            create_job=True,
        )
    reported = _failure_from_message(facts.termination_message)

    if facts.failed_condition and facts.failed_reason == TrainingReason.DEADLINE_EXCEEDED:
        limit = facts.active_deadline_seconds
        text = f"deadline exceeded after {limit} s" if limit else "deadline exceeded"
        if reported:
            text += f" ({reported[0]}: {reported[1]})"
        return _done(TrainingPhase.FAILED, TrainingReason.DEADLINE_EXCEEDED,
                     _with_logs(text, facts))

    if facts.failed_condition or facts.failed > facts.backoff_limit:
        if reported:
            return _done(TrainingPhase.FAILED, reported[0], reported[1])
        attempts = max(facts.failed, 1)
        text = f"training failed after {attempts} attempt{'s' if attempts != 1 else ''}"
        if facts.failed_message:
            text += f": {facts.failed_message}"
        reason = sanitize_reason(facts.failed_reason, TrainingReason.TRAINING_FAILED)
        return _done(TrainingPhase.FAILED, reason, _with_logs(text, facts))

    if facts.complete or facts.succeeded > 0:
        return _succeeded(facts, reported)

    if facts.waiting_reason in STUCK_WAITING_REASONS:
        text = facts.waiting_message or f"training container is waiting: {facts.waiting_reason}"
        return _done(TrainingPhase.PENDING, str(facts.waiting_reason), text)

    retry = _retry_note(facts, reported)
    if facts.active == 0 and facts.pod_phase == "Succeeded":
        # The pod has succeeded but the Job controller has not counted it yet (it tracks it
        # in uncountedTerminatedPods for a moment): still running, not back to Pending.
        return _done(TrainingPhase.RUNNING, TrainingReason.TRAINING_RUNNING,
                     "training pod finished; waiting for the Job to record it" + retry)
    if facts.active > 0 and facts.pod_phase != "Pending" and not facts.waiting_reason:
        return _done(TrainingPhase.RUNNING, TrainingReason.TRAINING_RUNNING,
                     "training pod is running" + retry)
    if facts.failed > 0:
        return _done(TrainingPhase.PENDING, TrainingReason.RETRYING,
                     "waiting for the next attempt" + retry)
    detail = f" ({facts.waiting_reason})" if facts.waiting_reason else ""
    return _done(
        TrainingPhase.PENDING, TrainingReason.POD_PENDING,
        f"waiting for the training pod to start{detail}",
    )


def _retry_note(facts: JobFacts, reported: tuple[str, str] | None) -> str:
    if facts.failed <= 0:
        return ""
    note = f" (attempt {facts.failed + 1} of {facts.backoff_limit + 1}"
    if reported:
        note += f"; previous attempt failed: {reported[0]}: {reported[1]}"
    return note + ")"


def _succeeded(facts: JobFacts, reported: tuple[str, str] | None) -> TrainingOutcome:
    message = facts.termination_message
    if reported:  # exit code 0 but the trainer says it failed: believe the trainer
        return _done(TrainingPhase.FAILED, reported[0], reported[1])
    if not isinstance(message, Mapping) or message.get("ok") is not True:
        text = (
            "the training container exited successfully but wrote no result "
            '(expected a {"ok": true, ...} JSON termination message)'
        )
        return _done(TrainingPhase.FAILED, TrainingReason.NO_RESULT, _with_logs(text, facts))
    problem = result_problem(message)
    if problem:
        return _done(TrainingPhase.FAILED, TrainingReason.INVALID_RESULT,
                     f"the training container's result cannot be recorded: {problem}")
    summary = headline_metric(message.get("metrics"))
    text = "training succeeded" + (f": {summary}" if summary else "")
    return _done(TrainingPhase.SUCCEEDED, TrainingReason.TRAINING_SUCCEEDED, text, result=message)


def headline_metric(metrics: Mapping[str, Any] | None) -> str | None:
    """E.g. "accuracy=0.9667" for printer columns; None if no known metric."""
    for name in HEADLINE_METRICS:
        value = (metrics or {}).get(name)
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            return f"{name}={value:.4g}"
    return None
