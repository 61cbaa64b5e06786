"""What a reviewer reads: diagnostics, cross-validation folds and their pictures."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from mlops_runtime.trainer import crossval, diagnostics, plots
from mlops_runtime.trainer.errors import TrainerError
from sklearn.datasets import load_diabetes, load_iris
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

PNG = b"\x89PNG\r\n\x1a\n"


def test_confusion_matrix_rows_are_actual_and_columns_predicted() -> None:
    y = np.array(["cat", "cat", "dog", "dog", "dog"])
    predicted = np.array(["cat", "dog", "dog", "dog", "cat"])
    details = diagnostics.classification_diagnostics(y, predicted, None, ["cat", "dog"])
    assert details["confusionMatrix"] == {"labels": ["cat", "dog"], "counts": [[1, 1], [1, 2]]}
    assert details["perClass"]["dog"] == {"precision": pytest.approx(2 / 3, abs=1e-4),
                                          "recall": pytest.approx(2 / 3, abs=1e-4),
                                          "f1": pytest.approx(2 / 3, abs=1e-4), "support": 3}
    assert "roc" not in details and "calibration" not in details  # no probabilities


def test_curves_and_calibration_of_a_binary_classifier() -> None:
    y = np.array([0, 0, 1, 1])
    proba = np.array([[0.9, 0.1], [0.35, 0.65], [0.3, 0.7], [0.05, 0.95]])
    details = diagnostics.classification_diagnostics(y, proba.argmax(axis=1), proba, [0, 1])
    (roc,) = details["roc"]
    assert roc["class"] == "1" and roc["fpr"][0] == 0.0 and roc["tpr"][-1] == 1.0
    (pr,) = details["pr"]
    assert pr["prevalence"] == 0.5 and pr["recall"][0] == 0.0
    bins = details["calibration"]["bins"]
    # P(1) of 0.1 lands in the first bin (never 1), 0.65 and 0.7 in two others, 0.95 in the last
    assert [(b["count"], b["observed"]) for b in bins] == [(1, 0.0), (1, 0.0), (1, 1.0), (1, 1.0)]
    assert details["calibration"]["ece"] == pytest.approx((0.1 + 0.65 + 0.3 + 0.05) / 4)


def test_a_class_absent_from_the_rows_has_no_curve() -> None:
    y = np.array([0, 0, 1, 1])
    proba = np.full((4, 3), 1 / 3)
    details = diagnostics.classification_diagnostics(y, np.zeros(4, int), proba, [0, 1, 2])
    assert [c["class"] for c in details["roc"]] == ["0", "1"]


def test_curves_are_thinned_keeping_both_ends() -> None:
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 5000)
    score = np.clip(y * 0.3 + rng.random(5000) * 0.7, 0, 1)
    proba = np.column_stack([1 - score, score])
    (roc,) = diagnostics.curves(y, proba, [0, 1])["roc"]
    assert len(roc["fpr"]) <= diagnostics.MAX_CURVE_POINTS
    assert (roc["fpr"][0], roc["tpr"][-1]) == (0.0, 1.0)


def test_residuals_are_actual_minus_predicted() -> None:
    details = diagnostics.regression_diagnostics(np.array([10.0, 20.0, 30.0]),
                                                 np.array([12.0, 20.0, 27.0]))
    residuals = details["residuals"]
    assert (residuals["mean"], residuals["maxAbs"]) == (pytest.approx(1 / 3), 3.0)
    assert residuals["quantiles"]["p50"] == 0.0 and sum(residuals["histogram"]["counts"]) == 3
    assert set(diagnostics.summary(details)) == {"residuals"}


def test_the_version_gets_per_class_figures_only_for_few_classes() -> None:
    labels = [str(i) for i in range(diagnostics.SUMMARY_CLASSES + 1)]
    y = np.array(labels * 2)
    many = diagnostics.classification_diagnostics(y, y, None, labels)
    assert diagnostics.summary(many) == {}
    few = diagnostics.classification_diagnostics(y[:4], y[:4], None, labels[:2])
    assert set(diagnostics.summary(few)) == {"confusionMatrix", "perClass"}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"folds": 1}, "crossValidation.folds must be an integer from 2 to 20, got 1"),
        ({"folds": True}, "crossValidation.folds must be an integer"),
        ({"method": "loo"}, "crossValidation.method must be one of auto, kfold, stratified"),
        ({"method": "group"}, "crossValidation.groupColumn is required with method: group"),
        ({"groupColumn": "customer"}, "groupColumn is required with method: group, and only"),
        ({"shuffle": True}, "crossValidation.shuffle is not a known field"),
        ([], "crossValidation must be an object, got list"),
    ],
)
def test_bad_cross_validation_names_the_field(raw: object, message: str) -> None:
    with pytest.raises(TrainerError, match=message):
        crossval.parse_cross_validation(raw)


def test_auto_is_stratified_for_classifiers_and_kfold_for_regressors() -> None:
    spec = crossval.parse_cross_validation({})
    assert spec is not None and spec.folds == 5
    assert crossval.resolve(spec, "classification").method == "stratified"
    assert crossval.resolve(spec, "regression").method == "kfold"
    assert crossval.parse_cross_validation(None) is None


def test_stratified_folds_score_every_metric_with_mean_and_std() -> None:
    x, y = load_iris(return_X_y=True)
    pipeline = Pipeline([("scale", StandardScaler()), ("model", LogisticRegression())])
    spec = crossval.CrossValidationSpec(folds=4, method="stratified")
    result = crossval.cross_validate(pipeline, x, y, spec, classifier=True, seed=1)
    assert [f["rows"] for f in result["perFold"]] == [38, 38, 37, 37]
    accuracy = result["metrics"]["accuracy"]
    assert 0.85 < accuracy["mean"] <= 1 and 0 <= accuracy["std"] < 0.1 and accuracy["folds"] == 4
    assert accuracy["mean"] == pytest.approx(np.mean([f["accuracy"] for f in result["perFold"]]),
                                             abs=1e-6)
    assert not hasattr(pipeline, "classes_")  # the folds fit copies, never the model itself
    summary = crossval.summary(result)
    assert set(summary["metrics"]["accuracy"]) == {"mean", "std"} and "failedFolds" not in summary


def test_time_folds_validate_on_later_rows_and_group_folds_keep_groups_apart() -> None:
    x, y = load_diabetes(return_X_y=True)
    time = crossval.CrossValidationSpec(folds=3, method="time")
    result = crossval.cross_validate(Ridge(), x, y, time, classifier=False, seed=0)
    assert [f["rows"] for f in result["perFold"]] == [110, 110, 110]  # 442 // (3 + 1)
    groups = np.repeat(np.arange(len(y) // 2 + 1), 2)[: len(y)].astype(str)
    folds = crossval._folds(crossval.CrossValidationSpec(3, "group", "g"), y, groups, 0)
    for fit_rows, check_rows in folds:
        assert not set(groups[fit_rows]) & set(groups[check_rows])


def test_a_failed_fold_is_recorded_and_the_rest_still_count() -> None:
    x = np.arange(40, dtype=float).reshape(-1, 1)
    y = np.array([0] * 30 + [1] * 10)  # time folds: the early ones see one class only
    spec = crossval.CrossValidationSpec(folds=5, method="time")
    result = crossval.cross_validate(LogisticRegression(), x, y, spec, classifier=True, seed=0)
    assert result["failedFolds"] and result["perFold"]
    assert "ValueError" in result["failedFolds"][0]["error"]
    assert crossval.summary(result)["failedFolds"] == len(result["failedFolds"])


def test_too_few_rows_for_the_folds_is_a_clear_error() -> None:
    spec = crossval.CrossValidationSpec(folds=5, method="stratified")
    with pytest.raises(TrainerError, match="cannot cut 6 training rows into 5 stratified folds"):
        crossval.cross_validate(LogisticRegression(), np.zeros((6, 1)), np.array([0, 1] * 3),
                                spec, classifier=True, seed=0)


def test_pictures_are_pngs_named_for_what_they_show() -> None:
    y = np.array([0, 1, 2] * 10)
    proba = np.random.default_rng(0).dirichlet([1, 1, 1], size=30)
    details = diagnostics.classification_diagnostics(y, proba.argmax(axis=1), proba, [0, 1, 2])
    drawn = plots.draw_all(details, "iris")
    assert list(drawn) == ["confusion-matrix.png", "roc.png", "precision-recall.png",
                           "calibration.png"]
    assert all(data.startswith(PNG) for data in drawn.values())
    assert plots.draw_all(details, "iris") == drawn  # no timestamp: the same bytes again
    regression = diagnostics.regression_diagnostics(np.arange(9.0), np.arange(9.0) + 1)
    assert list(plots.draw_all(regression, "houses")) == ["residuals.png"]


def test_permutation_importance_ranks_the_column_the_target_depends_on_first() -> None:
    from mlops_runtime.trainer import importance

    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"noise": rng.normal(size=600), "signal": rng.normal(size=600),
                          "weak": rng.normal(size=600)})
    y = (frame["signal"] + 0.3 * frame["weak"] > 0).astype(int).to_numpy()
    model = Pipeline([("scale", StandardScaler()), ("estimator", LogisticRegression())])
    model.fit(frame.iloc[:400], y[:400])
    ranked = importance.permutation(model, frame.iloc[400:], y[400:], list(frame.columns),
                                    True, 7)
    assert ranked is not None and ranked["rows"] == 200 and ranked["scoring"] == "accuracy"
    assert [f["name"] for f in ranked["features"]] == ["signal", "weak", "noise"]
    assert ranked["features"][0]["mean"] > 0.3 and abs(ranked["features"][2]["mean"]) < 0.02
    summary = importance.summary(ranked)
    assert list(summary["features"]) == ["signal", "weak", "noise"]
    picture = plots.draw_all({"importance": ranked}, "m")
    assert list(picture) == ["importance.png"] and picture["importance.png"].startswith(PNG)


def test_a_model_that_cannot_be_scored_has_no_importance_rather_than_failing() -> None:
    from mlops_runtime.trainer import importance

    unfitted = Pipeline([("estimator", LogisticRegression())])
    assert importance.permutation(unfitted, np.zeros((5, 2)), np.zeros(5), ["a", "b"],
                                  True, 0) is None


def test_the_fairness_picture_has_a_bar_per_group() -> None:
    report = {"sensitiveFeatures": ["sex"], "groups": {
        "sex=f": {"selectionRate": 0.4, "accuracy": 0.8, "recall": 0.7, "falsePositiveRate": 0.1},
        "sex=m": {"selectionRate": 0.7, "accuracy": 0.8, "recall": None,
                  "falsePositiveRate": 0.2}}}
    drawn = plots.draw_all({"fairness": report}, "credit")
    assert list(drawn) == ["fairness.png"] and drawn["fairness.png"].startswith(PNG)
