"""Analysis: measurements, tallies, verdicts."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from mlops_operator.domain.analysis import (
    CheckState,
    Judgement,
    Measurement,
    Tally,
    Verdict,
    combine,
    due,
    judge,
    judge_tally,
)
from mlops_operator.domain.checks import Builtin, CheckSpec, Comparison, MissingData

T0 = datetime(2024, 1, 1, tzinfo=UTC)
ERR = CheckSpec(name="error-rate", threshold=0.05, builtin=Builtin.ERROR_RATE, count=3,
                failure_limit=1)
ACC = CheckSpec(name="acc", threshold=0.9, query="x", direction=Comparison.ABOVE, count=2)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def ok(value: float | None, t: float = 0) -> Measurement:
    return Measurement.of(value, at(t))


def boom(t: float = 0, error: str = "connection refused") -> Measurement:
    return Measurement.failed(error, at(t))


# --------------------------------------------------------------------------- measurements


def test_measurement_normalisation_and_round_trip() -> None:
    assert Measurement(float("nan"), at=at(1)).value is None
    assert Measurement(1, at="2024-01-01T01:00:00+01:00").at == "2024-01-01T00:00:00Z"
    assert Measurement(3.0, error="boom", at=at(0)).value is None
    assert Measurement.failed("", at(0)).error == "unknown error"
    for m in (ok(0.5, 1), ok(None, 2), boom(3)):
        assert Measurement.from_dict(m.to_dict()) == m


@pytest.mark.parametrize(
    ("last", "now", "expected"),
    [(None, 0, True), ("", 0, True), (at(0), 29, False), (at(0), 30, True),
     ("2024-01-01T00:00:00Z", 31, True), (at(10), 5, False)],
)
def test_due(last: object, now: float, expected: bool) -> None:
    assert due(replace(ERR, interval=30), last, at(now)) is expected  # type: ignore[arg-type]


# --------------------------------------------------------------------------- judging

S, F, INC, E, R = (Verdict.SUCCESSFUL, Verdict.FAILED, Verdict.INCONCLUSIVE, Verdict.ERROR,
                 Verdict.RUNNING)
MISSING_FAILS = CheckSpec(name="m", threshold=1, query="x", count=2, failure_limit=1,
                          on_missing_data=MissingData.FAIL)
TOLERANT = CheckSpec(name="t", threshold=1, query="x", count=2, inconclusive_limit=2,
                     consecutive_error_limit=1)


@pytest.mark.parametrize(
    ("check", "measurements", "verdict", "message"),
    [
        (ERR, [], R, "error-rate: 0/3 passing (threshold below 0.05)"),
        (ERR, [ok(0.01)], R, "error-rate: 1/3 passing (threshold below 0.05, last 0.01)"),
        (ERR, [ok(0.01), ok(0.02), ok(0.0)], S,
         "error-rate = 0 below threshold 0.05 (3/3 passing)"),
        (ERR, [ok(0.01), ok(0.31)], R, None),  # 1 failure tolerated (failureLimit 1)
        (ERR, [ok(0.01), ok(0.31), ok(0.01), ok(0.01)], S, None),
        (ERR, [ok(0.2), ok(0.31)], F,
         "error-rate = 0.31 above threshold 0.05 (2 failures > failureLimit 1)"),
        (ERR, [ok(0.05), ok(0.05)], F, "error-rate = 0.05 at threshold 0.05 (2 failures > "
         "failureLimit 1)"),  # success is strictly below
        (ERR, [ok(0.01), ok(0.01), ok(0.9), ok(0.9)], F, None),  # failure beats partial success
        (ERR, [ok(None)], INC, "error-rate: no data in 1 measurement > inconclusiveLimit 0"),
        (ERR, [ok(None)] * 5, INC, None),  # never Successful on missing data
        (ERR, [ok(None), ok(0.01), ok(0.01)], INC, None),  # still pausing...
        (ERR, [ok(None), ok(0.01), ok(0.01), ok(0.01)], S, None),  # ...until real data passes
        (ERR, [boom()], R, "error-rate: 0/3 passing (threshold below 0.05, last error: "
         "connection refused)"),
        (ERR, [boom()] * 4, R, None),
        (ERR, [boom()] * 5, E,
         "error-rate: 5 consecutive errors > consecutiveErrorLimit 4: connection refused"),
        (ERR, [boom()] * 4 + [ok(0.01)] + [boom()] * 4, R, None),  # not consecutive
        (ERR, [boom()] * 5 + [ok(0.01)] * 3, S, None),  # recovers when Prometheus is back
        (ACC, [ok(0.95), ok(0.91)], S, "acc = 0.91 above threshold 0.9 (2/2 passing)"),
        (ACC, [ok(0.85)], F, "acc = 0.85 below threshold 0.9 (1 failure > failureLimit 0)"),
        (MISSING_FAILS, [ok(None)], R, None),
        (MISSING_FAILS, [ok(None), ok(None)], F,
         "m: no data, counted as failure (2 failures > failureLimit 1; onMissingData=fail)"),
        (TOLERANT, [ok(None), ok(None)], R, None),
        (TOLERANT, [ok(None), ok(None), ok(None)], INC, None),
        (TOLERANT, [boom(), boom()], E, None),
    ],
)
def test_judge(
    check: CheckSpec, measurements: list[Measurement], verdict: Verdict, message: str | None
) -> None:
    judgement = judge(check, measurements)
    assert judgement.verdict is verdict, judgement.message
    assert judgement.check == check.name
    if message is not None:
        assert judgement.message == message


def test_tally_round_trip_and_fold() -> None:
    counts = Tally().add(ERR, ok(0.5)).add(ERR, boom()).add(ERR, ok(None))
    assert counts == Tally(passed=0, failed=1, inconclusive=1, errors=1, consecutive_errors=0,
                           last_value=None, last_failed_value=0.5, last_error="connection refused")
    assert Tally.from_dict(counts.to_dict()) == counts


def J(verdict: Verdict, message: str = "") -> Judgement:  # noqa: N802
    return Judgement(verdict, message or verdict.value)


@pytest.mark.parametrize(
    ("verdicts", "expected"),
    [
        ([], INC),
        ([S], S),
        ([S, S], S),
        ([S, R], R),
        ([R, R], R),
        ([S, INC], INC),
        ([S, E], INC),
        ([R, E], INC),
        ([F, INC], F),
        ([S, F, E, R], F),
        ([E], INC),
    ],
)
def test_combine(verdicts: list[Verdict], expected: Verdict) -> None:
    assert combine(J(v) for v in verdicts).verdict is expected


def test_combine_messages_name_the_deciding_checks() -> None:
    result = combine([J(S, "a ok"), J(F, "b bad"), J(INC, "c unsure"), J(F, "d bad")])
    assert result.message == "b bad; d bad"
    assert combine([J(S, "a ok"), J(E, "b err"), J(INC, "c none")]).message == "b err; c none"


def test_check_state_bounds_and_ignores_replays() -> None:
    state = CheckState("error-rate")
    for second in range(15):
        state = state.record(ERR, ok(0.01, second))
    assert len(state.measurements) == 10 and state.tally.passed == 15
    assert state.last_measured_at == "2024-01-01T00:00:14Z"
    assert state.record(ERR, ok(0.9, 14)) is state  # the same measurement again
    assert state.record(ERR, ok(0.9, 3)) is state  # an older one
    assert CheckState.from_dict(state.to_dict()) == state
    assert state.judge(ERR).verdict is S


def test_verdict_terminal() -> None:
    assert [v for v in Verdict if v.terminal] == [S, F]


def test_a_permanent_error_errors_the_check_at_once_and_a_value_recovers_it() -> None:
    permanent = Measurement.failed("Prometheus refused the query: parse error", at(1),
                                   permanent=True)
    counts = Tally().add(ERR, permanent)
    judgement = judge_tally(ERR, counts)
    assert judgement.verdict is Verdict.ERROR and "parse error" in judgement.message
    assert judge_tally(ERR, Tally().add(ERR, boom(1))).verdict is Verdict.RUNNING  # transient
    assert judge_tally(ERR, counts.add(ERR, ok(0.01, 2))).verdict is Verdict.RUNNING
    assert Measurement.from_dict(permanent.to_dict()) == permanent
    assert "permanent" not in boom(1).to_dict()
