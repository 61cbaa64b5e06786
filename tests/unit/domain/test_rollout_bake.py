"""The bake window: the new version at 100 % beside a warm standby, its checks in
rounds, back to the standby at once on a failure, an alert or a revert
(``rollout.bake``)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from mlops_operator.domain.rollout import (
    DEFAULT_CHECKS,
    Bake,
    FiringAlert,
    PromotionStage,
    RolloutSpec,
    RolloutSpecError,
    Weights,
    checks_to_measure,
)
from mlops_operator.domain.vocabulary import HistoryEvent, RolloutReason

from tests.unit.domain.rollout_sim import (
    ERR,
    HEALTHY,
    PROGRESSING,
    ROLLED_BACK,
    SPEC,
    V1,
    V2,
    Sim,
    at,
    events,
    history,
)

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
    assert d is not None and RolloutReason.BAKING in events(d)
    assert d.weights == Weights(0, 100) and d.status.phase is PROGRESSING
    assert (d.stable_version, d.stable_replicas) == (V1, 1)  # the standby
    assert (d.canary_version, d.canary_replicas) == (V2, 4)
    assert "10m left" in d.status.message and "iris-v1 on warm standby" in d.status.message
    assert d.conditions[1]["reason"] == RolloutReason.BAKING
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
    assert RolloutReason.BAKE_SUCCEEDED in events(d) and sim.clock >= 600
    d = sim.run_until(lambda d: d.status.phase is HEALTHY)
    assert d.status.stable_version == V2 and d.stable_replicas == 4
    assert d.status.previous_stable_versions == (V1,)
    assert [e for _, e in history(d.status)][-3:] == [
        HistoryEvent.BAKING, HistoryEvent.BAKED, HistoryEvent.PROMOTED]


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
    assert d.status.stable_version == V2 and RolloutReason.BAKE_SUCCEEDED not in events(d)


@pytest.mark.parametrize(("raw", "field"), [
    ({}, r"bake\.duration is required"), ({"duration": "0s"}, r"bake\.duration"),
    ({"duration": "ten"}, r"bake\.duration"), ({"duration": "1m", "standbyReplicas": 0},
                                                  r"bake\.standbyReplicas"),
    ({"duration": "1m", "checks": ["nope"]}, r"bake\.checks\[0\]"),
    ({"duration": "1m", "warm": 1}, r"spec\.strategy\.bake must be"), ("1m", r"bake must be")])
def test_invalid_bakes_name_the_field(raw: Any, field: str) -> None:
    with pytest.raises(RolloutSpecError, match=field):
        RolloutSpec.from_dict({"modelVersion": V1, "strategy": {"bake": raw}})


def test_a_bake_uses_the_strategy_checks_unless_it_names_its_own() -> None:
    spec = RolloutSpec.from_dict({"modelVersion": V1, "strategy": {"bake": {"duration": "5m"}}})
    assert spec.bake == Bake(300, DEFAULT_CHECKS, 1)
    spec = RolloutSpec.from_dict({"modelVersion": V1, "strategy": {
        "bake": {"duration": "5m", "checks": ["inputDrift"], "standbyReplicas": 2}}})
    assert spec.bake is not None and [c.name for c in spec.bake.checks] == ["inputDrift"]
    assert spec.bake.standby_replicas == 2
