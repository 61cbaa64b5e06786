"""Why a track's pods are not ready, said at the top: the pod's own reason and message.

A model server that cannot serve exits before binding its port and writes one line to
its termination message ("model checksum mismatch for ...", "cannot load ONNX model
..."). Kubernetes then shows CrashLoopBackOff on the pod, far from where people look.
:func:`diagnose` picks the most telling problem among a track's pods so the rollout can
put it in the Deployment's condition and Event, and says whether waiting can help:
a permanent problem (the artifact is not what was approved, the model cannot load,
the image name is invalid) rolls a canary back without waiting for its deadline.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from mlops_operator.domain.vocabulary import PodReason


@dataclass(frozen=True)
class PodSummary:
    """What the rollout needs to know about one model server pod."""

    name: str
    track: str | None
    version: str | None
    ready: bool
    deleting: bool
    waiting_reason: str | None = None
    waiting_message: str | None = None
    terminated_reason: str | None = None
    terminated_message: str | None = None
    exit_code: int | None = None
    unschedulable_message: str | None = None
    mirror_to: str | None = None  # the shadow version this pod copies live requests to


@dataclass(frozen=True)
class PodProblem:
    """One pod's reason (a condition reason) and message; ``permanent``: waiting won't fix it."""

    reason: str  # a PodReason, or the container's own waiting reason
    message: str
    permanent: bool = False

    def describe(self) -> str:
        """``Reason: message`` for conditions, events and the rollback reason."""
        return f"{self.reason}: {self.message}" if self.message else self.reason


#: Waiting reasons that mean the container will not start as things are.
STUCK_WAITING = frozenset({"CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull",
                           "ErrImageNeverPull", "InvalidImageName",
                           "CreateContainerConfigError", "CreateContainerError",
                           "RunContainerError"})
#: Of those, the ones no retry fixes: a bad name, or an image the node does not have and
#: may not pull (imagePullPolicy Never: it must be loaded, as with `kind load`).
NEVER_STARTS = frozenset({"InvalidImageName", "ErrImageNeverPull"})
#: The model server's exit codes for a model it refuses to load and for bad settings
#: (mlops_runtime.server.main): nothing but a new artifact or spec fixes either.
SERVER_REFUSED_EXIT_CODES = frozenset({1, 2})
#: Load failures that may pass: the storage was not reachable for a moment.
TRANSIENT_LOAD_FAILURES = ("cannot read model artifact",)


def _one_line(text: str | None, limit: int = 400) -> str:
    line = " ".join((text or "").split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _terminated(pod: PodSummary) -> PodProblem | None:
    message = _one_line(pod.terminated_message)
    if pod.terminated_reason == PodReason.OOM_KILLED:
        return PodProblem(PodReason.OOM_KILLED,
                          f"pod {pod.name} ran out of memory; raise its limit")
    if "checksum mismatch" in message:
        return PodProblem(PodReason.CHECKSUM_MISMATCH, message, permanent=True)
    if message and pod.exit_code in SERVER_REFUSED_EXIT_CODES:
        transient = message.startswith(TRANSIENT_LOAD_FAILURES)
        return PodProblem(PodReason.MODEL_LOAD_FAILED, message, permanent=not transient)
    if message:
        return PodProblem(PodReason.CONTAINER_FAILED, message)
    return None


def problem_of(pod: PodSummary) -> PodProblem | None:
    """The problem of one pod that is not ready (None: it is ready, going, or starting)."""
    if pod.ready or pod.deleting:
        return None
    if pod.unschedulable_message:
        return PodProblem(PodReason.UNSCHEDULABLE, _one_line(pod.unschedulable_message))
    found = _terminated(pod)
    if found is not None:
        return found
    if pod.waiting_reason in STUCK_WAITING:
        message = _one_line(pod.waiting_message) or f"pod {pod.name} is {pod.waiting_reason}"
        return PodProblem(pod.waiting_reason, message,
                          permanent=pod.waiting_reason in NEVER_STARTS)
    return None


def diagnose(pods: Iterable[PodSummary]) -> PodProblem | None:
    """The most telling problem among ``pods``: a permanent one first, then any."""
    problems = [p for p in (problem_of(pod) for pod in pods) if p is not None]
    if not problems:
        return None
    return sorted(problems, key=lambda p: (not p.permanent, p.reason, p.message))[0]
