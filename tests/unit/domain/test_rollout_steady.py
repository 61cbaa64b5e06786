"""No canary in flight: the first deploy goes straight to stable, the steady state is
quiet, an unready stable version degrades (``rollout.steady``)."""

from __future__ import annotations

from dataclasses import replace

from mlops_operator.domain.pods import PodProblem
from mlops_operator.domain.rollout import (
    Action,
    RolloutStatus,
    TrackState,
    Weights,
)
from mlops_operator.domain.vocabulary import HistoryEvent, PodReason, RolloutReason

from tests.unit.domain.rollout_sim import (
    DEGRADED,
    HEALTHY,
    MISMATCH,
    PROGRESSING,
    SPEC,
    V1,
    V2,
    Sim,
    events,
    history,
)


def test_first_deploy_goes_straight_to_stable() -> None:
    sim = Sim(status=RolloutStatus(), stable=TrackState(), spec=replace(SPEC, model_version=V1))
    sim.converge = False
    d = sim.tick()
    assert d.status.phase is PROGRESSING and d.status.stable_version == V1
    assert d.actions == (Action.DEPLOY_STABLE,) and events(d) == [RolloutReason.DEPLOYING]
    assert (d.stable_version, d.stable_replicas, d.canary_version) == (V1, 4, None)
    assert d.weights == Weights(100, 0)
    sim.stable = TrackState(V1, 3)  # not all ready: still deploying
    d = sim.tick()
    assert d.status.phase is PROGRESSING and d.actions == () and d.events == ()
    assert d.status.message == "deploying iris-v1 (3/4 pods ready)"
    sim.stable = TrackState(V1, 4)
    d = sim.tick()
    assert d.status.phase is HEALTHY and events(d) == [RolloutReason.DEPLOYED]
    assert history(d.status) == [(V1, HistoryEvent.DEPLOYED)]
    d = sim.tick()
    assert d.status.phase is HEALTHY and d.events == () and d.actions == ()


def test_first_deploy_progress_deadline_degrades() -> None:
    sim = Sim(status=RolloutStatus(), stable=TrackState(), spec=replace(SPEC, model_version=V1),
              converge=False)
    sim.tick()
    d = sim.tick(dt=121)
    assert d.status.phase is DEGRADED and events(d) == [RolloutReason.PROGRESS_DEADLINE_EXCEEDED]
    assert dict(d.conditions[1])["reason"] == RolloutReason.PROGRESS_DEADLINE_EXCEEDED
    sim.stable = TrackState(V1, 1)
    assert sim.tick().status.phase is HEALTHY


def test_first_deploy_unapproved_deploys_nothing() -> None:
    sim = Sim(status=RolloutStatus(), stable=TrackState(), approved=False,
              spec=replace(SPEC, model_version=V1))
    d = sim.tick(target_message="ModelVersion iris-v1 is Rejected: accuracy = 0.5 below min 0.9")
    assert d.status.phase is DEGRADED and d.status.stable_version is None
    assert (d.stable_version, d.stable_replicas, d.actions) == (None, 0, ())
    assert events(d) == [RolloutReason.TARGET_NOT_APPROVED]
    assert "accuracy = 0.5 below min 0.9" in d.status.message
    assert d.conditions[0]["reason"] == RolloutReason.NOTHING_DEPLOYED
    assert d.conditions[1]["reason"] == RolloutReason.TARGET_NOT_APPROVED
    assert sim.tick(target_message=d.status.message.split(": ", 1)[1]).events == ()
    sim.approved = True
    assert sim.tick().actions == (Action.DEPLOY_STABLE,)


def test_first_deploy_replaced_directly_when_target_changes_before_ready() -> None:
    sim = Sim(status=RolloutStatus(), stable=TrackState(), spec=replace(SPEC, model_version=V1),
              converge=False)
    sim.tick()
    sim.spec = replace(SPEC, model_version=V2)
    d = sim.tick()
    assert d.actions == (Action.DEPLOY_STABLE,) and d.canary_version is None
    assert d.status.stable_version == V2 and d.stable_version == V2


def test_a_first_version_that_cannot_start_degrades_with_the_pods_reason() -> None:
    sim = Sim(status=RolloutStatus(), stable=TrackState(), spec=replace(SPEC, model_version=V1),
              converge=False)
    sim.tick()
    sim.stable = TrackState(problem=MISMATCH)
    d = sim.tick()
    assert d.status.phase is DEGRADED and events(d) == [PodReason.CHECKSUM_MISMATCH]
    available, progressing, ready, reconciling, stalled = (dict(c) for c in d.conditions)
    assert progressing["reason"] == PodReason.CHECKSUM_MISMATCH
    assert "model checksum mismatch" in progressing["message"]
    assert "model checksum mismatch" in available["message"]
    assert (ready["status"], reconciling["status"], stalled["status"]) == ("False", "False",
                                                                           "True")
    assert stalled["reason"] == PodReason.CHECKSUM_MISMATCH
    assert sim.tick().events == ()  # said once
    sim.stable = TrackState(V1, 4)  # the artifact was put back: pods start
    assert sim.tick().status.phase is HEALTHY


def test_a_first_version_still_starting_says_what_its_pods_report() -> None:
    sim = Sim(status=RolloutStatus(), stable=TrackState(), spec=replace(SPEC, model_version=V1),
              converge=False)
    sim.tick()
    sim.stable = TrackState(problem=PodProblem(PodReason.UNSCHEDULABLE, "0/1 nodes are available"))
    d = sim.tick()
    assert d.status.phase is PROGRESSING and events(d) == [PodReason.UNSCHEDULABLE]
    assert d.status.message == ("deploying iris-v1 (0/4 pods ready); "
                                "Unschedulable: 0/1 nodes are available")


def test_steady_state_is_quiet() -> None:
    sim = Sim(spec=replace(SPEC, model_version=V1))
    first = sim.tick()
    assert first.status.phase is HEALTHY and first.events == () and first.actions == ()
    assert sim.tick().status == first.status
    assert first.conditions[0]["status"] == "True" and first.conditions[1]["status"] == "False"


def test_stable_pods_lost_degrades_and_recovers() -> None:
    sim = Sim(spec=replace(SPEC, model_version=V1), converge=False)
    sim.stable = TrackState(V1, 0)
    d = sim.tick()
    assert d.status.phase is DEGRADED and events(d) == [RolloutReason.STABLE_NOT_READY]
    assert d.conditions[0]["status"] == "False"
    assert sim.tick().events == ()
    sim.stable = TrackState(V1, 2)
    d = sim.tick()
    assert d.status.phase is HEALTHY and events(d) == [RolloutReason.HEALTHY]
