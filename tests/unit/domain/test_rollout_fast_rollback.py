"""A revert within ``strategy.rollbackWindow``: no steps, all traffic once its pods
are ready (``rollout.canary``'s start, ``rollout.promotion``'s memory of stable
versions)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from mlops_operator.domain.rollout import (
    PromotionStage,
    RolloutSpec,
    RolloutSpecError,
    TrackState,
    Weights,
)
from mlops_operator.domain.vocabulary import HistoryEvent, RolloutReason

from tests.unit.domain.rollout_sim import (
    HEALTHY,
    HEALTHY_V1,
    ROLLED_BACK,
    SPEC,
    V1,
    V2,
    V3,
    Sim,
    events,
    history,
)


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
    assert events(d) == [RolloutReason.FAST_ROLLBACK]
    assert d.status.promotion is PromotionStage.SCALING_UP
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
    assert history(d.status)[-2:] == [(V1, HistoryEvent.FAST_ROLLBACK), (V1, HistoryEvent.PROMOTED)]


def test_a_version_outside_the_window_or_never_stable_runs_the_steps() -> None:
    sim = _promoted_v2(replace(SPEC, rollback_window=0))
    sim.spec = replace(SPEC, model_version=V1, rollback_window=0)
    assert events(sim.tick()) == [RolloutReason.CANARY_STARTED]
    sim = _promoted_v2()
    sim.spec = replace(SPEC, model_version=V3)
    d = sim.tick()
    assert events(d) == [RolloutReason.CANARY_STARTED] and d.status.promotion is None


def test_the_window_counts_versions_back_from_the_current_stable() -> None:
    status = replace(HEALTHY_V1, stable_version=V3, previous_stable_versions=(V2, V1))
    for window, expected in ((1, RolloutReason.CANARY_STARTED), (2, RolloutReason.FAST_ROLLBACK)):
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
    assert events(sim.tick()) == [RolloutReason.FAST_ROLLBACK]
    sim.spec = replace(SPEC, model_version=V1, abort=True)
    d = sim.tick()
    assert d.status.phase is ROLLED_BACK and d.status.stable_version == V2


@pytest.mark.parametrize("raw", [{"versions": -1}, {"versions": 11}, {"versions": "2"},
                                 {"versions": True}, {"revisions": 2}, 3])
def test_invalid_rollback_windows_name_the_field(raw: Any) -> None:
    with pytest.raises(RolloutSpecError, match=r"spec\.strategy\.rollbackWindow"):
        RolloutSpec.from_dict({"modelVersion": V1, "strategy": {"rollbackWindow": raw}})


def test_rollback_window_defaults_to_two_and_zero_turns_it_off() -> None:
    assert RolloutSpec.from_dict({"modelVersion": V1}).rollback_window == 2
    spec = RolloutSpec.from_dict({"modelVersion": V1, "strategy": {"rollbackWindow": {}}})
    assert spec.rollback_window == 2
    spec = RolloutSpec.from_dict({"modelVersion": V1,
                                  "strategy": {"rollbackWindow": {"versions": 0}}})
    assert spec.rollback_window == 0
