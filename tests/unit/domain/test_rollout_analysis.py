"""Analysis steps: checks measured on their interval, judged, a failure rolled back at
once, no data or no Prometheus never promoted (``rollout.measurements``,
``rollout.canary``)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from mlops_operator.domain.analysis import Measurement
from mlops_operator.domain.checks import Builtin, CheckSpec
from mlops_operator.domain.rollout import (
    Action,
    Weights,
    analysis,
    checks_to_measure,
    decide,
    set_weight,
)
from mlops_operator.domain.vocabulary import EventType, HistoryEvent, RolloutReason

from tests.unit.domain.rollout_sim import (
    ERR,
    PAUSED,
    PROGRESSING,
    ROLLED_BACK,
    SPEC,
    V1,
    V2,
    Sim,
    at,
    events,
    history,
    to_analysis,
)


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
    assert events(d) == [RolloutReason.ROLLED_BACK] and d.events[0].type == EventType.WARNING
    assert history(s)[-1] == (V2, HistoryEvent.ROLLED_BACK)
    assert s.last_analysis["verdict"] == "Failed"
    assert d.conditions[1]["reason"] == RolloutReason.ROLLED_BACK


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
    assert d.status.phase is PAUSED and events(d) == [RolloutReason.ANALYSIS_INCONCLUSIVE]
    assert "error-rate: no data in 1 measurement > inconclusiveLimit 0" in d.status.pause_reason
    for _ in range(30):  # no data for five minutes: stays paused, keeps measuring
        d = sim.tick(dt=10, values={"error-rate": None})
        assert d.status.phase is PAUSED and d.events == ()
        assert d.weights == Weights(80, 20) and d.status.stable_version == V1
    assert d.status.analysis.check("error-rate").tally.inconclusive == 31
    d = sim.tick(dt=10, values={"error-rate": 0.01})
    assert d.status.phase is PAUSED  # one good value is not enough
    d = sim.tick(dt=10, values={"error-rate": 0.01})
    assert events(d) == [RolloutReason.ANALYSIS_SUCCEEDED, RolloutReason.RESUMED]
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
    assert d.status.phase is PROGRESSING and events(d) == [RolloutReason.RESUMED]
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
