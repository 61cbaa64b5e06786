"""What a reviewer reads beside the headline metrics; all pure.

Classifiers: the confusion matrix, per-class precision/recall/f1/support, the ROC and
precision-recall curves (binary: of the positive class; more classes: one-vs-rest per
class) and calibration (the reliability curve, Brier score and expected calibration
error). Regressors: the residual distribution and a sample of predicted-vs-actual points.
Curves are thinned to at most :data:`MAX_CURVE_POINTS` points so the record stays small.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import (
    confusion_matrix,
    precision_recall_curve,
    precision_recall_fscore_support,
    roc_curve,
)

from mlops_runtime.trainer.evaluate import significant

MAX_CURVE_POINTS = 101
CALIBRATION_BINS = 10
RESIDUAL_QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
RESIDUAL_BINS = 20
MAX_SCATTER_POINTS = 500
#: Classes beyond this many keep their per-class figures in metadata.json only.
SUMMARY_CLASSES = 10


def _thin(*columns: np.ndarray, limit: int = MAX_CURVE_POINTS) -> list[list[float | None]]:
    """Every column sampled at the same evenly spaced indices (first and last kept)."""
    size = len(columns[0])
    keep = np.unique(np.linspace(0, size - 1, min(size, limit)).round().astype(int))
    return [[significant(v, 4) for v in column[keep]] for column in columns]


def _positive_columns(y_true: np.ndarray, probabilities: np.ndarray,
                      classes: Sequence[Any]) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(label, is-this-class, score) for the positive class, or each class when >2."""
    labels = list(classes)
    chosen = [1] if len(labels) == 2 else range(len(labels))
    return [(str(labels[i]), (y_true == labels[i]).astype(int), probabilities[:, i])
            for i in chosen]


def curves(y_true: np.ndarray, probabilities: np.ndarray,
           classes: Sequence[Any]) -> dict[str, list[dict[str, Any]]]:
    """ROC (fpr, tpr) and precision-recall points per positive class; a class absent
    from the rows has no curve (it is left out, not drawn flat)."""
    roc, pr = [], []
    for label, truth, score in _positive_columns(y_true, probabilities, classes):
        if truth.min() == truth.max():
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fpr, tpr, _ = roc_curve(truth, score)
            precision, recall, _ = precision_recall_curve(truth, score)
        fpr_points, tpr_points = _thin(fpr, tpr)
        recall_points, precision_points = _thin(recall[::-1], precision[::-1])
        roc.append({"class": label, "fpr": fpr_points, "tpr": tpr_points})
        pr.append({"class": label, "recall": recall_points, "precision": precision_points,
                   "prevalence": significant(truth.mean(), 4)})
    return {"roc": roc, "pr": pr}


def calibration(y_true: np.ndarray, probabilities: np.ndarray,
                classes: Sequence[Any], bins: int = CALIBRATION_BINS) -> dict[str, Any]:
    """Reliability of the top-label confidence (binary: of the positive class) in equal-width
    bins, and the expected calibration error over them (the Brier score is a metric)."""
    labels = list(classes)
    onehot = (np.asarray(y_true)[:, None] == np.asarray(labels, dtype=object)[None, :])
    if len(labels) == 2:
        confidence, hit = probabilities[:, 1], onehot[:, 1].astype(float)
        kind = f"P({labels[1]})"
    else:
        best = probabilities.argmax(axis=1)
        confidence = probabilities[np.arange(len(best)), best]
        hit = onehot[np.arange(len(best)), best].astype(float)
        kind = "top-label confidence"
    index = np.clip((confidence * bins).astype(int), 0, bins - 1)
    rows, ece = [], 0.0
    for b in range(bins):
        inside = index == b
        count = int(inside.sum())
        if not count:
            continue
        mean_confidence, observed = float(confidence[inside].mean()), float(hit[inside].mean())
        ece += count / len(confidence) * abs(mean_confidence - observed)
        rows.append({"predicted": significant(mean_confidence, 4),
                     "observed": significant(observed, 4), "count": count})
    return {"of": kind, "bins": rows, "ece": significant(ece, 6)}


def classification_diagnostics(y_true: np.ndarray, y_pred: np.ndarray,
                               probabilities: np.ndarray | None,
                               classes: Sequence[Any]) -> dict[str, Any]:
    """Confusion matrix (rows: true class, columns: predicted), per-class figures, and
    with probabilities the curves and calibration."""
    labels = list(classes)
    matrix = confusion_matrix(y_true, y_pred, labels=labels)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        precision, recall, f1, support = precision_recall_fscore_support(
            y_true, y_pred, labels=labels, zero_division=0)
    result: dict[str, Any] = {
        "confusionMatrix": {"labels": [str(c) for c in labels],
                            "counts": [[int(v) for v in row] for row in matrix]},
        "perClass": {str(label): {"precision": significant(precision[i], 4),
                                  "recall": significant(recall[i], 4),
                                  "f1": significant(f1[i], 4), "support": int(support[i])}
                     for i, label in enumerate(labels)},
    }
    if probabilities is not None:
        result.update(curves(y_true, probabilities, labels))
        result["calibration"] = calibration(y_true, probabilities, labels)
    return result


def regression_diagnostics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, Any]:
    """Residuals (actual minus predicted): mean, std, quantiles, histogram, and a sample of
    (actual, predicted) pairs for the picture."""
    actual = np.asarray(y_true, dtype="float64").ravel()
    predicted = np.asarray(y_pred, dtype="float64").ravel()
    residuals = actual - predicted
    counts, edges = np.histogram(residuals, bins=RESIDUAL_BINS)
    sample_actual, sample_predicted = _thin(actual, predicted, limit=MAX_SCATTER_POINTS)
    return {"residuals": {
        "count": int(residuals.size),
        "mean": significant(residuals.mean()),
        "std": significant(residuals.std()),
        "maxAbs": significant(np.abs(residuals).max()),
        "quantiles": {f"p{round(q * 100)}": significant(v) for q, v in
                      zip(RESIDUAL_QUANTILES, np.quantile(residuals, RESIDUAL_QUANTILES),
                          strict=True)},
        "histogram": {"binEdges": [significant(e) for e in edges],
                      "counts": [int(c) for c in counts]},
    }, "predictedVsActual": {"actual": sample_actual, "predicted": sample_predicted}}


def summary(details: dict[str, Any]) -> dict[str, Any]:
    """The part of :func:`classification_diagnostics` / :func:`regression_diagnostics` that
    goes on the ModelVersion: no curves, no histogram; per-class figures up to
    :data:`SUMMARY_CLASSES` classes."""
    out: dict[str, Any] = {}
    matrix = details.get("confusionMatrix")
    if matrix and len(matrix["labels"]) <= SUMMARY_CLASSES:
        out["confusionMatrix"] = matrix
        out["perClass"] = details["perClass"]
    if "calibration" in details:
        out["calibration"] = {k: details["calibration"][k] for k in ("of", "ece")}
    if "residuals" in details:
        residuals = details["residuals"]
        out["residuals"] = {k: residuals[k] for k in ("mean", "std", "maxAbs", "quantiles")}
    return out
