"""Retraining decisions as tables: spec parsing, cron ticks, triggers, skips, history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from mlops_operator.domain import retrain
from mlops_operator.domain.cron import Cron, CronError
from mlops_operator.domain.retrain import (
    RetrainSpec,
    RetrainSpecError,
    RetrainState,
    Run,
    Trigger,
    decide,
    expired_runs,
    run_name,
    run_number,
    summary,
)
from mlops_operator.domain.vocabulary import RetrainReason, TrainingPhase, TriggerType

SUCCEEDED, RUNNING, FAILED, PENDING = (TrainingPhase.SUCCEEDED, TrainingPhase.RUNNING,
                                       TrainingPhase.FAILED, TrainingPhase.PENDING)
ALERT = TriggerType.ALERT
T0 = datetime(2026, 11, 24, 10, 0, 0, tzinfo=UTC)  # the parent's creation
BERLIN = ZoneInfo("Europe/Berlin")


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def spec(**raw) -> RetrainSpec:
    return RetrainSpec.from_dict(raw, UTC)


def alert(name: str, starts: float, **labels: str) -> Trigger:
    return Trigger.firing(name, {"alertname": name, "model": "iris", **labels}, at(starts))


def run(number: int, phase: str | None, started: float, trigger: dict | None = None) -> Run:
    return Run(run_name("iris", number), number, phase, at(started), trigger)


# ---- spec ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "field", "words"),
    [
        ({"schedule": "61 * * * *"}, "spec.retrain.schedule", "Bad minute"),
        ({"schedule": "* * * *"}, "spec.retrain.schedule", "five fields"),
        ({"schedule": "0 0 * * * *"}, "spec.retrain.schedule", "five fields"),
        ({"schedule": "@sometimes"}, "spec.retrain.schedule", "five fields"),
        ({"schedule": "0 3 * * *", "timeZone": "Mars/Olympus"}, "spec.retrain.timeZone",
         "Mars/Olympus"),
        ({"schedule": "0 3 * * *", "timeZone": "../etc/passwd"}, "spec.retrain.timeZone",
         "unknown time zone"),
        ({"onAlerts": ["InputDrift"], "minInterval": "ten"}, "spec.retrain.minInterval",
         "ten"),
        ({}, "spec.retrain", "schedule, onAlerts or both"),
        ({"onAlerts": []}, "spec.retrain", "schedule, onAlerts or both"),
        ({"onAlerts": ["A"], "maxRuns": 0}, "spec.retrain.maxRuns", "at least 1"),
    ],
)
def test_invalid_specs_name_the_field(raw: dict, field: str, words: str) -> None:
    with pytest.raises(RetrainSpecError) as error:
        spec(**raw)
    assert str(error.value).startswith(field + ":")
    assert words in str(error.value)


def test_defaults_and_zone() -> None:
    parsed = RetrainSpec.from_dict({"schedule": "@daily", "timeZone": "Europe/Berlin"}, UTC)
    assert parsed.cron == Cron("0 0 * * *", BERLIN)
    assert (parsed.min_interval, parsed.max_runs, parsed.successful_history,
            parsed.failed_history, parsed.on_alerts) == (600.0, None, 3, 1, ())
    default = RetrainSpec.from_dict({"schedule": "0 3 * * *"}, BERLIN)
    assert default.cron is not None and default.cron.zone == BERLIN


# ---- cron ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("expression", "zone", "after", "expected"),
    [
        ("* * * * *", UTC, T0, at(1)),
        ("*/15 * * * *", UTC, at(7), at(15)),
        ("0 3 * * *", UTC, T0, datetime(2026, 11, 25, 3, tzinfo=UTC)),
        # 03:00 in Berlin is 02:00 UTC in winter, 01:00 UTC in summer.
        ("0 3 * * *", BERLIN, T0, datetime(2026, 11, 25, 2, tzinfo=UTC)),
        ("0 3 * * *", BERLIN, datetime(2026, 7, 1, tzinfo=UTC),
         datetime(2026, 7, 1, 1, tzinfo=UTC)),
        # The night clocks go forward (29 March 2026) 02:30 does not exist: like cron, the
        # tick comes right after the change (03:00 CEST), once.
        ("30 2 * * *", BERLIN, datetime(2026, 3, 28, 12, tzinfo=UTC),
         datetime(2026, 3, 29, 1, 0, tzinfo=UTC)),
        ("30 2 * * *", BERLIN, datetime(2026, 3, 29, 1, 0, tzinfo=UTC),
         datetime(2026, 3, 30, 0, 30, tzinfo=UTC)),
        ("@hourly", UTC, at(0.5), at(60)),
    ],
)
def test_next_tick(expression: str, zone, after: datetime, expected: datetime) -> None:
    assert Cron.parse(expression, zone).next_after(after) == expected


def test_latest_tick_at_or_before_includes_the_moment_itself() -> None:
    cron = Cron.parse("*/10 * * * *", UTC)
    assert cron.latest_at_or_before(at(20)) == at(20)
    assert cron.latest_at_or_before(at(29.9)) == at(20)


def test_a_schedule_that_never_fires_is_refused() -> None:
    with pytest.raises(CronError):
        Cron.parse("0 0 31 2 *", UTC)


# ---- names -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "number"),
    [("iris-r1", 1), ("iris-r12", 12), ("iris-r0", None), ("iris-r01", None),
     ("iris-x-r1", None), ("iris", None), ("iris-r1x", None)],
)
def test_run_numbers(name: str, number: int | None) -> None:
    assert run_number("iris", name) == number


# ---- decisions -------------------------------------------------------------------------
ALERTS = spec(onAlerts=["InputDrift"], minInterval="10m")
MINUTELY = spec(schedule="* * * * *", minInterval="0s")


def started(decision: retrain.Decision) -> tuple[int, str, object] | None:
    if decision.start is None:
        return None
    number, trigger = decision.start
    return number, trigger.type, trigger.alert


@pytest.mark.parametrize(
    ("case", "the_spec", "state", "runs", "alerts", "now", "start", "skips"),
    [
        ("nothing due", MINUTELY, RetrainState(), [], [], at(0.5), None, []),
        ("first tick", MINUTELY, RetrainState(), [], [], at(1), (1, "schedule", None), []),
        ("tick judged", MINUTELY, RetrainState(runs=1, last_schedule_time=at(1)),
         [run(1, SUCCEEDED, 1)], [], at(1.5), None, []),
        ("missed ticks give one run", MINUTELY, RetrainState(), [], [], at(30),
         (1, "schedule", None), []),
        ("tick while a run is active", MINUTELY,
         RetrainState(runs=1, last_run="iris-r1", last_run_time=at(1), last_schedule_time=at(1)),
         [run(1, RUNNING, 1)], [], at(2), None, ["run iris-r1 is still active"]),
        ("alert starts a run", ALERTS, RetrainState(), [], [alert("InputDrift", 0)], at(1),
         (1, ALERT, "InputDrift"), []),
        ("alert not listed", ALERTS, RetrainState(), [], [alert("Other", 0)], at(1), None, []),
        ("re-sent alert judged before", ALERTS,
         RetrainState(runs=1, alerts_seen={"InputDrift": "2026-11-24T10:00:00Z"}),
         [run(1, SUCCEEDED, 1)], [alert("InputDrift", 0)], at(30), None, []),
        ("flapping alert within minInterval", ALERTS,
         RetrainState(runs=1, last_run="iris-r1", last_run_time=at(1),
                      alerts_seen={"InputDrift": "2026-11-24T10:00:00Z"}),
         [run(1, SUCCEEDED, 1)], [alert("InputDrift", 5)], at(6), None,
         ["started 5m ago, less than minInterval 10m"]),
        ("flapping alert after minInterval", ALERTS,
         RetrainState(runs=1, last_run="iris-r1", last_run_time=at(1),
                      alerts_seen={"InputDrift": "2026-11-24T10:00:00Z"}),
         [run(1, SUCCEEDED, 1)], [alert("InputDrift", 12)], at(12), (2, ALERT, "InputDrift"),
         []),
        ("two alerts at once: one run", spec(onAlerts=["A", "B"], minInterval="0s"),
         RetrainState(), [], [alert("A", 0), alert("B", 0.5)], at(1), (1, ALERT, "A"),
         ["run iris-r1 is still active"]),
        ("max runs reached: quiet", spec(onAlerts=["InputDrift"], maxRuns=1),
         RetrainState(runs=1, last_run="iris-r1", last_run_time=at(-60)), [],
         [alert("InputDrift", 0)], at(1), None, []),
        ("crash after creating r2: counted from the runs", ALERTS, RetrainState(runs=1),
         [run(1, SUCCEEDED, -60), run(2, RUNNING, 0, {"type": ALERT, "alert": "InputDrift",
                                                          "startsAt": "2026-11-24T10:00:00Z"})],
         [alert("InputDrift", 0)], at(1), None, []),
    ],
)
def test_decide(case: str, the_spec: RetrainSpec, state: RetrainState, runs: list[Run],
                alerts: list[Trigger], now: datetime, start, skips: list[str]) -> None:
    decision = decide(the_spec, state, runs, alerts, now, parent="iris", created=T0)
    assert started(decision) == start, case
    loud = [s.reason for s in decision.skipped if not s.quiet]
    assert len(loud) == len(skips), (case, loud)
    for reason, words in zip(loud, skips, strict=True):
        assert words in reason, (case, reason)


def test_a_started_run_is_remembered() -> None:
    decision = decide(ALERTS, RetrainState(), [], [alert("InputDrift", 0, severity="warning")],
                      at(1), parent="iris", created=T0)
    state = decision.state
    assert (state.runs, state.last_run, state.last_run_time) == (1, "iris-r1", at(1))
    assert state.last_trigger == {
        "type": ALERT, "alert": "InputDrift", "startsAt": "2026-11-24T10:00:00Z",
        "labels": {"alertname": "InputDrift", "model": "iris", "severity": "warning"}}
    assert state.alerts_seen == {"InputDrift": "2026-11-24T10:00:00Z"}
    assert decision.active == "iris-r1"
    # The same state, read back from the status, judges the re-send as seen.
    again = decide(ALERTS, RetrainState.from_dict(state.to_dict()),
                   [run(1, SUCCEEDED, 1)], [alert("InputDrift", 0)], at(20), parent="iris",
                   created=T0)
    assert again.start is None and again.skipped == ()


def test_a_skipped_alert_is_judged_once() -> None:
    state = RetrainState(runs=1, last_run="iris-r1", last_run_time=at(1))
    first = decide(ALERTS, state, [run(1, RUNNING, 1)], [alert("InputDrift", 2)], at(3),
                   parent="iris", created=T0)
    assert [s.trigger.alert for s in first.skipped] == ["InputDrift"]
    resent = decide(ALERTS, first.state, [run(1, SUCCEEDED, 1)], [alert("InputDrift", 2)],
                    at(30), parent="iris", created=T0)
    assert resent.start is None and resent.skipped == ()


def test_the_schedule_wakes_at_the_next_tick_and_stops_at_max_runs() -> None:
    hourly = spec(schedule="0 * * * *")
    waiting = decide(hourly, RetrainState(), [], [], at(5), parent="iris", created=T0)
    assert waiting.wake_at == at(60) and waiting.start is None
    ran = decide(hourly, RetrainState(), [], [], at(61), parent="iris", created=T0)
    assert ran.start is not None and ran.start[1].at == at(60)
    assert ran.state.last_schedule_time == at(60) and ran.wake_at == at(120)
    capped = decide(spec(schedule="0 * * * *", maxRuns=1), ran.state, [run(1, SUCCEEDED, 61)],
                    [], at(121), parent="iris", created=T0)
    assert capped.start is None and capped.limit_reached and capped.wake_at is None
    assert [s.quiet for s in capped.skipped] == [True]
    assert summary(spec(schedule="0 * * * *", maxRuns=1), capped)[:2] == (False,
                                                                          RetrainReason.MAX_RUNS_REACHED)


@pytest.mark.parametrize(
    ("phases", "successful", "failed", "deleted"),
    [
        ([SUCCEEDED] * 5, 3, 1, ["iris-r1", "iris-r2"]),
        ([FAILED, SUCCEEDED, FAILED, FAILED], 3, 1, ["iris-r1", "iris-r3"]),
        ([SUCCEEDED, SUCCEEDED, RUNNING], 0, 0, ["iris-r1", "iris-r2"]),
        ([None, PENDING, RUNNING], 0, 0, []),
        ([SUCCEEDED, FAILED], 3, 1, []),
    ],
)
def test_history_limits_delete_only_finished_runs_beyond_them(
    phases: list[str | None], successful: int, failed: int, deleted: list[str]
) -> None:
    limits = spec(onAlerts=["A"], successfulRunsHistoryLimit=successful,
                  failedRunsHistoryLimit=failed)
    runs = [run(n, phase, n) for n, phase in enumerate(phases, start=1)]
    assert list(expired_runs(limits, runs)) == deleted


@pytest.mark.parametrize(
    ("the_spec", "runs", "reason", "words"),
    [
        (spec(schedule="0 3 * * *", onAlerts=["InputDrift"]), [], RetrainReason.WAITING,
         "schedule '0 3 * * *' (next 2026-11-25T03:00:00Z) or alerts InputDrift"),
        (ALERTS, [run(1, RUNNING, 0)], RetrainReason.RUN_ACTIVE, "run iris-r1 is active"),
    ],
)
def test_summary(the_spec: RetrainSpec, runs: list[Run], reason: str, words: str) -> None:
    decision = decide(the_spec, RetrainState(), runs, [], at(1), parent="iris", created=T0)
    armed, got_reason, message = summary(the_spec, decision)
    assert (armed, got_reason) == (True, reason)
    assert words in message
