"""The canary state machine under test: a tiny fake cluster that runs ``decide`` tick
by tick, the shared spec and versions, and the invariants every decision must keep.

The fake cluster applies each decision (pods become ready at once unless a test says
otherwise) and the status is serialised to a dict and back on every tick, exactly as it
would be stored in the Deployment's status. The tests are split by feature, as the
package is: ``test_rollout_<feature>.py``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from mlops_operator.domain.analysis import Measurement
from mlops_operator.domain.checks import Builtin, CheckSpec
from mlops_operator.domain.conditions import is_valid_reason
from mlops_operator.domain.pods import PodProblem
from mlops_operator.domain.rollout import (
    MAX_HISTORY,
    Action,
    Decision,
    Observations,
    RolloutPhase,
    RolloutSpec,
    RolloutStatus,
    TrackState,
    Weights,
    analysis,
    canary_replicas_for,
    checks_to_measure,
    decide,
    pause,
    set_weight,
)
from mlops_operator.domain.vocabulary import PodReason

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


#: What failing pods report: waiting cannot help (permanent), or it may.
MISMATCH = PodProblem(PodReason.CHECKSUM_MISMATCH, "model checksum mismatch for pvc://a/m.onnx",
                      permanent=True)
CRASHING = PodProblem("CrashLoopBackOff", "back-off 10s restarting failed container")


#: The ticks of a complete rollout, each its keyword arguments for Sim.tick.
FULL_RUN: list[dict[str, Any]] = (
    [{"dt": 5}] * 3
    + [{"dt": 10}] * 4
    + [{"dt": 10, "values": {"error-rate": None}}] * 2
    + [{"dt": 10, "values": {"error-rate": 0.01}}] * 3
    + [{"dt": 5}] * 3
    + [{"dt": 5, "promote": True}] * 3
)


def full_run(restart_at: int | None = None) -> list[Decision]:
    """A complete rollout with a fixed script; optionally 'restart' at one tick."""
    sim = Sim()
    for index, step in enumerate(FULL_RUN):
        kwargs = dict(step)
        if kwargs.pop("promote", False):
            sim.spec = replace(SPEC, promote=True)
        if index == restart_at:  # a new operator process: only the stored status survives
            stored = json.dumps(sim.status.to_dict())
            sim = Sim(spec=sim.spec, status=RolloutStatus.from_dict(json.loads(stored)),
                      stable=sim.stable, canary=sim.canary, clock=sim.clock, log=sim.log)
        sim.tick(**kwargs)
    return sim.log

