"""What the handler turns its watch indexes into before it asks ``decide``: the version
a Deployment targets (pinned, or followed: the newest Approved one of its model),
whether that version may go live, and what each track's pods run.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from mlops_operator.domain.pods import PodSummary, diagnose
from mlops_operator.domain.rollout.decision import TrackState
from mlops_operator.domain.versions import latest_approved
from mlops_operator.domain.vocabulary import VersionPhase

#: The values of the ``mlops.dev/track`` label on model server pods (the same as
#: ``mlops_operator.names.TRACKS``, which the domain does not import; a test holds them
#: equal).
TRACKS = ("stable", "canary")


def followed_version(spec: Mapping[str, Any], versions: Iterable[Mapping[str, Any]],
                     stable_version: str | None) -> str | None:
    """The version a Deployment that follows a model (``spec.model``, ``spec.follow:
    latestApproved``) targets: the newest Approved ModelVersion of that model among
    ``versions``, else the stable version it serves, else ``<model>-v1`` (nothing is
    Approved yet: its condition then says "not found").

    None when it does not follow a model: it names ``spec.modelVersion`` (or neither,
    which the spec's validation reports).
    """
    model = spec.get("model")
    if not model or spec.get("modelVersion"):
        return None
    return latest_approved(versions, model) or stable_version or f"{model}-v1"


def target_approval(name: str, version: Mapping[str, Any] | None) -> tuple[bool, str]:
    """Whether the target ModelVersion ``name`` may go live (only Approved ones do), and
    why not: ``version`` is its object, None when it does not exist."""
    if version is None:
        return False, f"ModelVersion {name} not found"
    status = version.get("status") or {}
    if status.get("phase") != VersionPhase.APPROVED:
        why = status.get("message") or ""
        return False, (f"ModelVersion {name} is {status.get('phase') or 'not yet judged'}"
                       + (f": {why}" if why else ""))
    return True, ""


def target_rejected(version: Mapping[str, Any] | None) -> bool:
    """Whether the target was judged and will never go live (Rejected or Invalid), as
    opposed to not existing or not judged yet."""
    phase = ((version or {}).get("status") or {}).get("phase")
    return phase in (VersionPhase.REJECTED, VersionPhase.INVALID)


def track_states(pods: Iterable[PodSummary]) -> dict[str, TrackState]:
    """Per track (:data:`TRACKS`): the version its ready pods run (the majority), how
    many are ready, what its failing pods report, and where its ready pods mirror to
    (when they all agree). Pods being deleted do not count."""
    pods = list(pods)
    counts: dict[str, dict[str, int]] = {track: {} for track in TRACKS}
    for pod in pods:
        if pod.track not in counts or pod.deleting:
            continue
        by_version = counts[pod.track]
        by_version[str(pod.version)] = by_version.get(str(pod.version), 0) + int(pod.ready)
    states = {}
    for track, by_version in counts.items():
        problem = diagnose(pod for pod in pods if pod.track == track)
        if not by_version:
            states[track] = TrackState(problem=problem)
            continue
        version = max(by_version, key=lambda v: by_version[v])
        mirrors = {pod.mirror_to for pod in pods
                   if pod.track == track and pod.ready and not pod.deleting}
        states[track] = TrackState(version=version, ready_replicas=by_version[version],
                                   problem=problem,
                                   mirror_to=mirrors.pop() if len(mirrors) == 1 else None)
    return states
