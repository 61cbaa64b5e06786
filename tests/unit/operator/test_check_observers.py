"""Check observers: the PromQL each kind asks and how its answer becomes one value.

These pin the reduction arithmetic; tests/cluster/test_rollout.py runs every
built-in against real model server pods and a real Prometheus.
"""

from __future__ import annotations

import math

import pytest
from mlops_operator.domain.checks import Builtin, CheckSpec, Comparison
from mlops_operator.ports import CanaryTarget, CheckUnavailable
from mlops_operator.providers.checks import KINDS, kind_of
from mlops_operator.providers.checks.base import ReferenceStats
from mlops_operator.providers.checks.query import render

CLASSES = {"predictionStats": {"type": "classes",
                               "frequencies": {"setosa": 0.3, "versicolor": 0.3, "virginica": 0.4}}}
REGRESSION = {"predictionStats": {"type": "histogram", "mean": 150.0, "std": 50.0}}
FEATURES = {"referenceStats": {"petal": {"mean": 4.0, "std": 2.0},
                               "sepal": {"mean": 5.0, "std": 0.5},
                               "flat": {"mean": 1.0, "std": 0.0}}}
SEL = 'namespace="ml",deployment="iris",track="canary"'
ERR = CheckSpec(name="error-rate", threshold=0.05, builtin=Builtin.ERROR_RATE)
ACC = CheckSpec(name="acc", threshold=0.9, query="x", direction=Comparison.ABOVE, count=2)


def target(reference: dict | None = None, track: str = "canary") -> CanaryTarget:
    return CanaryTarget(deployment="iris", namespace="ml", model="iris", version="iris-v2",
                        model_version_spec=reference or {}, track=track)


def query(check: CheckSpec, reference: dict | None = None) -> str:
    return kind_of(check).query(check, target(reference))


def value(check: CheckSpec, vector: list, reference: dict | None = None) -> float | None:
    return kind_of(check).value(check, vector, target(reference))


def test_every_builtin_has_exactly_one_observer_and_custom_queries_one() -> None:
    assert set(KINDS) == {*Builtin, None}
    assert all(kind.builtin == key for key, kind in KINDS.items())


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
        # Counted by the stable servers that mirror to the target (the shadow).
        (Builtin.PREDICTION_AGREEMENT, None,
         'sum by (agreement) (mlops_mirror_rows_total{namespace="ml",deployment="iris",'
         'track="stable",shadow="iris-v2"})'),
        # The canary's version and the stable track, over the same window.
        (Builtin.LIVE_ACCURACY, None,
         f'sum by (track, outcome) (increase(mlops_model_labelled_predictions_total{{{SEL},'
         f'version="iris-v2"}}[10m])) or sum by (track, outcome) (increase('
         f'mlops_model_labelled_predictions_total{{namespace="ml",deployment="iris",'
         f'track="stable"}}[10m]))'),
    ],
)
def test_builtin_queries(builtin: Builtin, reference: dict | None, expected: str) -> None:
    assert query(CheckSpec.for_builtin(builtin), reference) == expected


def test_window_and_track_reach_the_query() -> None:
    check = CheckSpec.from_dict({"name": "e", "builtin": "errorRate", "window": "5m"})
    text = kind_of(check).query(check, target(track="stable"))
    assert "[5m]" in text and 'track="stable"' in text


@pytest.mark.parametrize(
    ("builtin", "reference"),
    [(Builtin.PREDICTION_SHIFT, None), (Builtin.PREDICTION_SHIFT, FEATURES),
     (Builtin.INPUT_DRIFT, None), (Builtin.INPUT_DRIFT, CLASSES)],
)
def test_distribution_checks_without_training_stats_cannot_be_measured(
    builtin: Builtin, reference: dict | None
) -> None:
    check = CheckSpec.for_builtin(builtin)
    with pytest.raises(CheckUnavailable, match="iris-v2 has none"):
        query(check, reference)
    with pytest.raises(CheckUnavailable, match=builtin.value):
        value(check, [({}, 1.0)], reference)


def test_custom_query_placeholders_are_filled() -> None:
    check = CheckSpec(name="q", threshold=1, query='up{deployment="{{deployment}}"}')
    assert query(check) == 'up{deployment="iris"}'
    rendered = render(
        'x{ns="{{namespace}}",d="{{ deployment }}",t="{{track}}",m="{{model}}",v="{{version}}"}',
        target())
    assert rendered == 'x{ns="ml",d="iris",t="canary",m="iris",v="iris-v2"}'


def test_reference_stats_read_what_is_there() -> None:
    spec = {
        "predictionStats": {"type": "classes", "count": 30,
                            "frequencies": {"0": 0.5, "1": 0.5, "2": None}},
        "referenceStats": {"a": {"mean": 1.0, "std": 0.5, "min": 0, "max": 2},
                           "b": {"mean": None, "std": 1}, "c": "junk"},
    }
    ref = ReferenceStats.of(target(spec))
    assert ref.class_shares == {"0": 0.5, "1": 0.5}
    assert ref.features == {"a": (1.0, 0.5)}
    hist = ReferenceStats.of(target({"predictionStats": {"type": "histogram", "mean": 3.0,
                                                         "std": 2.0}}))
    assert (hist.prediction_mean, hist.prediction_std, hist.class_shares) == (3.0, 2.0, None)
    assert ReferenceStats.of(target()) == ReferenceStats()


V = dict  # labels
SHIFT = CheckSpec.for_builtin("predictionShift")
DRIFT = CheckSpec.for_builtin("inputDrift")
AGREE = CheckSpec.for_builtin("predictionAgreement")


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
        (SHIFT, [(V({"class": "setosa"}), 30), (V({"class": "versicolor"}), 20),
                 (V({"class": "virginica"}), 50), (V({"class": "__total__"}), 100)], CLASSES, 0.1),
        (SHIFT, [(V({"class": "setosa"}), 60), (V({"class": "__total__"}), 60)], CLASSES,
         0.7),  # absent classes count as share 0
        (SHIFT, [(V({"class": "new"}), 50), (V({"class": "setosa"}), 50),
                 (V({"class": "__total__"}), 100)], CLASSES, 0.5),
        (SHIFT, [], CLASSES, None),
        # A handful of predictions is not judged (minSamples, default 50): no data.
        (SHIFT, [(V({"class": "setosa"}), 5), (V({"class": "__total__"}), 5)], CLASSES, None),
        (CheckSpec.from_dict({"name": "s", "builtin": "predictionShift", "minSamples": 5}),
         [(V({"class": "setosa"}), 5), (V({"class": "__total__"}), 5)], CLASSES, 0.7),
        (SHIFT, [(V(stat="sum"), 25000.0), (V(stat="count"), 100.0)], REGRESSION, 2.0),
        (SHIFT, [(V(stat="sum"), 500.0), (V(stat="count"), 100.0)],
         {"predictionStats": {"type": "histogram", "mean": 3.0, "std": 0.0}}, 2.0),
        (SHIFT, [(V(stat="sum"), 250.0), (V(stat="count"), 1.0)], REGRESSION, None),
        (SHIFT, [], REGRESSION, None),
        # Feature sums and the row count; means are sums / rows.
        (DRIFT, [(V(feature="petal"), 500.0), (V(feature="sepal"), 525.0),
                 (V(feature="flat"), 900.0), (V(feature="unknown"), 10000.0),
                 (V(feature="__rows__"), 100.0)], FEATURES, 0.5),
        (DRIFT, [(V(feature="unknown"), 100.0), (V(feature="__rows__"), 100.0)], FEATURES, None),
        (DRIFT, [(V(feature="petal"), float("nan")), (V(feature="__rows__"), 100.0)], FEATURES,
         None),
        (DRIFT, [(V(feature="petal"), 50.0), (V(feature="__rows__"), 10.0)], FEATURES, None),
        (AGREE, [(V(agreement="agree"), 95.0), (V(agreement="disagree"), 5.0)], None, 0.95),
        (AGREE, [(V(agreement="agree"), 100.0)], None, 1.0),
        (AGREE, [(V(agreement="disagree"), 60.0)], None, 0.0),
        (AGREE, [(V(agreement="agree"), 10.0), (V(agreement="disagree"), 2.0)], None, None),
        (AGREE, [], None, None),
    ],
)
def test_answers_reduce_to_one_value(
    check: CheckSpec, vector: list, reference: dict | None, expected: float | None
) -> None:
    result = value(check, vector, reference)
    assert result == (pytest.approx(expected) if expected is not None else None)


LIVE = CheckSpec.for_builtin(Builtin.LIVE_ACCURACY)
OWN = CheckSpec.from_dict({"name": "own", "builtin": "liveAccuracy", "threshold": 0.8})


def _labelled(canary: tuple[float, float], stable: tuple[float, float] = (0, 0)) -> list:
    """Correct and wrong labelled predictions per track, as Prometheus answers."""
    return [({"track": track, "outcome": outcome}, count)
            for track, counts in (("canary", canary), ("stable", stable))
            for outcome, count in zip(("correct", "wrong"), counts, strict=True) if count]


@pytest.mark.parametrize(("check", "vector", "expected", "detail"), [
    # Too few labels on either track: no data, so a rollout waits for labels.
    (LIVE, _labelled((40, 9), (900, 100)), None, "49 of 50 labelled canary predictions"),
    (LIVE, _labelled((60, 0), (30, 10)), None, "40 of 50 labelled stable predictions"),
    # Clearly worse than stable: the difference's upper bound is below -tolerance.
    (LIVE, _labelled((60, 40), (950, 50)), -0.449, "difference -0.350 [-0.449, -0.258]"),
    # As good as stable with plenty of labels: the lower bound is above -0.05.
    (LIVE, _labelled((970, 30), (960, 40)), -0.0057, "difference +0.010"),
    # As good, but too few labels to say it is not 0.05 worse: not decisive yet.
    (LIVE, _labelled((95, 5), (95, 5)), None, "not yet decisive"),
    # The canary's own accuracy against an absolute threshold.
    (OWN, _labelled((95, 5)), 0.8882, "canary 0.950 [0.888, 0.978] of 100 labelled"),
    (OWN, _labelled((50, 50)), 0.4038, "threshold 0.8"),
    (OWN, _labelled((42, 8)), None, "not yet decisive"),
])
def test_live_accuracy_judges_on_a_confidence_interval(
        check: CheckSpec, vector: list, expected: float | None, detail: str) -> None:
    reading = value(check, vector)
    assert reading.value == (pytest.approx(expected, abs=1e-3) if expected is not None
                             else None)
    assert detail in reading.detail
