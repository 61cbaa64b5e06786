"""Firing alerts: one the Deployment accepts rolls its canary back at once, anywhere;
they are kept in the status until resolved or expired (``rollout.alerts``)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from mlops_operator.domain.durations import to_rfc3339
from mlops_operator.domain.rollout import (
    Action,
    FiringAlert,
    PromotionStage,
    TrackState,
    Weights,
    pause,
    set_weight,
)
from mlops_operator.domain.rollout.alerts import ALERT_TTL
from mlops_operator.domain.vocabulary import RolloutReason

from tests.unit.domain.rollout_sim import (
    HEALTHY_V1,
    PAUSED,
    PROGRESSING,
    ROLLED_BACK,
    SPEC,
    V1,
    V2,
    Sim,
    at,
    events,
)


@pytest.mark.parametrize("where", ["setWeight", "pause", "analysis", "indefinite", "promotion"])
def test_alert_rolls_back_at_once_anywhere(where: str) -> None:
    sim = Sim()
    sim.tick()
    if where != "setWeight":
        sim.tick()
    if where in ("analysis", "indefinite", "promotion"):
        sim.run_until(lambda d: d.status.current_step_index == 2, dt=10)
    if where in ("indefinite", "promotion"):
        sim.run_until(lambda d: d.status.phase is PAUSED, dt=10, values={"error-rate": 0.0})
    if where == "promotion":
        sim.spec = replace(SPEC, promote=True)
        sim.converge = False
        assert sim.tick().status.promotion is PromotionStage.SCALING_UP
    alert = FiringAlert("MlopsHighErrorRate", "5xx > 10% on iris canary", at(sim.clock + 1))
    d = sim.tick(alerts=(alert,))
    assert d.status.phase is ROLLED_BACK and d.weights == Weights(100, 0)
    assert d.stable_version == V1 and d.canary_replicas == 0
    assert d.status.rollback_reason == (
        "AlertFiring: alert MlopsHighErrorRate is firing: 5xx > 10% on iris canary")
    assert Action.SCALE_DOWN_CANARY in d.actions


def test_alert_while_stable_is_updating_reverts_the_stable_workload() -> None:
    sim = Sim(spec=replace(SPEC, steps=()), converge=False)
    sim.tick()
    sim.canary = TrackState(V2, 4)
    d = sim.tick()
    assert d.status.promotion is PromotionStage.UPDATING_STABLE and d.stable_version == V2
    sim.stable = TrackState(V2, 1)  # half-way through updating the stable pods
    d = sim.tick(alerts=(FiringAlert("MlopsHighLatency"),))
    assert d.status.phase is ROLLED_BACK and d.weights == Weights(100, 0)
    assert d.stable_version == V1 and d.status.stable_version == V1  # back to the old version
    assert d.actions == (Action.SET_WEIGHT, Action.SCALE_DOWN_CANARY)


def test_an_alert_the_deployment_does_not_accept_does_nothing() -> None:
    sim = Sim()
    sim.tick()
    d = sim.tick(alerts=(FiringAlert("SomeoneElsesAlert", "", at(sim.clock + 1)),))
    assert d.status.phase is PROGRESSING and RolloutReason.ROLLED_BACK not in events(d)
    assert d.status.rolled_back_version is None
    quiet = replace(SPEC, alerts=())
    sim = Sim(spec=quiet)
    sim.tick()
    assert sim.tick(alerts=(FiringAlert("MlopsHighErrorRate"),)).status.rolled_back_version is None


def test_alert_older_than_the_canary_is_ignored() -> None:
    sim = Sim()
    sim.tick(dt=100)
    old = FiringAlert("MlopsHighErrorRate", "", at(50))
    assert sim.tick(alerts=(old,)).status.phase is PROGRESSING
    assert sim.tick(alerts=(replace(old, started_at=None),)).status.phase is ROLLED_BACK


def test_a_firing_alert_is_kept_in_the_status_so_a_restart_still_knows_it() -> None:
    spec = replace(SPEC, steps=(set_weight(20), pause(None)))
    sim = Sim(spec=spec)
    sim.run_until(lambda d: d.status.phase is PAUSED)
    early = FiringAlert("MlopsHighLatency", "p99 > 1s", None)
    d = sim.tick(alerts=(early,), resolved_alerts=frozenset())
    assert d.status.phase is ROLLED_BACK
    kept = d.status.alerts
    assert [a.name for a in kept] == ["MlopsHighLatency"] and kept[0].last_seen
    # A restarted operator has no alerts in memory; the status still has it, until it
    # expires (Alertmanager stopped re-sending it) or is resolved.
    assert sim.tick(dt=60).status.alerts == kept
    expired = sim.tick(dt=ALERT_TTL)
    assert expired.status.alerts == ()


def test_an_alert_that_arrived_before_a_restart_still_rolls_back_after_it() -> None:
    sim = Sim(spec=replace(SPEC, steps=(set_weight(20), pause(None))))
    sim.run_until(lambda d: d.status.phase is PAUSED)
    seen = to_rfc3339(at(sim.clock))
    sim.status = replace(sim.status, alerts=(FiringAlert("Boom", "x", None, seen),))
    d = sim.tick()  # nothing in memory: the status remembers
    assert d.status.phase is ROLLED_BACK and "Boom" in d.status.rollback_reason


def test_resolved_and_unaccepted_alerts_are_not_kept() -> None:
    sim = Sim(spec=replace(SPEC, steps=(set_weight(20), pause(None))))
    sim.tick()
    d = sim.tick(alerts=(FiringAlert("NotMine"),))
    assert d.status.alerts == ()
    sim.status = replace(sim.status, alerts=(FiringAlert("Boom", "", None, to_rfc3339(at(0))),))
    d = sim.tick(resolved_alerts=frozenset({"Boom"}))
    assert d.status.alerts == () and d.status.phase is not ROLLED_BACK


def test_the_decision_wakes_when_a_kept_alert_expires() -> None:
    sim = Sim()
    seen = to_rfc3339(at(0))
    sim.status = replace(HEALTHY_V1, alerts=(FiringAlert("Boom", "", None, seen),))
    sim.spec = replace(SPEC, model_version=V1)
    d = sim.tick(dt=100)
    assert d.requeue_after == pytest.approx(ALERT_TTL - 100)
