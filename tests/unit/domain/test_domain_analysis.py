"""Analysis: check specs, queries, measurements, verdicts."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from mlops_operator.domain.analysis import (
    AnalysisSpecError,
    Builtin,
    CheckSpec,
    CheckState,
    Comparison,
    Judgement,
    Measurement,
    MissingData,
    QueryContext,
    ReferenceStats,
    Tally,
    Verdict,
    build_query,
    combine,
    due,
    judge,
    measure,
    render_query,
    template_placeholders,
    value_from_vector,
)

T0 = datetime(2024, 1, 1, tzinfo=UTC)
CTX = QueryContext(deployment="iris", namespace="ml", model="iris", version="iris-v2")
ERR = CheckSpec(name="error-rate", threshold=0.05, builtin=Builtin.ERROR_RATE, count=3,
                failure_limit=1)
ACC = CheckSpec(name="acc", threshold=0.9, query="x", direction=Comparison.ABOVE, count=2)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def ok(value: float | None, t: float = 0) -> Measurement:
    return Measurement.of(value, at(t))


def boom(t: float = 0, error: str = "connection refused") -> Measurement:
    return Measurement.failed(error, at(t))


# --------------------------------------------------------------------------- spec parsing


def test_check_spec_defaults_and_round_trip() -> None:
    spec = CheckSpec.from_dict({"name": "lat", "query": "q{deployment=\"{{deployment}}\"}",
                                "threshold": 0.3})
    assert (spec.direction, spec.interval, spec.count, spec.failure_limit) == (
        Comparison.BELOW, 30.0, 3, 0)
    assert (spec.inconclusive_limit, spec.consecutive_error_limit, spec.on_missing_data) == (
        0, 4, MissingData.INCONCLUSIVE)
    assert CheckSpec.from_dict(spec.to_dict()) == spec


def test_check_spec_full() -> None:
    spec = CheckSpec.from_dict({
        "name": "acc", "query": "sum(x)", "threshold": 0.9, "direction": "above",
        "interval": "1m30s", "count": 5, "failureLimit": 2, "inconclusiveLimit": 1,
        "consecutiveErrorLimit": 0, "onMissingData": "fail",
    })
    assert spec.interval == 90 and spec.count == 5 and spec.failure_limit == 2
    assert spec.on_missing_data is MissingData.FAIL and spec.direction is Comparison.ABOVE
    assert spec.consecutive_error_limit == 0


@pytest.mark.parametrize(
    ("builtin", "threshold"),
    [("errorRate", 0.05), ("latencyP99", 0.5), ("predictionShift", 0.2), ("inputDrift", 0.5)],
)
def test_builtin_defaults(builtin: str, threshold: float) -> None:
    spec = CheckSpec.from_dict({"name": "c", "builtin": builtin})
    assert spec.threshold == threshold and spec.direction is Comparison.BELOW
    assert CheckSpec.for_builtin(builtin).name == builtin


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({"query": "x", "threshold": 1}, "needs a non-empty name"),
        ({"name": " ", "query": "x", "threshold": 1}, "needs a non-empty name"),
        ({"name": "c", "threshold": 1}, "exactly one of query or builtin"),
        ({"name": "c", "query": "x", "builtin": "errorRate"}, "exactly one of query or builtin"),
        ({"name": "c", "query": "x"}, "threshold is required"),
        ({"name": "c", "query": ""}, "non-empty PromQL"),
        ({"name": "c", "builtin": "cpu"}, "builtin must be one of"),
        ({"name": "c", "query": "x", "threshold": "1"}, "finite number"),
        ({"name": "c", "query": "x", "threshold": 1, "direction": "under"}, "direction"),
        ({"name": "c", "query": "x", "threshold": 1, "interval": "soon"}, "invalid duration"),
        ({"name": "c", "query": "x", "threshold": 1, "interval": "0s"}, "positive"),
        ({"name": "c", "query": "x", "threshold": 1, "count": 0}, "count must be an integer >= 1"),
        ({"name": "c", "query": "x", "threshold": 1, "failureLimit": -1}, "failureLimit"),
        ({"name": "c", "query": "x", "threshold": 1, "inconclusiveLimit": 1.5},
         "inconclusiveLimit"),
        ({"name": "c", "query": "x", "threshold": 1, "onMissingData": "ignore"}, "onMissingData"),
        ({"name": "c", "query": "x", "threshold": 1, "failurelimit": 2}, "unknown field(s)"),
        ({"name": "c", "query": "x{a=\"{{pod}}\"}", "threshold": 1}, "unknown placeholder"),
        ({"name": "c", "builtin": "errorRate", "window": "1 minute"}, "invalid duration"),
        ("errorRate", "must be an object"),
    ],
)
def test_check_spec_errors(data: object, fragment: str) -> None:
    with pytest.raises(AnalysisSpecError) as caught:
        CheckSpec.from_dict(data)  # type: ignore[arg-type]
    assert fragment in str(caught.value)


# --------------------------------------------------------------------------- queries


def test_render_query_fills_every_placeholder() -> None:
    rendered = render_query(
        'x{ns="{{namespace}}",d="{{ deployment }}",t="{{track}}",m="{{model}}",v="{{version}}"}',
        deployment="iris", namespace="ml", track="canary", model="iris", version="iris-v2",
    )
    assert rendered == 'x{ns="ml",d="iris",t="canary",m="iris",v="iris-v2"}'


@pytest.mark.parametrize("template", ["x{{pod}}", "x{{ Namespace }}", "x{{namespace", "{{}}"])
def test_render_query_rejects_unknown_placeholders(template: str) -> None:
    with pytest.raises(AnalysisSpecError):
        render_query(template, deployment="d", namespace="n", track="t", model="m", version="v")


def test_template_placeholders() -> None:
    assert template_placeholders("a{{track}}b{{track}}{{model}}") == {"track", "model"}
    assert template_placeholders("sum(rate(x[1m]))") == frozenset()


SEL = 'namespace="ml",deployment="iris",track="canary"'
CLASSES = ReferenceStats(class_shares={"setosa": 0.3, "versicolor": 0.3, "virginica": 0.4})
REGRESSION = ReferenceStats(prediction_mean=150.0, prediction_std=50.0)
FEATURES = ReferenceStats(features={"petal": (4.0, 2.0), "sepal": (5.0, 0.5), "flat": (1.0, 0.0)})


@pytest.mark.parametrize(
    ("builtin", "reference", "expected"),
    [
        (Builtin.ERROR_RATE, None,
         f'(sum(rate(mlops_requests_total{{{SEL},status=~"5.."}}[1m])) or vector(0))'
         f" / sum(rate(mlops_requests_total{{{SEL}}}[1m]))"),
        (Builtin.LATENCY_P99, None,
         f"histogram_quantile(0.99, sum by (le) "
         f"(rate(mlops_request_duration_seconds_bucket{{{SEL}}}[1m])))"),
        (Builtin.PREDICTION_SHIFT, CLASSES,
         f"sum by (class) (mlops_predictions_total{{{SEL}}}) or label_replace("
         f'sum(mlops_predictions_total{{{SEL}}}), "class", "__total__", "", "")'),
        (Builtin.PREDICTION_SHIFT, REGRESSION,
         f'label_replace(sum(mlops_prediction_value_sum{{{SEL}}}), "stat", "sum", "", "") or '
         f'label_replace(sum(mlops_prediction_value_count{{{SEL}}}), "stat", "count", "", "")'),
        (Builtin.INPUT_DRIFT, FEATURES,
         f"sum by (feature) (mlops_input_feature_sum{{{SEL}}}) or label_replace("
         f'sum(mlops_input_rows_total{{{SEL}}}), "feature", "__rows__", "", "")'),
    ],
)
def test_builtin_queries(builtin: Builtin, reference: ReferenceStats | None, expected: str) -> None:
    assert build_query(CheckSpec.for_builtin(builtin), CTX, reference) == expected


def test_builtin_window_and_track() -> None:
    check = CheckSpec.from_dict({"name": "e", "builtin": "errorRate", "window": "5m"})
    query = build_query(check, QueryContext("d", "n", "m", "v", track="stable"))
    assert "[5m]" in query and 'track="stable"' in query


@pytest.mark.parametrize(
    ("builtin", "reference"),
    [(Builtin.PREDICTION_SHIFT, None), (Builtin.PREDICTION_SHIFT, FEATURES),
     (Builtin.INPUT_DRIFT, None), (Builtin.INPUT_DRIFT, CLASSES)],
)
def test_builtins_without_reference_are_errors(builtin: Builtin, reference: object) -> None:
    check = CheckSpec.for_builtin(builtin)
    with pytest.raises(AnalysisSpecError, match="iris-v2 has none"):
        build_query(check, CTX, reference)  # type: ignore[arg-type]
    measurement = measure(check, [({}, 1.0)], T0, reference)  # type: ignore[arg-type]
    assert measurement.value is None and "has no reference" in str(measurement.error)


def test_custom_query_is_rendered() -> None:
    check = CheckSpec(name="q", threshold=1, query='up{deployment="{{deployment}}"}')
    assert build_query(check, CTX) == 'up{deployment="iris"}'


def test_reference_stats_from_model_version_spec() -> None:
    spec = {
        "predictionStats": {"type": "classes", "count": 30,
                            "frequencies": {"0": 0.5, "1": 0.5, "2": None}},
        "referenceStats": {"a": {"mean": 1.0, "std": 0.5, "min": 0, "max": 2},
                           "b": {"mean": None, "std": 1}, "c": "junk"},
    }
    ref = ReferenceStats.from_model_version_spec(spec)
    assert ref.class_shares == {"0": 0.5, "1": 0.5}
    assert ref.features == {"a": (1.0, 0.5)}
    hist = ReferenceStats.from_model_version_spec(
        {"predictionStats": {"type": "histogram", "mean": 3.0, "std": 2.0}})
    assert (hist.prediction_mean, hist.prediction_std, hist.class_shares) == (3.0, 2.0, None)
    assert ReferenceStats.from_model_version_spec({}) == ReferenceStats()


V = dict  # labels


@pytest.mark.parametrize(
    ("check", "vector", "reference", "expected"),
    [
        (ERR, [], None, None),
        (ERR, [(V(), 0.01)], None, 0.01),
        (ERR, [(V(), float("nan"))], None, None),  # 0/0: no traffic
        (ERR, [(V(), math.inf)], None, None),
        (ERR, [(V(pod="a"), 0.01), (V(pod="b"), 0.2)], None, 0.2),  # worst series
        (ACC, [(V(pod="a"), 0.95), (V(pod="b"), 0.8)], None, 0.8),  # worst for "above"
        # Counts per class and the total; shares are counts / total.
        (CheckSpec.for_builtin("predictionShift"),
         [(V({"class": "setosa"}), 30), (V({"class": "versicolor"}), 20),
          (V({"class": "virginica"}), 50), (V({"class": "__total__"}), 100)], CLASSES, 0.1),
        (CheckSpec.for_builtin("predictionShift"),
         [(V({"class": "setosa"}), 60), (V({"class": "__total__"}), 60)], CLASSES,
         0.7),  # absent classes count as share 0
        (CheckSpec.for_builtin("predictionShift"),
         [(V({"class": "new"}), 50), (V({"class": "setosa"}), 50),
          (V({"class": "__total__"}), 100)], CLASSES, 0.5),
        (CheckSpec.for_builtin("predictionShift"), [], CLASSES, None),
        # A handful of predictions is not judged (minSamples, default 50): no data.
        (CheckSpec.for_builtin("predictionShift"),
         [(V({"class": "setosa"}), 5), (V({"class": "__total__"}), 5)], CLASSES, None),
        (CheckSpec.from_dict({"name": "s", "builtin": "predictionShift", "minSamples": 5}),
         [(V({"class": "setosa"}), 5), (V({"class": "__total__"}), 5)], CLASSES, 0.7),
        (CheckSpec.for_builtin("predictionShift"),
         [(V(stat="sum"), 25000.0), (V(stat="count"), 100.0)], REGRESSION, 2.0),
        (CheckSpec.for_builtin("predictionShift"),
         [(V(stat="sum"), 500.0), (V(stat="count"), 100.0)],
         ReferenceStats(prediction_mean=3.0, prediction_std=0.0), 2.0),
        (CheckSpec.for_builtin("predictionShift"),
         [(V(stat="sum"), 250.0), (V(stat="count"), 1.0)], REGRESSION, None),
        (CheckSpec.for_builtin("predictionShift"), [], REGRESSION, None),
        # Feature sums and the row count; means are sums / rows.
        (CheckSpec.for_builtin("inputDrift"),
         [(V(feature="petal"), 500.0), (V(feature="sepal"), 525.0), (V(feature="flat"), 900.0),
          (V(feature="unknown"), 10000.0), (V(feature="__rows__"), 100.0)], FEATURES, 0.5),
        (CheckSpec.for_builtin("inputDrift"),
         [(V(feature="unknown"), 100.0), (V(feature="__rows__"), 100.0)], FEATURES, None),
        (CheckSpec.for_builtin("inputDrift"),
         [(V(feature="petal"), float("nan")), (V(feature="__rows__"), 100.0)], FEATURES, None),
        (CheckSpec.for_builtin("inputDrift"),
         [(V(feature="petal"), 50.0), (V(feature="__rows__"), 10.0)], FEATURES, None),
    ],
)
def test_value_from_vector(
    check: CheckSpec, vector: list, reference: ReferenceStats | None, expected: float | None
) -> None:
    value = value_from_vector(check, vector, reference)
    assert value == (pytest.approx(expected) if expected is not None else None)


def test_measure_wraps_values() -> None:
    assert measure(ERR, [({}, 0.5)], at(3)) == Measurement(0.5, None, "2024-01-01T00:00:03Z")
    assert measure(ERR, [], at(3)).value is None


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
