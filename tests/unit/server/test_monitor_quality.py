"""The join of labels with logged predictions, and the live quality it yields (pure)."""

from __future__ import annotations

import math

import pytest
from mlops_runtime.monitor.labels import parse_labels
from mlops_runtime.monitor.quality import Quality, label_text
from sklearn.metrics import accuracy_score, f1_score, mean_absolute_error, mean_squared_error

STABLE = ("ml", "iris", "iris", "1", "stable")
CANARY = ("ml", "iris", "iris", "2", "canary")
NOW = 1_000_000.0


@pytest.mark.parametrize(("value", "text"), [
    ("setosa", "setosa"), (1, "1"), (1.0, "1"), (2.5, "2.5"), (True, "true"),
    (False, "false"), (None, None), ([1], None), ({"a": 1}, None), (math.nan, None),
    (math.inf, None),
])
def test_labels_and_classes_compare_as_canonical_text(value: object, text: str | None) -> None:
    assert label_text(value) == text


def _logged(quality: Quality, series: tuple[str, ...], predictions: list[object],
            regressor: bool = False, at: float = NOW, prefix: str = "p") -> list[str]:
    ids = [f"{prefix}{i}" for i in range(len(predictions))]
    values = [float(p) for p in predictions] if regressor else [label_text(p) for p in predictions]
    quality.add_predictions(series, ids, values, [at] * len(ids), regressor, at)  # type: ignore[arg-type]
    return ids


def test_a_classifiers_live_accuracy_and_macro_f1_match_scikit_learn() -> None:
    quality = Quality()
    predicted = ["a", "a", "b", "c", "b", "a", "c", "c"]
    truth = ["a", "b", "b", "c", "a", "a", "c", "b"]
    ids = _logged(quality, STABLE, predicted)
    counts = quality.add_labels(zip(ids, truth, strict=True), NOW + 30)
    assert counts.joined == 8
    window = quality.windows(NOW + 30)[STABLE]
    assert window.accuracy == pytest.approx(accuracy_score(truth, predicted))
    assert window.f1_macro == pytest.approx(f1_score(truth, predicted, average="macro"))
    assert window.coverage == 1.0 and window.labelled == 8
    totals = quality.totals[STABLE]
    assert (totals.correct, totals.wrong) == (5, 3)
    assert totals.delays[3] == 8 and sum(totals.delays) == 8  # 30 s: in (15 s, 60 s]
    assert totals.delay_sum == pytest.approx(240)


def test_a_regressors_live_rmse_and_mae_match_scikit_learn() -> None:
    quality = Quality()
    predicted = [1.0, 2.0, 3.5, 10.0]
    truth = [1.5, 2.0, 3.0, 7.0]
    ids = _logged(quality, STABLE, predicted, regressor=True)
    quality.add_labels(zip(ids, [label_text(t) for t in truth], strict=True), NOW + 1)
    window = quality.windows(NOW + 1)[STABLE]
    assert window.rmse == pytest.approx(math.sqrt(mean_squared_error(truth, predicted)))
    assert window.mae == pytest.approx(mean_absolute_error(truth, predicted))
    assert window.accuracy is None


def test_unknown_duplicate_and_wrong_type_labels_are_counted_not_fatal() -> None:
    quality = Quality(grace=60)
    ids = _logged(quality, STABLE, [1.0, 2.0], regressor=True)
    counts = quality.add_labels([(ids[0], "1"), (ids[0], "1.5"), (ids[1], "setosa"),
                                 ("never-logged", "3")], NOW)
    assert (counts.joined, counts.duplicate, counts.wrong_type, counts.pending) == (1, 1, 1, 1)
    assert quality.pending() == 1 and quality.unknown == 0
    quality.windows(NOW + 61)  # the grace period is over: its prediction never came
    assert quality.pending() == 0 and quality.unknown == 1
    assert quality.totals[STABLE].scored == 1


def test_a_label_that_comes_before_its_prediction_joins_when_the_record_arrives() -> None:
    quality = Quality()
    assert quality.add_labels([("p0", "a")], NOW).pending == 1
    counts = quality.add_predictions(STABLE, ["p0"], ["a"], [NOW - 1], False, NOW + 1)
    assert counts.joined == 1 and quality.pending() == 0
    assert quality.windows(NOW + 1)[STABLE].accuracy == 1.0
    quality.windows(NOW + 10_000)
    assert quality.unknown == 0  # it joined: never counted unknown


def test_one_label_scores_every_version_that_answered_the_request() -> None:
    """A shadow logs the live request's ID: the label judges both versions."""
    quality = Quality()
    _logged(quality, STABLE, ["a", "b"])
    _logged(quality, CANARY, ["a", "a"])
    quality.add_labels([("p0", "a"), ("p1", "b")], NOW)
    windows = quality.windows(NOW)
    assert windows[STABLE].accuracy == 1.0 and windows[CANARY].accuracy == 0.5


def test_a_label_also_judges_the_other_tracks_record_that_comes_after_it() -> None:
    """The shadow's batch reached the monitor first; the stable's is still on its way when
    the label comes: it is scored on arrival, once, and only within the grace period."""
    quality = Quality(grace=60)
    _logged(quality, CANARY, ["a"])
    assert quality.add_labels([("p0", "a")], NOW).joined == 1
    late = quality.add_predictions(STABLE, ["p0"], ["b"], [NOW - 1], False, NOW + 1)
    assert late.joined == 1
    again = quality.add_predictions(STABLE, ["p0"], ["a"], [NOW - 1], False, NOW + 2)
    assert again.joined == 0  # a second record of the same series: the label counted once
    assert (quality.totals[STABLE].correct, quality.totals[STABLE].wrong) == (0, 1)
    assert quality.totals[CANARY].correct == 1 and quality.pending() == 0
    quality.add_predictions(STABLE, ["p1"], ["a"], [NOW], False, NOW + 61)
    quality.add_predictions(CANARY, ["p0"], ["a"], [NOW], False, NOW + 62)
    assert quality.totals[CANARY].correct == 1  # after the grace period: not kept
    assert quality.unknown == 0  # it joined: never counted unknown


def test_the_window_covers_recent_prediction_time_and_the_totals_all_of_it() -> None:
    quality = Quality(window=600, bucket=60)
    old = _logged(quality, STABLE, ["a"] * 4, at=NOW - 3000, prefix="old")
    new = _logged(quality, STABLE, ["a"] * 4, at=NOW, prefix="new")
    quality.add_labels([(i, "b") for i in old] + [(i, "a") for i in new[:2]], NOW)
    window = quality.windows(NOW)[STABLE]
    assert (window.accuracy, window.labelled, window.predictions) == (1.0, 2, 4)
    assert window.coverage == 0.5
    assert (quality.totals[STABLE].correct, quality.totals[STABLE].wrong) == (2, 4)


def test_the_index_is_bounded_in_rows_and_in_age() -> None:
    quality = Quality(max_predictions=100, keep=3600)
    _logged(quality, STABLE, ["a"] * 150)
    assert quality.indexed() == 100
    assert quality.add_labels([("p0", "a")], NOW).pending == 1  # forgotten: the oldest
    assert quality.add_labels([("p149", "a")], NOW).joined == 1
    quality.add_predictions(STABLE, ["late"], ["a"], [NOW + 4000], False, NOW + 4000)
    assert quality.indexed() == 1


def test_label_bodies_in_every_form_and_bad_entries_named() -> None:
    assert parse_labels(b'{"id": "a", "label": "x"}').pairs == [("a", "x")]
    assert parse_labels(b'[{"id": "a", "label": 1}, {"id": 7, "label": 2.0}]').pairs == [
        ("a", "1"), ("7", "2")]
    assert parse_labels(b'{"labels": [{"id": "a", "label": true}]}').pairs == [("a", "true")]
    assert parse_labels(b'{"id":"a","label":"x"}\n{"id":"b","label":"y"}\n',
                        ndjson=True).pairs == [("a", "x"), ("b", "y")]
    parsed = parse_labels(b'[{"id": "", "label": 1}, {"id": "a", "label": null}, 3, '
                          b'{"id": "b", "label": "ok"}]')
    assert parsed.pairs == [("b", "ok")] and parsed.invalid == 3
    assert parsed.errors == ["labels[0].id: expected a non-empty string",
                             "labels[1].label: expected a string, number or boolean, got None",
                             "labels[2]: expected an object with id and label"]
