"""One-shot promote and abort: an annotation naming the version it is meant for acts like
the spec flag for that version only, and is spent once that version's fate is settled."""

from __future__ import annotations

from dataclasses import replace

import pytest
from mlops_operator.domain.rollout import (
    ONE_SHOT,
    RolloutPhase,
    RolloutSpec,
    RolloutStatus,
    spent_one_shots,
)

from tests.unit.domain.rollout_sim import (
    HEALTHY,
    ROLLED_BACK,
    SPEC,
    V1,
    V2,
    V3,
    Sim,
    to_analysis,
)

PROMOTE, ABORT = ONE_SHOT["promote"], ONE_SHOT["abort"]


def parsed(annotations: dict[str, str], **spec: object) -> RolloutSpec:
    return RolloutSpec.from_dict({"modelVersion": V2, **spec}, annotations=annotations)


def test_an_annotation_naming_the_target_is_its_flag() -> None:
    spec = parsed({PROMOTE: V2})
    assert spec.promote and not spec.abort
    assert spec.promote_source == "mlops.dev/promote=iris-v2"
    spec = parsed({ABORT: V2})
    assert spec.abort and spec.abort_source == "mlops.dev/abort=iris-v2"


def test_an_annotation_naming_another_version_does_nothing() -> None:
    spec = parsed({PROMOTE: V3, ABORT: V1})
    assert not spec.promote and not spec.abort


def test_the_spec_flag_keeps_its_own_name() -> None:
    spec = parsed({PROMOTE: V2}, promote=True)
    assert spec.promote and spec.promote_source == "spec.promote"


def test_promote_by_annotation_skips_the_steps_and_says_why() -> None:
    sim = Sim()
    to_analysis(sim)
    sim.spec = replace(SPEC, promote=True, promote_source=f"{PROMOTE}={V2}")
    d = sim.tick()
    messages = [e.message for e in d.events]
    assert any(m.startswith("mlops.dev/promote=iris-v2 is set: skipping") for m in messages)
    d = sim.run_until(lambda d: d.status.phase is HEALTHY)
    assert d.status.stable_version == V2
    (spent,) = spent_one_shots({PROMOTE: V2}, V2, d.status)
    assert spent.annotation == PROMOTE and not spent.ignored


def test_abort_by_annotation_rolls_back_and_is_then_spent() -> None:
    sim = Sim()
    sim.tick()
    sim.tick()
    sim.spec = replace(SPEC, abort=True, abort_source=f"{ABORT}={V2}")
    d = sim.tick()
    assert d.status.phase is ROLLED_BACK
    assert d.status.rollback_reason == "Aborted: mlops.dev/abort=iris-v2 is set"
    (spent,) = spent_one_shots({ABORT: V2}, V2, d.status)
    assert spent.annotation == ABORT and not spent.ignored
    # Spent, the version stays rolled back while the spec names it: no second canary.
    sim.spec = SPEC
    d = sim.tick(dt=60)
    assert d.status.phase is ROLLED_BACK and d.canary_version is None


CANARY = RolloutStatus(phase=RolloutPhase.PAUSED, stable_version=V1, canary_version=V2,
                       current_step_index=1)
ROLLED = RolloutStatus(phase=RolloutPhase.ROLLED_BACK, stable_version=V1,
                       rolled_back_version=V2)
PROMOTED = RolloutStatus(phase=RolloutPhase.HEALTHY, stable_version=V2)
FIRST = RolloutStatus(phase=RolloutPhase.PROGRESSING, stable_version=V2)
WAITING = RolloutStatus(phase=RolloutPhase.DEGRADED, stable_version=V1)  # target unapproved


@pytest.mark.parametrize(("annotations", "status", "expected"), [
    ({}, CANARY, []),
    ({PROMOTE: V2}, CANARY, []),  # still to act
    ({ABORT: V2}, CANARY, []),
    ({PROMOTE: V2}, WAITING, []),  # waits for the target's canary
    ({PROMOTE: V2}, PROMOTED, [(PROMOTE, False)]),
    ({PROMOTE: V2}, FIRST, [(PROMOTE, False)]),  # nothing to promote
    ({PROMOTE: V2}, ROLLED, [(PROMOTE, True)]),  # lost to a rollback: it never acted
    ({ABORT: V2}, ROLLED, [(ABORT, False)]),
    ({ABORT: V2}, PROMOTED, [(ABORT, False)]),  # too late: already stable
    ({PROMOTE: V3}, CANARY, [(PROMOTE, True)]),  # for another version
    ({PROMOTE: V1, ABORT: V3}, CANARY, [(PROMOTE, True), (ABORT, True)]),
    ({PROMOTE: V2, "other": "x"}, PROMOTED, [(PROMOTE, False)]),
])
def test_when_a_one_shot_is_spent(annotations: dict[str, str], status: RolloutStatus,
                                  expected: list[tuple[str, bool]]) -> None:
    spent = spent_one_shots(annotations, V2, status)
    assert [(s.annotation, s.ignored) for s in spent] == expected
    for one in spent:
        assert one.message.startswith(f"{one.annotation}={annotations[one.annotation]} ")
