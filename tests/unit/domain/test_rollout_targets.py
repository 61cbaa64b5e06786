"""What the Deployment handler asks before deciding (``rollout.targets``): the version a
followed model targets, whether a target may go live, and each track's state from its
pods."""

from __future__ import annotations

from typing import Any

import pytest
from mlops_operator.domain.pods import PodProblem, PodSummary
from mlops_operator.domain.rollout import (
    TRACKS,
    TrackState,
    followed_version,
    target_approval,
    track_states,
)
from mlops_operator.domain.vocabulary import VersionPhase


def version(name: str, model: str, number: Any, phase: str | None) -> dict[str, Any]:
    return {"metadata": {"name": name}, "spec": {"model": model, "version": number},
            "status": {"phase": phase} if phase else {}}


VERSIONS = [
    version("iris-v1", "iris", 1, VersionPhase.APPROVED),
    version("iris-v3", "iris", 3, VersionPhase.APPROVED),
    version("iris-v4", "iris", 4, VersionPhase.REJECTED),
    version("iris-v5", "iris", 5, None),  # not yet judged
    version("wine-v9", "wine", 9, VersionPhase.APPROVED),
]
FOLLOW = {"follow": "latestApproved"}


@pytest.mark.parametrize(("spec", "versions", "stable", "expected"), [
    # a pinned version (or none at all) is left as written: nothing to resolve
    ({"modelVersion": "iris-v2"}, VERSIONS, None, None),
    ({"model": "iris", **FOLLOW, "modelVersion": "iris-v2"}, VERSIONS, None, None),
    ({}, VERSIONS, "iris-v1", None),
    ({"model": "", **FOLLOW}, VERSIONS, None, None),
    # a followed model: its newest Approved version, never another model's
    ({"model": "iris", **FOLLOW}, VERSIONS, "iris-v1", "iris-v3"),
    ({"model": "wine", **FOLLOW}, VERSIONS, None, "wine-v9"),
    # nothing Approved: keep the stable version, else the first name (its condition says
    # "not found")
    ({"model": "iris", **FOLLOW}, VERSIONS[2:4], "iris-v1", "iris-v1"),
    ({"model": "iris", **FOLLOW}, [], None, "iris-v1"),
    ({"model": "pear", **FOLLOW}, VERSIONS, None, "pear-v1"),
])
def test_followed_version(spec: dict[str, Any], versions: list[dict[str, Any]],
                          stable: str | None, expected: str | None) -> None:
    assert followed_version(spec, versions, stable) == expected


@pytest.mark.parametrize(("target", "expected"), [
    (None, (False, "ModelVersion iris-v2 not found")),
    ({"status": {"phase": "Approved"}}, (True, "")),
    ({"status": {"phase": "Rejected", "message": "accuracy = 0.5 below min 0.9"}},
     (False, "ModelVersion iris-v2 is Rejected: accuracy = 0.5 below min 0.9")),
    ({"status": {"phase": "Verifying"}}, (False, "ModelVersion iris-v2 is Verifying")),
    ({}, (False, "ModelVersion iris-v2 is not yet judged")),
    ({"status": None}, (False, "ModelVersion iris-v2 is not yet judged")),
])
def test_target_approval(target: dict[str, Any] | None, expected: tuple[bool, str]) -> None:
    assert target_approval("iris-v2", target) == expected


def pod(name: str, track: str | None, version: str | None, ready: bool = True,
        **extra: Any) -> PodSummary:
    return PodSummary(name=name, track=track, version=version, ready=ready,
                      deleting=extra.pop("deleting", False), **extra)


CRASHING = {"waiting_reason": "CrashLoopBackOff", "waiting_message": "back-off 10s"}


@pytest.mark.parametrize(("pods", "stable", "canary"), [
    ([], TrackState(), TrackState()),
    # the majority version of the ready pods, and how many of them are ready
    ([pod("a", "stable", "v1"), pod("b", "stable", "v1"), pod("c", "stable", "v2")],
     TrackState("v1", 2), TrackState()),
    # pods that are not ready name the version with none ready; deleted ones do not count
    ([pod("a", "canary", "v2", ready=False),
      pod("b", "canary", "v2", deleting=True), pod("c", "canary", "v3", deleting=True)],
     TrackState(), TrackState("v2", 0)),
    # pods of no track, or of another one, are not ours
    ([pod("a", None, "v1"), pod("b", "preview", "v1"), pod("c", "canary", "v2")],
     TrackState(), TrackState("v2", 1)),
    # what failing pods report, even with no pod counted
    ([pod("a", "canary", "v2", ready=False, **CRASHING)],
     TrackState(),
     TrackState("v2", 0, problem=PodProblem("CrashLoopBackOff", "back-off 10s"))),
    # where the ready pods mirror to, when they all agree
    ([pod("a", "stable", "v1", mirror_to="v2"), pod("b", "stable", "v1", mirror_to="v2"),
      pod("c", "stable", "v1", ready=False)],
     TrackState("v1", 2, mirror_to="v2"), TrackState()),
    ([pod("a", "stable", "v1", mirror_to="v2"), pod("b", "stable", "v1")],
     TrackState("v1", 2), TrackState()),
])
def test_track_states(pods: list[PodSummary], stable: TrackState, canary: TrackState) -> None:
    assert track_states(pods) == {"stable": stable, "canary": canary}


def test_every_track_gets_a_state() -> None:
    assert tuple(track_states(iter([pod("a", "stable", "v1")]))) == TRACKS
