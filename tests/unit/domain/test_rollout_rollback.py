"""Rolled back: traffic to stable in the same decision, the version never retried
until the spec names another (``rollout.rollback``)."""

from __future__ import annotations

from dataclasses import replace

from mlops_operator.domain.rollout import (
    Action,
    Weights,
)

from tests.unit.domain.rollout_sim import (
    HEALTHY,
    ROLLED_BACK,
    SPEC,
    V1,
    V3,
    Sim,
    to_analysis,
)


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
