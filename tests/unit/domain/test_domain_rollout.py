"""The canary state machine: every transition, restarts and idempotence.

A tiny fake cluster applies each decision (pods become ready at once unless a
test says otherwise) and the status is serialised to a dict and back on every
tick, exactly as it would be stored in the Deployment's status.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from mlops_operator.domain.analysis import Measurement
from mlops_operator.domain.checks import Builtin, CheckSpec
from mlops_operator.domain.conditions import is_valid_reason
from mlops_operator.domain.durations import to_rfc3339
from mlops_operator.domain.pods import PodProblem
from mlops_operator.domain.rollout import (
    DEFAULT_CHECKS,
    MAX_HISTORY,
    Action,
    Bake,
    Decision,
    FiringAlert,
    HistoryEntry,
    Observations,
    PromotionStage,
    RolloutPhase,
    RolloutSpec,
    RolloutStatus,
    SpecError,
    StepKind,
    TrackState,
    Weights,
    analysis,
    canary_replicas_for,
    checks_to_measure,
    decide,
    decide_from_dicts,
    pause,
    set_weight,
)
from mlops_operator.domain.rollout.alerts import ALERT_TTL

T0 = datetime(2024, 1, 1, tzinfo=UTC)
V1, V2, V3 = "iris-v1", "iris-v2", "iris-v3"
ERR = CheckSpec(name="error-rate", threshold=0.05, builtin=Builtin.ERROR_RATE, interval=10,
                count=2, failure_limit=0)
STEPS = (set_weight(20), pause(30), analysis(ERR), set_weight(50), pause(None))
SPEC = RolloutSpec(model_version=V2, replicas=4, steps=STEPS, progress_deadline=120,
                   alerts=("MlopsHighErrorRate", "MlopsHighLatency", "Boom"))
HEALTHY_V1 = RolloutStatus(phase=RolloutPhase.HEALTHY, stable_version=V1)

PROGRESSING, PAUSED, HEALTHY, DEGRADED, ROLLED_BACK = (
    RolloutPhase.PROGRESSING, RolloutPhase.PAUSED, RolloutPhase.HEALTHY, RolloutPhase.DEGRADED,
    RolloutPhase.ROLLED_BACK)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@dataclass
class Sim:
    """Runs decide() tick by tick against a fake cluster."""

    spec: RolloutSpec = SPEC
    status: RolloutStatus = HEALTHY_V1
    stable: TrackState = field(default_factory=lambda: TrackState(V1, 4))
    canary: TrackState = field(default_factory=TrackState)
    clock: float = 0.0
    converge: bool = True  # pods become ready right after each decision
    approved: bool = True
    last: Decision | None = None
    log: list[Decision] = field(default_factory=list)

    def observe(self, values: Mapping[str, Any] | None = None, **extra: Any) -> Observations:
        now = at(self.clock)
        measurements = {}
        for check in checks_to_measure(self.spec, self.status, now):
            if values is None or check.name not in values:
                continue
            value = values[check.name]
            if isinstance(value, str):
                measurements[check.name] = Measurement.failed(value, now)
            else:
                measurements[check.name] = Measurement.of(value, now)
        fields = {"now": now, "target_approved": self.approved, "stable": self.stable,
                  "canary": self.canary, "measurements": measurements, **extra}
        return Observations(**fields)

    def tick(
        self, dt: float = 5, values: Mapping[str, Any] | None = None, **extra: Any
    ) -> Decision:
        self.clock += dt
        obs = self.observe(values, **extra)
        decision = decide(self.spec, self.status, obs)
        assert decide(self.spec, self.status, obs) == decision  # pure
        check_invariants(self.spec, obs, decision)
        self.apply(decision)
        return decision

    def apply(self, decision: Decision) -> None:
        # stored as JSON in the API server and read back on the next tick
        self.status = RolloutStatus.from_dict(json.loads(json.dumps(decision.status.to_dict())))
        assert self.status == decision.status
        if self.converge:
            mirror_to = decision.mirror.version if decision.mirror else None
            self.stable = (TrackState(decision.stable_version, decision.stable_replicas,
                                      mirror_to=mirror_to)
                           if decision.stable_version else TrackState())
            self.canary = (TrackState(decision.canary_version, decision.canary_replicas)
                           if decision.canary_version else TrackState())
        self.last = decision
        self.log.append(decision)

    def run_until(self, predicate: Any, limit: int = 100, **kwargs: Any) -> Decision:
        for _ in range(limit):
            decision = self.tick(**kwargs)
            if predicate(decision):
                return decision
        raise AssertionError(f"not reached; last status {self.status}")


def check_invariants(spec: RolloutSpec, obs: Observations, d: Decision) -> None:
    """What must hold for every decision."""
    assert d.weights.stable + d.weights.canary == 100
    assert 0 <= d.weights.canary <= 100
    if d.canary_version is None:
        assert d.weights.canary == 0 and d.canary_replicas == 0
    if d.weights.canary > 0:  # never route to a canary that has not shown enough ready pods
        assert obs.canary.version == d.canary_version
        assert obs.canary.ready_replicas >= canary_replicas_for(d.weights.canary, spec.replicas)
    if d.weights.stable > 0 and d.stable_version is not None and d.status.phase in (
        PROGRESSING, PAUSED
    ):
        assert d.stable_version == d.status.stable_version
    assert len(d.status.history) <= MAX_HISTORY
    for condition in d.conditions:
        assert is_valid_reason(condition["reason"])
        assert condition["status"] in ("True", "False", "Unknown")
    actions = list(d.actions)
    assert actions == sorted(actions, key=list(Action).index)  # weights first, scale-down last
    if d.status.phase is ROLLED_BACK:
        assert d.weights == Weights(100, 0) and d.canary_replicas == 0


def events(d: Decision) -> list[str]:
    return [e.reason for e in d.events]


def history(status: RolloutStatus) -> list[tuple[str, str]]:
    return [(h.version, h.event) for h in status.history]


def to_analysis(sim: Sim) -> Decision:
    """From a fresh canary of V2 to the analysis step (step 3)."""
    sim.tick()  # start
    sim.tick()  # setWeight 20
    return sim.run_until(lambda d: d.status.current_step_index == 2, dt=10)


# --------------------------------------------------------------------------- first deploy


def test_first_deploy_goes_straight_to_stable() -> None:
    sim = Sim(status=RolloutStatus(), stable=TrackState(), spec=replace(SPEC, model_version=V1))
    sim.converge = False
    d = sim.tick()
    assert d.status.phase is PROGRESSING and d.status.stable_version == V1
    assert d.actions == (Action.DEPLOY_STABLE,) and events(d) == ["Deploying"]
    assert (d.stable_version, d.stable_replicas, d.canary_version) == (V1, 4, None)
    assert d.weights == Weights(100, 0)
    sim.stable = TrackState(V1, 3)  # not all ready: still deploying
    d = sim.tick()
    assert d.status.phase is PROGRESSING and d.actions == () and d.events == ()
    assert d.status.message == "deploying iris-v1 (3/4 pods ready)"
    sim.stable = TrackState(V1, 4)
    d = sim.tick()
    assert d.status.phase is HEALTHY and events(d) == ["Deployed"]
    assert history(d.status) == [(V1, "Deployed")]
    d = sim.tick()
    assert d.status.phase is HEALTHY and d.events == () and d.actions == ()


def test_first_deploy_progress_deadline_degrades() -> None:
    sim = Sim(status=RolloutStatus(), stable=TrackState(), spec=replace(SPEC, model_version=V1),
              converge=False)
    sim.tick()
    d = sim.tick(dt=121)
    assert d.status.phase is DEGRADED and events(d) == ["ProgressDeadlineExceeded"]
    assert dict(d.conditions[1])["reason"] == "ProgressDeadlineExceeded"
    sim.stable = TrackState(V1, 1)
    assert sim.tick().status.phase is HEALTHY


def test_first_deploy_unapproved_deploys_nothing() -> None:
    sim = Sim(status=RolloutStatus(), stable=TrackState(), approved=False,
              spec=replace(SPEC, model_version=V1))
    d = sim.tick(target_message="ModelVersion iris-v1 is Rejected: accuracy = 0.5 below min 0.9")
    assert d.status.phase is DEGRADED and d.status.stable_version is None
    assert (d.stable_version, d.stable_replicas, d.actions) == (None, 0, ())
    assert events(d) == ["TargetNotApproved"]
    assert "accuracy = 0.5 below min 0.9" in d.status.message
    assert d.conditions[0]["reason"] == "NothingDeployed"
    assert d.conditions[1]["reason"] == "TargetNotApproved"
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


# --------------------------------------------------------------------------- steady state


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
    assert d.status.phase is DEGRADED and events(d) == ["StableNotReady"]
    assert d.conditions[0]["status"] == "False"
    assert sim.tick().events == ()
    sim.stable = TrackState(V1, 2)
    d = sim.tick()
    assert d.status.phase is HEALTHY and events(d) == ["Healthy"]


# --------------------------------------------------------------------------- canary steps


def test_new_target_starts_a_canary_at_weight_zero() -> None:
    sim = Sim(converge=False)
    d = sim.tick()
    s = d.status
    assert (s.phase, s.canary_version, s.current_step_index, s.current_weight) == (
        PROGRESSING, V2, 0, 0)
    assert s.stable_version == V1 and s.canary_started_at == s.step_started_at
    assert d.actions == (Action.CREATE_CANARY,) and events(d) == ["CanaryStarted"]
    assert d.weights == Weights(100, 0)
    assert (d.stable_version, d.canary_version, d.canary_replicas) == (V1, V2, 1)
    assert history(s) == [(V2, "CanaryStarted")]


def test_set_weight_waits_for_ready_canary_pods() -> None:
    sim = Sim(converge=False)
    sim.tick()
    d = sim.tick()  # no canary pods yet: weight stays 0, but 1 pod (20% of 4) is wanted
    assert d.weights == Weights(100, 0) and d.canary_replicas == 1
    assert d.status.message == "waiting for canary pods for 20% (0/1 pods ready)"
    sim.canary = TrackState(V1, 1)  # wrong version does not count
    assert sim.tick().weights == Weights(100, 0)
    sim.canary = TrackState(V2, 1)
    d = sim.tick()
    assert d.weights == Weights(80, 20) and d.actions == (Action.SET_WEIGHT,)
    assert events(d) == ["WeightSet"] and d.status.current_step_index == 1


def test_set_weight_scales_canary_before_moving_traffic() -> None:
    spec = replace(SPEC, steps=(set_weight(20), set_weight(75)))
    sim = Sim(spec=spec, converge=False)
    sim.tick()
    sim.canary = TrackState(V2, 1)
    assert sim.tick().weights == Weights(80, 20)
    d = sim.tick()  # 75% needs 3 pods: scale first, keep 20%
    assert d.canary_replicas == 3 and d.weights == Weights(80, 20)
    sim.canary = TrackState(V2, 3)
    assert sim.tick().weights == Weights(25, 75)


def test_canary_progress_deadline_rolls_back() -> None:
    sim = Sim(converge=False)
    sim.tick()
    assert sim.tick(dt=100).status.phase is PROGRESSING
    d = sim.tick(dt=30)
    assert d.status.phase is ROLLED_BACK and d.status.rolled_back_version == V2
    assert d.status.rollback_reason.startswith("ProgressDeadlineExceeded: canary pods for 20%")
    assert Action.SCALE_DOWN_CANARY in d.actions


def test_timed_pause_waits_its_duration() -> None:
    sim = Sim()
    sim.tick()
    d = sim.tick()
    assert d.status.current_step_index == 1 and d.weights == Weights(80, 20)
    d = sim.tick(dt=10)
    assert d.status.phase is PROGRESSING and d.status.current_step_index == 1
    assert d.requeue_after == pytest.approx(20)
    assert "pausing 30s until 2024-01-01T00:00:40Z" in d.status.message
    d = sim.tick(dt=20)
    assert d.status.current_step_index == 2


def test_happy_path_promotes() -> None:
    sim = Sim()
    to_analysis(sim)
    d = sim.run_until(lambda d: d.status.current_step_index == 3, dt=10,
                      values={"error-rate": 0.01})
    assert events(d) == ["AnalysisSucceeded"]
    assert d.status.last_analysis["verdict"] == "Successful"
    d = sim.tick()
    assert d.weights == Weights(50, 50) and d.status.current_step_index == 4
    d = sim.tick()  # indefinite pause
    assert d.status.phase is PAUSED and events(d) == ["Paused"]
    assert "set spec.promote to continue" in d.status.pause_reason
    assert d.conditions[1]["status"] == "Unknown"
    assert sim.tick(dt=3600).status.phase is PAUSED
    sim.spec = replace(SPEC, promote=True)
    d = sim.tick()  # first the canary grows to full size, traffic unchanged
    assert d.status.promotion is PromotionStage.SCALING_UP
    assert d.weights == Weights(50, 50) and d.canary_replicas == 4 and events(d) == ["Promoting"]
    d = sim.tick()
    assert d.status.promotion is PromotionStage.UPDATING_STABLE
    assert d.weights == Weights(0, 100) and d.canary_replicas == 4
    assert d.actions == (Action.SET_WEIGHT, Action.PROMOTE_CANARY_TO_STABLE)
    assert d.stable_version == V2 and d.status.stable_version == V1  # not final yet
    d = sim.tick()
    assert d.status.phase is HEALTHY and d.status.stable_version == V2
    assert d.status.canary_version is None and d.weights == Weights(100, 0)
    assert d.actions == (Action.SET_WEIGHT, Action.SCALE_DOWN_CANARY)
    assert (d.stable_version, d.canary_version, d.canary_replicas) == (V2, None, 0)
    assert events(d) == ["Promoted"]
    assert history(d.status) == [(V2, "CanaryStarted"), (V2, "Promoted")]
    d = sim.tick()
    assert d.status.phase is HEALTHY and d.actions == () and d.events == ()


def test_promotion_waits_for_full_canary_and_stable_readiness() -> None:
    spec = replace(SPEC, steps=())
    sim = Sim(spec=spec, converge=False)
    d = sim.tick()
    assert d.status.promotion is PromotionStage.SCALING_UP and d.canary_replicas == 4
    sim.canary = TrackState(V2, 3)
    d = sim.tick()
    assert d.weights == Weights(100, 0) and "0/4" not in d.status.message
    sim.canary = TrackState(V2, 4)
    d = sim.tick()
    assert d.weights == Weights(0, 100) and d.stable_version == V2
    sim.stable = TrackState(V2, 2)  # stable pods rolling to V2
    d = sim.tick()
    assert d.status.promotion is PromotionStage.UPDATING_STABLE and d.weights == Weights(0, 100)
    assert d.status.message == "waiting for stable pods on iris-v2 (2/4 pods ready)"
    sim.stable = TrackState(V2, 4)
    assert sim.tick().status.phase is HEALTHY


def test_set_weight_100_step_then_promotion() -> None:
    spec = replace(SPEC, steps=(set_weight(100),))
    sim = Sim(spec=spec)
    d = sim.run_until(lambda d: d.status.phase is HEALTHY)
    assert d.status.stable_version == V2
    assert any(Action.PROMOTE_CANARY_TO_STABLE in x.actions for x in sim.log)


# --------------------------------------------------------------------------- analysis


def test_analysis_failure_rolls_back_at_once() -> None:
    sim = Sim()
    to_analysis(sim)
    d = sim.tick(dt=10, values={"error-rate": 0.31})
    s = d.status
    assert s.phase is ROLLED_BACK and s.rolled_back_version == V2
    assert s.rollback_reason == (
        "AnalysisFailed: error-rate = 0.31 above threshold 0.05 (1 failure > failureLimit 0)")
    assert d.weights == Weights(100, 0)  # in this very decision
    assert d.actions == (Action.SET_WEIGHT, Action.SCALE_DOWN_CANARY)
    assert (d.canary_version, d.canary_replicas, d.stable_version) == (None, 0, V1)
    assert events(d) == ["RolledBack"] and d.events[0].type == "Warning"
    assert history(s)[-1] == (V2, "RolledBack")
    assert s.last_analysis["verdict"] == "Failed"
    assert d.conditions[1]["reason"] == "RolledBack"


def test_analysis_running_waits_and_measures_on_interval() -> None:
    sim = Sim()
    d = to_analysis(sim)
    assert [c.name for c in checks_to_measure(SPEC, d.status, at(sim.clock))] == ["error-rate"]
    d = sim.tick(dt=10, values={"error-rate": 0.01})
    assert d.status.phase is PROGRESSING and d.status.current_step_index == 2
    assert d.requeue_after == pytest.approx(10)
    assert checks_to_measure(SPEC, d.status, at(sim.clock + 5)) == ()
    assert len(checks_to_measure(SPEC, d.status, at(sim.clock + 10))) == 1
    assert "error-rate: 1/2 passing" in d.status.message


def test_missing_data_pauses_and_never_promotes_then_resumes() -> None:
    sim = Sim()
    to_analysis(sim)
    d = sim.tick(dt=10, values={"error-rate": None})
    assert d.status.phase is PAUSED and events(d) == ["AnalysisInconclusive"]
    assert "error-rate: no data in 1 measurement > inconclusiveLimit 0" in d.status.pause_reason
    for _ in range(30):  # no data for five minutes: stays paused, keeps measuring
        d = sim.tick(dt=10, values={"error-rate": None})
        assert d.status.phase is PAUSED and d.events == ()
        assert d.weights == Weights(80, 20) and d.status.stable_version == V1
    assert d.status.analysis.check("error-rate").tally.inconclusive == 31
    d = sim.tick(dt=10, values={"error-rate": 0.01})
    assert d.status.phase is PAUSED  # one good value is not enough
    d = sim.tick(dt=10, values={"error-rate": 0.01})
    assert events(d) == ["AnalysisSucceeded", "Resumed"]
    assert d.status.phase is PROGRESSING and d.status.current_step_index == 3


def test_prometheus_unreachable_pauses_and_never_promotes() -> None:
    sim = Sim()
    to_analysis(sim)
    down = {"prometheus_reachable": False, "prometheus_error": "connection refused"}
    d = sim.tick(dt=10, values={"error-rate": "connection refused"}, **down)
    assert d.status.phase is PAUSED
    assert "Prometheus is unreachable: connection refused" in d.status.pause_reason
    for _ in range(20):
        d = sim.tick(dt=10, values={"error-rate": "connection refused"}, **down)
        assert d.status.phase is PAUSED and d.weights == Weights(80, 20)
        assert d.status.current_step_index == 2 and d.events == ()  # no event spam
    assert d.status.last_analysis["checks"][0]["verdict"] == "Error"
    # back: the check needs two passing values, then the rollout resumes
    d = sim.tick(dt=10, values={"error-rate": 0.0})
    assert d.status.phase is PROGRESSING and events(d) == ["Resumed"]
    d = sim.tick(dt=10, values={"error-rate": 0.0})
    assert d.status.current_step_index == 3


def test_prometheus_errors_below_the_limit_keep_running() -> None:
    sim = Sim()
    to_analysis(sim)
    for _ in range(4):
        d = sim.tick(dt=10, values={"error-rate": "timeout"})
        assert d.status.phase is PROGRESSING
    d = sim.tick(dt=10, values={"error-rate": "timeout"})
    assert d.status.phase is PAUSED
    assert "5 consecutive errors > consecutiveErrorLimit 4: timeout" in d.status.pause_reason


def test_replayed_measurement_is_not_counted_twice() -> None:
    sim = Sim()
    d = to_analysis(sim)
    obs = sim.observe()
    now = at(sim.clock + 10)
    m = Measurement.of(0.01, now)
    obs = replace(obs, now=now, measurements={"error-rate": m})
    once = decide(SPEC, d.status, obs)
    twice = decide(SPEC, once.status, replace(obs, now=at(sim.clock + 15)))
    assert twice.status.analysis.check("error-rate").tally.passed == 1


def test_analysis_step_with_two_checks_needs_both() -> None:
    lat = CheckSpec(name="p99", threshold=0.5, builtin=Builtin.LATENCY_P99, interval=10, count=1)
    spec = replace(SPEC, steps=(set_weight(20), analysis(ERR, lat), set_weight(40)))
    sim = Sim(spec=spec)
    sim.tick()
    sim.tick()
    d = sim.tick(dt=10, values={"error-rate": 0.01, "p99": 0.1})
    assert d.status.current_step_index == 1
    d = sim.tick(dt=10, values={"error-rate": 0.01, "p99": 0.9})  # p99 already passed: ignored
    assert d.status.current_step_index == 2
    assert "p99 = 0.1 below threshold 0.5" in d.status.last_analysis["message"]


# --------------------------------------------------------------------------- alerts and abort


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
    assert d.status.phase is PROGRESSING and "RolledBack" not in events(d)
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


def test_abort_rolls_back_and_blocks_new_canaries() -> None:
    sim = Sim()
    sim.tick()
    sim.tick()
    sim.spec = replace(SPEC, abort=True)
    d = sim.tick()
    assert d.status.phase is ROLLED_BACK and d.weights == Weights(100, 0)
    assert d.status.rollback_reason == "Aborted: spec.abort is set"
    sim.spec = replace(SPEC, model_version=V3, abort=True)
    d = sim.tick()
    assert d.status.phase is ROLLED_BACK and d.status.rolled_back_version == V3
    assert Action.CREATE_CANARY not in d.actions and d.canary_version is None


# --------------------------------------------------------------------------- rolled back


def rolled_back_sim() -> Sim:
    sim = Sim()
    to_analysis(sim)
    sim.tick(dt=10, values={"error-rate": 0.9})
    assert sim.status.phase is ROLLED_BACK
    return sim


def test_rolled_back_version_is_not_retried() -> None:
    sim = rolled_back_sim()
    for _ in range(10):
        d = sim.tick(dt=60)
        assert d.status.phase is ROLLED_BACK and d.actions == () and d.events == ()
        assert d.canary_version is None and d.weights == Weights(100, 0)
    sim.spec = replace(SPEC, abort=False, promote=True)  # other fields changing is not enough
    assert sim.tick().status.phase is ROLLED_BACK


def test_spec_back_to_stable_after_rollback_is_healthy() -> None:
    sim = rolled_back_sim()
    sim.spec = replace(SPEC, model_version=V1)
    d = sim.tick()
    assert d.status.phase is HEALTHY and d.status.rolled_back_version is None
    sim.spec = SPEC  # and now V2 may be tried again
    assert sim.tick().actions == (Action.CREATE_CANARY,)


def test_new_version_after_rollback_starts_a_canary() -> None:
    sim = rolled_back_sim()
    sim.spec = replace(SPEC, model_version=V3)
    d = sim.tick()
    assert d.status.canary_version == V3 and d.status.rolled_back_version is None
    assert d.actions == (Action.CREATE_CANARY,)


# --------------------------------------------------------------------------- target changes


def test_target_changed_mid_canary_restarts_with_the_new_version() -> None:
    sim = Sim()
    sim.tick()
    sim.tick()
    assert sim.status.current_weight == 20
    sim.spec = replace(SPEC, model_version=V3)
    d = sim.tick()
    assert d.weights == Weights(100, 0)  # traffic off the abandoned canary now
    assert d.actions == (Action.SET_WEIGHT, Action.CREATE_CANARY)
    assert events(d) == ["CanaryAbandoned", "CanaryStarted"]
    assert (d.status.canary_version, d.status.current_step_index) == (V3, 0)
    assert (d.canary_version, d.canary_replicas) == (V3, 1)
    assert history(d.status)[-2:] == [(V2, "Abandoned"), (V3, "CanaryStarted")]


def test_target_back_to_stable_mid_canary_clears_it() -> None:
    sim = Sim()
    sim.tick()
    sim.tick()
    sim.spec = replace(SPEC, model_version=V1)
    d = sim.tick()
    assert d.status.phase is HEALTHY and d.status.canary_version is None
    assert d.actions == (Action.SET_WEIGHT, Action.SCALE_DOWN_CANARY)
    assert d.weights == Weights(100, 0) and d.canary_replicas == 0


def test_unapproved_target_changes_nothing() -> None:
    sim = Sim(approved=False)
    d = sim.tick(target_message="ModelVersion iris-v2 is Pending")
    assert d.status.phase is DEGRADED and d.status.canary_version is None
    assert d.actions == () and d.weights == Weights(100, 0)
    assert (d.stable_version, d.stable_replicas) == (V1, 4)
    assert d.status.message == "iris-v2 cannot go live: ModelVersion iris-v2 is Pending"
    assert d.conditions[1]["reason"] == "TargetNotApproved"
    assert sim.tick(target_message="ModelVersion iris-v2 is Pending").events == ()
    sim.approved = True
    assert sim.tick().actions == (Action.CREATE_CANARY,)


def test_target_unapproved_mid_canary_abandons_it() -> None:
    sim = Sim()
    sim.tick()
    sim.tick()
    sim.approved = False
    d = sim.tick()
    assert d.status.phase is DEGRADED and d.weights == Weights(100, 0)
    assert d.actions == (Action.SET_WEIGHT, Action.SCALE_DOWN_CANARY)
    assert d.status.rolled_back_version is None


# --------------------------------------------------------------------------- manual controls


def test_paused_holds_the_current_step() -> None:
    sim = Sim(spec=replace(SPEC, paused=True))
    sim.tick()  # start
    for _ in range(5):
        d = sim.tick(dt=60)
        assert d.status.phase is PAUSED and d.weights == Weights(100, 0)
        assert d.status.current_step_index == 0
    assert d.status.pause_reason == "paused by spec.paused at step 1/5 (setWeight 20)"
    sim.spec = SPEC
    d = sim.tick()
    assert d.weights == Weights(80, 20) and events(d) == ["WeightSet", "Resumed"]


def test_paused_still_rolls_back_on_alert() -> None:
    sim = Sim(spec=replace(SPEC, paused=True))
    sim.tick()
    d = sim.tick(alerts=(FiringAlert("Boom"),))
    assert d.status.phase is ROLLED_BACK


def test_promote_skips_remaining_steps_even_mid_analysis() -> None:
    sim = Sim()
    to_analysis(sim)
    sim.tick(dt=10, values={"error-rate": None})
    assert sim.status.phase is PAUSED
    sim.spec = replace(SPEC, promote=True)
    assert checks_to_measure(sim.spec, sim.status, at(sim.clock + 60)) == ()
    d = sim.run_until(lambda d: d.status.phase is HEALTHY)
    assert d.status.stable_version == V2


def test_no_steps_promotes_once_ready() -> None:
    sim = Sim(spec=replace(SPEC, steps=()))
    d = sim.run_until(lambda d: d.status.phase is HEALTHY)
    assert d.status.stable_version == V2 and len(sim.log) == 3


# --------------------------------------------------------------------------- restarts, idempotence


def full_run(restart_at: int | None = None) -> list[Decision]:
    """A complete rollout with a fixed script; optionally 'restart' at one tick."""
    script: list[dict[str, Any]] = (
        [{"dt": 5}] * 3
        + [{"dt": 10}] * 4
        + [{"dt": 10, "values": {"error-rate": None}}] * 2
        + [{"dt": 10, "values": {"error-rate": 0.01}}] * 3
        + [{"dt": 5}] * 3
        + [{"dt": 5, "promote": True}] * 3
    )
    sim = Sim()
    for index, step in enumerate(script):
        kwargs = dict(step)
        if kwargs.pop("promote", False):
            sim.spec = replace(SPEC, promote=True)
        if index == restart_at:  # a new operator process: only the stored status survives
            stored = json.dumps(sim.status.to_dict())
            sim = Sim(spec=sim.spec, status=RolloutStatus.from_dict(json.loads(stored)),
                      stable=sim.stable, canary=sim.canary, clock=sim.clock, log=sim.log)
        sim.tick(**kwargs)
    return sim.log


def test_full_run_reaches_healthy() -> None:
    log = full_run()
    assert log[-1].status.phase is HEALTHY and log[-1].status.stable_version == V2
    phases = [d.status.phase for d in log]
    assert PAUSED in phases and phases.index(PAUSED) < phases.index(HEALTHY)


@pytest.mark.parametrize("restart_at", range(18))
def test_restart_at_any_tick_resumes_exactly(restart_at: int) -> None:
    assert full_run(restart_at) == full_run()


def test_same_inputs_same_decision_at_every_tick() -> None:
    sim = Sim()
    statuses = [sim.status]
    for decision in full_run():
        statuses.append(decision.status)
    obs = Observations(now=at(1000), target_approved=True, stable=TrackState(V1, 4),
                       canary=TrackState(V2, 4), measurements={"error-rate": Measurement.of(
                           0.01, at(1000))})
    for status in statuses:
        first = decide(SPEC, status, obs)
        assert decide(SPEC, status, obs) == first
        assert decide(SPEC, RolloutStatus.from_dict(status.to_dict()), obs) == first


# --------------------------------------------------------------------------- status and spec forms


def test_status_dict_has_every_key_and_round_trips() -> None:
    empty = RolloutStatus().to_dict()
    assert set(empty) == {
        "phase", "stableVersion", "canaryVersion", "currentStepIndex", "currentWeight",
        "stepStartedAt", "canaryStartedAt", "shadowStartedAt", "promotion", "pauseReason",
        "message", "analysis", "lastAnalysis", "rolledBackVersion", "rollbackReason", "history",
        "firingAlerts", "previousStableVersions"}
    assert empty["canaryVersion"] is None  # null clears the field in a merge patch
    for decision in full_run():
        data = json.loads(json.dumps(decision.status.to_dict()))
        assert RolloutStatus.from_dict(data) == decision.status
    assert RolloutStatus.from_dict(None) == RolloutStatus()
    assert RolloutStatus.from_dict({"phase": "Bogus", "extra": 1}) == RolloutStatus()


def test_history_is_bounded() -> None:
    entries = tuple(HistoryEntry(f"iris-v{i}", "Promoted", "2024-01-01T00:00:00Z")
                    for i in range(MAX_HISTORY))
    sim = Sim(status=replace(HEALTHY_V1, history=entries))
    d = sim.tick()
    assert len(d.status.history) == MAX_HISTORY
    assert d.status.history[-1].event == "CanaryStarted"
    assert d.status.history[0].version == "iris-v1"


@pytest.mark.parametrize(
    ("weight", "replicas", "expected"),
    [(0, 4, 1), (1, 4, 1), (20, 4, 1), (25, 4, 1), (26, 4, 2), (50, 4, 2), (100, 4, 4),
     (50, 1, 1), (100, 1, 1), (10, 50, 5)],
)
def test_canary_replicas_for(weight: int, replicas: int, expected: int) -> None:
    assert canary_replicas_for(weight, replicas) == expected


def test_spec_from_dict_full() -> None:
    spec = RolloutSpec.from_dict(
        {
            "modelVersion": V2,
            "replicas": 3,
            "paused": True,
            "strategy": {
                "progressDeadline": "5m",
                "analysis": {"checks": [{"name": "err", "builtin": "errorRate",
                                         "threshold": 0.01}]},
                "steps": [
                    {"setWeight": 10},
                    {"pause": {"duration": "1m"}},
                    {"pause": {}},
                    {"pause": None},
                    {"analysis": {}},
                    {"analysis": {"checks": ["err", "latencyP99",
                                             {"name": "q", "query": "x", "threshold": 1}]}},
                ],
            },
        },
        generation=7,
    )
    assert (spec.model_version, spec.replicas, spec.paused, spec.promote, spec.abort) == (
        V2, 3, True, False, False)
    assert spec.progress_deadline == 300 and spec.generation == 7
    kinds = [s.kind for s in spec.steps]
    assert kinds == [StepKind.SET_WEIGHT, StepKind.PAUSE, StepKind.PAUSE, StepKind.PAUSE,
                     StepKind.ANALYSIS, StepKind.ANALYSIS]
    assert [s.duration for s in spec.steps[1:4]] == [60, None, None]
    assert [c.name for c in spec.steps[4].checks] == ["err"]  # the deployment's default checks
    assert [c.name for c in spec.steps[5].checks] == ["err", "latencyP99", "q"]
    assert spec.steps[5].checks[0].threshold == 0.01


def test_spec_defaults() -> None:
    spec = RolloutSpec.from_dict({"modelVersion": V2})
    assert spec.replicas == 1 and spec.progress_deadline == 600
    assert [s.describe() for s in spec.steps] == [
        "setWeight 20", "analysis errorRate, latencyP99", "setWeight 50",
        "analysis errorRate, latencyP99"]
    assert RolloutSpec.from_dict({"modelVersion": V2, "strategy": {"steps": []}}).steps == ()


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ({}, "spec.modelVersion must name a ModelVersion"),
        ({"modelVersion": ""}, "spec.modelVersion"),
        ({"modelVersion": V2, "replicas": 0}, "spec.replicas"),
        ({"modelVersion": V2, "replicas": "2"}, "spec.replicas"),
        ({"modelVersion": V2, "promote": "yes"}, "spec.promote must be true or false"),
        ({"modelVersion": V2, "strategy": {"stepz": []}}, "unknown field(s) stepz"),
        ({"modelVersion": V2, "strategy": {"steps": {}}}, "steps must be a list"),
        ({"modelVersion": V2, "strategy": {"steps": [{"setWeight": 120}]}}, "0..100"),
        ({"modelVersion": V2, "strategy": {"steps": [{"setWeight": "20"}]}}, "0..100"),
        ({"modelVersion": V2, "strategy": {"steps": [{"setWeight": 20, "pause": {}}]}},
         "exactly one of"),
        ({"modelVersion": V2, "strategy": {"steps": [{"wait": 5}]}}, "unknown step 'wait'"),
        ({"modelVersion": V2, "strategy": {"steps": [{"pause": {"duration": "soon"}}]}},
         "steps[0].pause.duration: invalid duration"),
        ({"modelVersion": V2, "strategy": {"steps": [{"pause": {"for": "1m"}}]}}, "pause must be"),
        ({"modelVersion": V2, "strategy": {"steps": [{"analysis": {"checks": ["nope"]}}]}},
         "unknown check 'nope'"),
        ({"modelVersion": V2, "strategy": {"steps": [{"analysis": {"checks": []}}]}},
         "non-empty list"),
        ({"modelVersion": V2, "strategy": {"steps": [{"analysis": {"checks": [
            "errorRate", "errorRate"]}}]}}, "duplicate check name(s) errorRate"),
        ({"modelVersion": V2, "strategy": {"steps": [{"analysis": {"checks": [
            {"name": "q", "query": "x"}]}}]}}, "steps[0].analysis.checks[0]: check 'q': threshold"),
        ({"modelVersion": V2, "strategy": {"analysis": {"checks": ["errorRate"]}}},
         "non-empty list of checks"),
        ({"modelVersion": V2, "strategy": {"analysis": {"metrics": []}}}, "analysis must be"),
        ({"modelVersion": V2, "strategy": {"progressDeadline": "forever"}}, "progressDeadline"),
        ({"modelVersion": V2, "strategy": {"alerts": "CanaryLatencyHigh"}},
         "spec.strategy.alerts must be a list of alert names"),
        ({"modelVersion": V2, "strategy": {"alerts": [""]}}, "spec.strategy.alerts"),
        ("not a spec", "spec must be an object"),
    ],
)
def test_spec_errors(spec: object, fragment: str) -> None:
    with pytest.raises(SpecError) as caught:
        RolloutSpec.from_dict(spec)  # type: ignore[arg-type]
    assert fragment in str(caught.value)


def test_invalid_spec_holds_traffic_and_says_why() -> None:
    sim = Sim()
    sim.tick()
    sim.tick()
    held = sim.status
    obs = sim.observe()
    bad = {"modelVersion": V2, "replicas": 4, "strategy": {"steps": [{"setWeight": 500}]}}
    d = decide_from_dicts(bad, held.to_dict(), obs, generation=9)
    assert d.status.phase is DEGRADED and events(d) == ["InvalidSpec"]
    assert d.weights == Weights(80, 20) and (d.canary_version, d.canary_replicas) == (V2, 1)
    assert (d.stable_version, d.stable_replicas) == (V1, 4)
    assert d.conditions[1]["reason"] == "InvalidSpec" and d.conditions[1]["observedGeneration"] == 9
    assert d.actions == ()
    again = decide_from_dicts(bad, d.status.to_dict(), obs, generation=9)
    assert again.events == ()
    good = {"modelVersion": V2, "replicas": 4, "strategy": {"steps": [
        {"setWeight": 20}, {"pause": {"duration": "30s"}}]}}
    fixed = decide_from_dicts(good, d.status.to_dict(), obs)
    assert fixed.status.phase is PROGRESSING and fixed.weights == Weights(80, 20)


def test_decide_from_dicts_matches_decide() -> None:
    obs = Observations(now=at(5), target_approved=True, stable=TrackState(V1, 1))
    raw = {"modelVersion": V2, "strategy": {"steps": [{"setWeight": 50}]}}
    expected = decide(RolloutSpec.from_dict(raw), HEALTHY_V1, obs)
    assert decide_from_dicts(raw, HEALTHY_V1.to_dict(), obs) == expected


def test_steps_shortened_mid_rollout_promote_what_passed() -> None:
    sim = Sim()
    to_analysis(sim)
    sim.spec = replace(SPEC, steps=STEPS[:2])
    d = sim.tick()
    assert d.status.promotion is PromotionStage.SCALING_UP and d.canary_replicas == 4


def test_status_without_step_index_starts_the_steps_over() -> None:
    status = RolloutStatus(phase=PROGRESSING, stable_version=V1, canary_version=V2,
                           current_weight=0)
    sim = Sim(status=status, canary=TrackState(V2, 1))
    d = sim.tick()
    assert d.status.current_step_index == 1 and d.weights == Weights(80, 20)


def test_paused_during_promotion_holds_it() -> None:
    sim = Sim(spec=replace(SPEC, steps=(), paused=True))
    sim.tick()
    d = sim.tick()
    assert d.status.phase is PAUSED
    assert d.status.pause_reason == "paused by spec.paused at promotion (ScalingUp)"
    assert d.weights == Weights(100, 0)


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (RolloutStatus(), (None, 0, None, 0, Weights(100, 0))),
        (HEALTHY_V1, (V1, 3, None, 0, Weights(100, 0))),
        (RolloutStatus(phase=PROGRESSING, stable_version=V1, canary_version=V2,
                       current_step_index=2, current_weight=100,
                       promotion=PromotionStage.UPDATING_STABLE),
         (V2, 3, V2, 3, Weights(0, 100))),
        (RolloutStatus(phase=PROGRESSING, stable_version=V1, canary_version=V2,
                       current_step_index=2, current_weight=0,
                       promotion=PromotionStage.SCALING_UP),
         (V1, 3, V2, 3, Weights(100, 0))),
    ],
)
def test_invalid_spec_holds_every_stage(status: RolloutStatus, expected: tuple) -> None:
    obs = Observations(now=at(0), target_approved=True, stable=TrackState(V1, 3))
    d = decide_from_dicts({"modelVersion": V2, "strategy": "fast"}, status.to_dict(), obs)
    assert (d.stable_version, d.stable_replicas, d.canary_version, d.canary_replicas,
            d.weights) == expected
    assert "spec.strategy must be an object" in d.status.message
    assert d.weights.as_dict() == {"stable": expected[4].stable, "canary": expected[4].canary}


def test_invalid_analysis_step_shape() -> None:
    with pytest.raises(SpecError, match=r"steps\[0\].analysis must be"):
        RolloutSpec.from_dict({"modelVersion": V2, "strategy": {"steps": [
            {"analysis": {"check": ["errorRate"]}}]}})


# --------------------------------------------------------------------------- failing pods

MISMATCH = PodProblem("ChecksumMismatch", "model checksum mismatch for pvc://a/m.onnx",
                      permanent=True)
CRASHING = PodProblem("CrashLoopBackOff", "back-off 10s restarting failed container")


def test_a_canary_whose_pods_cannot_start_is_rolled_back_without_waiting() -> None:
    sim = Sim(converge=False)
    sim.tick()
    sim.canary = TrackState(problem=MISMATCH)
    d = sim.tick(dt=2)  # seconds, not the 120 s progress deadline
    assert d.status.phase is ROLLED_BACK and d.status.rolled_back_version == V2
    assert d.status.rollback_reason.startswith("ChecksumMismatch: canary pods for 20% cannot")
    assert "model checksum mismatch" in d.status.rollback_reason
    assert Action.SCALE_DOWN_CANARY in d.actions and d.weights == Weights(100, 0)


def test_a_transient_pod_problem_is_reported_once_and_waits_for_the_deadline() -> None:
    sim = Sim(converge=False)
    sim.tick()
    sim.canary = TrackState(problem=CRASHING)
    d = sim.tick()
    assert d.status.phase is PROGRESSING and events(d) == ["CrashLoopBackOff"]
    assert d.status.message.endswith("; CrashLoopBackOff: back-off 10s restarting failed container")
    assert dict(d.conditions[1])["reason"] == "CrashLoopBackOff"
    assert sim.tick().events == ()  # the same problem again: no new Event
    assert sim.tick(dt=130).status.phase is ROLLED_BACK  # the deadline still applies


def test_a_first_version_that_cannot_start_degrades_with_the_pods_reason() -> None:
    sim = Sim(status=RolloutStatus(), stable=TrackState(), spec=replace(SPEC, model_version=V1),
              converge=False)
    sim.tick()
    sim.stable = TrackState(problem=MISMATCH)
    d = sim.tick()
    assert d.status.phase is DEGRADED and events(d) == ["ChecksumMismatch"]
    ready, progressing = (dict(c) for c in d.conditions)
    assert progressing["reason"] == "ChecksumMismatch"
    assert "model checksum mismatch" in progressing["message"]
    assert "model checksum mismatch" in ready["message"]
    assert sim.tick().events == ()  # said once
    sim.stable = TrackState(V1, 4)  # the artifact was put back: pods start
    assert sim.tick().status.phase is HEALTHY


def test_a_first_version_still_starting_says_what_its_pods_report() -> None:
    sim = Sim(status=RolloutStatus(), stable=TrackState(), spec=replace(SPEC, model_version=V1),
              converge=False)
    sim.tick()
    sim.stable = TrackState(problem=PodProblem("Unschedulable", "0/1 nodes are available"))
    d = sim.tick()
    assert d.status.phase is PROGRESSING and events(d) == ["Unschedulable"]
    assert d.status.message == ("deploying iris-v1 (0/4 pods ready); "
                                "Unschedulable: 0/1 nodes are available")


# --------------------------------------------------------------------------- alerts in status


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


# --------------------------------------------------------------------------- fast rollback
def _promoted_v2(spec: RolloutSpec = SPEC) -> Sim:
    """V1 stable, then V2 promoted through every step: V1 is one version back."""
    sim = Sim(spec=replace(spec, promote=True))
    sim.run_until(lambda d: d.status.phase is HEALTHY and d.status.stable_version == V2)
    assert sim.status.previous_stable_versions == (V1,)
    sim.spec = replace(spec, promote=False)
    return sim


def test_a_revert_within_the_window_skips_the_steps_and_waits_only_for_pods() -> None:
    sim = _promoted_v2()
    sim.spec = replace(SPEC, model_version=V1)
    sim.converge = False
    d = sim.tick()
    assert events(d) == ["FastRollback"] and d.status.promotion is PromotionStage.SCALING_UP
    assert "within strategy.rollbackWindow (2)" in d.status.message
    assert d.weights == Weights(100, 0) and (d.canary_version, d.canary_replicas) == (V1, 4)
    assert d.status.analysis is None
    sim.canary = TrackState(V1, 4)
    d = sim.tick()  # no setWeight, no pause, no analysis: all traffic at once
    assert d.weights == Weights(0, 100) and d.stable_version == V1
    sim.stable = TrackState(V1, 4)
    d = sim.tick()
    assert d.status.phase is HEALTHY and d.status.stable_version == V1
    assert d.status.previous_stable_versions == (V2,)
    assert history(d.status)[-2:] == [(V1, "FastRollback"), (V1, "Promoted")]


def test_a_version_outside_the_window_or_never_stable_runs_the_steps() -> None:
    sim = _promoted_v2(replace(SPEC, rollback_window=0))
    sim.spec = replace(SPEC, model_version=V1, rollback_window=0)
    assert events(sim.tick()) == ["CanaryStarted"]
    sim = _promoted_v2()
    sim.spec = replace(SPEC, model_version=V3)
    d = sim.tick()
    assert events(d) == ["CanaryStarted"] and d.status.promotion is None


def test_the_window_counts_versions_back_from_the_current_stable() -> None:
    status = replace(HEALTHY_V1, stable_version=V3, previous_stable_versions=(V2, V1))
    for window, expected in ((1, "CanaryStarted"), (2, "FastRollback")):
        sim = Sim(spec=replace(SPEC, model_version=V1, rollback_window=window), status=status,
                  stable=TrackState(V3, 4))
        assert events(sim.tick()) == [expected]


def test_promotions_remember_earlier_stable_versions_most_recent_first_without_repeats() -> None:
    sim = _promoted_v2()
    for target in (V3, V1, V2):
        sim.spec = replace(SPEC, model_version=target, promote=True)
        sim.run_until(lambda d, t=target: d.status.phase is HEALTHY
                      and d.status.stable_version == t)
    assert sim.status.previous_stable_versions == (V1, V3)


def test_a_fast_rollback_still_rolls_back_on_abort() -> None:
    sim = _promoted_v2()
    sim.spec = replace(SPEC, model_version=V1)
    sim.converge = False
    assert events(sim.tick()) == ["FastRollback"]
    sim.spec = replace(SPEC, model_version=V1, abort=True)
    d = sim.tick()
    assert d.status.phase is ROLLED_BACK and d.status.stable_version == V2


@pytest.mark.parametrize("raw", [{"versions": -1}, {"versions": 11}, {"versions": "2"},
                                 {"versions": True}, {"revisions": 2}, 3])
def test_invalid_rollback_windows_name_the_field(raw: Any) -> None:
    with pytest.raises(SpecError, match=r"spec\.strategy\.rollbackWindow"):
        RolloutSpec.from_dict({"modelVersion": V1, "strategy": {"rollbackWindow": raw}})


def test_rollback_window_defaults_to_two_and_zero_turns_it_off() -> None:
    assert RolloutSpec.from_dict({"modelVersion": V1}).rollback_window == 2
    spec = RolloutSpec.from_dict({"modelVersion": V1, "strategy": {"rollbackWindow": {}}})
    assert spec.rollback_window == 2
    spec = RolloutSpec.from_dict({"modelVersion": V1,
                                  "strategy": {"rollbackWindow": {"versions": 0}}})
    assert spec.rollback_window == 0


# --------------------------------------------------------------------------- bake window
BAKE = Bake(duration=600, checks=(ERR,), standby_replicas=1)
BAKED = replace(SPEC, steps=(), bake=BAKE)


def _baking(spec: RolloutSpec = BAKED) -> Sim:
    """A canary of V2 with no steps, grown to full size and now baking at 100 %."""
    sim = Sim(spec=spec)
    sim.run_until(lambda d: d.status.promotion is PromotionStage.BAKING)
    return sim


def test_the_new_version_bakes_at_full_traffic_beside_a_warm_standby() -> None:
    sim = _baking()
    d = sim.last
    assert d is not None and "Baking" in events(d)
    assert d.weights == Weights(0, 100) and d.status.phase is PROGRESSING
    assert (d.stable_version, d.stable_replicas) == (V1, 1)  # the standby
    assert (d.canary_version, d.canary_replicas) == (V2, 4)
    assert "10m left" in d.status.message and "iris-v1 on warm standby" in d.status.message
    assert d.conditions[1]["reason"] == "Baking"
    assert checks_to_measure(BAKED, d.status, at(sim.clock)) == (ERR,)


def test_checks_keep_running_in_rounds_until_the_window_ends_then_it_is_promoted() -> None:
    sim = _baking()
    measured = 0
    for _ in range(200):
        due = checks_to_measure(BAKED, sim.status, at(sim.clock + 10))
        measured += len(due)
        d = sim.tick(dt=10, values={"error-rate": 0.01})
        if d.status.promotion is not PromotionStage.BAKING:
            break
    assert measured >= 50  # measured every 10 s all through the 10 minutes, not twice
    assert "BakeSucceeded" in events(d) and sim.clock >= 600
    d = sim.run_until(lambda d: d.status.phase is HEALTHY)
    assert d.status.stable_version == V2 and d.stable_replicas == 4
    assert d.status.previous_stable_versions == (V1,)
    assert [e for _, e in history(d.status)][-3:] == ["Baking", "Baked", "Promoted"]


def test_a_check_failing_inside_the_window_goes_back_to_the_standby_at_once() -> None:
    sim = _baking()
    sim.tick(dt=10, values={"error-rate": 0.01})
    d = sim.run_until(lambda d: d.status.phase is ROLLED_BACK, dt=10,
                      values={"error-rate": 0.5})
    assert d.weights == Weights(100, 0) and d.stable_version == V1
    assert d.stable_replicas == 4 and d.canary_replicas == 0  # the standby scales back up
    assert d.status.rollback_reason.startswith("BakeFailed: ")
    assert "takes all traffic back from its warm standby" in d.status.rollback_reason


def test_an_alert_inside_the_window_goes_back_to_the_standby_at_once() -> None:
    sim = _baking()
    alert = FiringAlert("MlopsHighErrorRate", "5xx", at(sim.clock + 1))
    d = sim.tick(alerts=(alert,))
    assert d.status.phase is ROLLED_BACK and d.weights == Weights(100, 0)
    assert (d.stable_version, d.stable_replicas) == (V1, 4)


def test_a_revert_inside_the_window_moves_traffic_to_the_standby_at_once() -> None:
    sim = _baking()
    sim.spec = replace(BAKED, model_version=V1)
    d = sim.tick()
    assert d.weights == Weights(100, 0) and d.stable_version == V1 and d.canary_replicas == 0


def test_promote_skips_the_bake() -> None:
    sim = _baking()
    sim.spec = replace(BAKED, promote=True)
    d = sim.run_until(lambda d: d.status.phase is HEALTHY)
    assert d.status.stable_version == V2 and "BakeSucceeded" not in events(d)


@pytest.mark.parametrize(("raw", "field"), [
    ({}, r"bake\.duration is required"), ({"duration": "0s"}, r"bake\.duration"),
    ({"duration": "ten"}, r"bake\.duration"), ({"duration": "1m", "standbyReplicas": 0},
                                                  r"bake\.standbyReplicas"),
    ({"duration": "1m", "checks": ["nope"]}, r"bake\.checks\[0\]"),
    ({"duration": "1m", "warm": 1}, r"spec\.strategy\.bake must be"), ("1m", r"bake must be")])
def test_invalid_bakes_name_the_field(raw: Any, field: str) -> None:
    with pytest.raises(SpecError, match=field):
        RolloutSpec.from_dict({"modelVersion": V1, "strategy": {"bake": raw}})


def test_a_bake_uses_the_strategy_checks_unless_it_names_its_own() -> None:
    spec = RolloutSpec.from_dict({"modelVersion": V1, "strategy": {"bake": {"duration": "5m"}}})
    assert spec.bake == Bake(300, DEFAULT_CHECKS, 1)
    spec = RolloutSpec.from_dict({"modelVersion": V1, "strategy": {
        "bake": {"duration": "5m", "checks": ["inputDrift"], "standbyReplicas": 2}}})
    assert spec.bake is not None and [c.name for c in spec.bake.checks] == ["inputDrift"]
    assert spec.bake.standby_replicas == 2


def test_a_followed_model_parses_and_a_half_follow_names_the_field() -> None:
    spec = RolloutSpec.from_dict({"model": "iris", "follow": "latestApproved"})
    assert spec.model_version == ""  # the handler resolves it before deciding
    with pytest.raises(SpecError, match=r"spec\.follow must be latestApproved"):
        RolloutSpec.from_dict({"model": "iris"})
    with pytest.raises(SpecError, match=r"spec\.modelVersion must name a ModelVersion"):
        RolloutSpec.from_dict({"replicas": 2})
