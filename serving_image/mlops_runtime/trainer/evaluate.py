"""Metrics, reference statistics and prediction distributions; all pure.

The reference statistics describe the training split's inputs so the model
server and the operator can measure input drift against them (numeric and boolean
features: mean, std, quantiles; categorical ones: the share of each category); the
prediction distribution on the held-out split is the baseline for canary quality checks.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    balanced_accuracy_score,
    brier_score_loss,
    f1_score,
    mean_absolute_error,
    mean_squared_error,
    r2_score,
    roc_auc_score,
)

from mlops_runtime.trainer.preprocessing import MISSING_CATEGORY

QUANTILE_BINS = 10
HISTOGRAM_BINS = 10
#: Categories whose shares the termination message carries (the rest: ``otherShare``).
SUMMARY_CATEGORIES = 10


def finite(value: Any, digits: int | None = None) -> float | None:
    """A JSON-safe float: ``None`` for NaN/inf, optionally rounded."""
    number = float(value)
    if not math.isfinite(number):
        return None
    return round(number, digits) if digits is not None else number


def significant(value: Any, digits: int = 6) -> float | None:
    """Round to significant digits: stats span many magnitudes, so decimals won't do."""
    number = finite(value)
    return None if number is None else float(f"{number:.{digits}g}")


def classification_metrics(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    probabilities: np.ndarray | None,
    classes: Sequence[Any],
) -> dict[str, float | None]:
    """accuracy, macro f1, balanced accuracy, and from the probabilities one-vs-rest macro
    roc_auc, pr_auc (average precision) and the Brier score (None when undefined)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a class absent from the rows: its recall is 0
        balanced = finite(balanced_accuracy_score(y_true, y_pred))
    metrics: dict[str, float | None] = {
        "accuracy": finite(accuracy_score(y_true, y_pred)),
        "f1": finite(f1_score(y_true, y_pred, average="macro", zero_division=0)),
        "balanced_accuracy": balanced,
        "roc_auc": None,
        "pr_auc": None,
        "brier": None,
    }
    if probabilities is not None:
        metrics["roc_auc"] = _roc_auc(y_true, probabilities, classes)
        metrics["pr_auc"] = _pr_auc(y_true, probabilities, classes)
        metrics["brier"] = _brier(y_true, probabilities, classes)
    return metrics


def _roc_auc(y_true: np.ndarray, probabilities: np.ndarray, classes: Sequence[Any]) -> float | None:
    """Binary or one-vs-rest macro AUC; None when a class is missing from the test split."""
    labels = list(classes)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # an undefined AUC is reported as None instead
            if len(labels) == 2:
                return finite(roc_auc_score(y_true, probabilities[:, 1], labels=labels))
            return finite(
                roc_auc_score(
                    y_true, probabilities, multi_class="ovr", average="macro", labels=labels
                )
            )
    except ValueError:
        return None


def _pr_auc(y_true: np.ndarray, probabilities: np.ndarray, classes: Sequence[Any]) -> float | None:
    """Average precision of the positive class (binary) or its one-vs-rest macro mean; None
    when a class has no positive row (its precision-recall curve is undefined)."""
    labels = list(classes)
    truth = np.asarray(y_true)[:, None] == np.asarray(labels, dtype=object)[None, :]
    chosen = [1] if len(labels) == 2 else range(len(labels))
    if any(not truth[:, i].any() for i in chosen):
        return None
    return finite(np.mean([average_precision_score(truth[:, i], probabilities[:, i])
                           for i in chosen]))


def _brier(y_true: np.ndarray, probabilities: np.ndarray, classes: Sequence[Any]) -> float | None:
    """scikit-learn's Brier score: binary, of the positive class; more classes, the summed
    squared distance from the one-hot truth. Lower is better."""
    try:
        labels = list(classes)
        scores = probabilities[:, 1] if len(labels) == 2 else probabilities
        return finite(brier_score_loss(y_true, scores, labels=labels, pos_label=labels[-1]
                                       if len(labels) == 2 else None))
    except ValueError:
        return None


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float | None]:
    """rmse, mae and r2 (r2 is None on a single test row)."""
    return {
        "rmse": finite(math.sqrt(mean_squared_error(y_true, y_pred))),
        "mae": finite(mean_absolute_error(y_true, y_pred)),
        "r2": finite(r2_score(y_true, y_pred)) if len(y_true) > 1 else None,
    }


def round_metrics(metrics: dict[str, float | None], digits: int = 6) -> dict[str, float | None]:
    """Metrics rounded for the termination message."""
    return {k: None if v is None else finite(v, digits) for k, v in metrics.items()}


def numeric_stats(column: np.ndarray) -> dict[str, Any]:
    """Mean, std, min, max and the 11 edges of 10 quantile bins of the present values;
    ``missing`` (a count) only when some are NaN."""
    present = column[~np.isnan(column)]
    levels = np.linspace(0.0, 1.0, QUANTILE_BINS + 1)
    stats: dict[str, Any] = {
        "count": int(present.size),
        "mean": significant(present.mean()),
        "std": significant(present.std()),
        "min": significant(present.min()),
        "max": significant(present.max()),
        "quantileEdges": [significant(v) for v in np.quantile(present, levels)],
    }
    if present.size != column.size:
        stats["missing"] = int(column.size - present.size)
    return stats


def category_stats(column: pd.Series) -> dict[str, Any]:
    """How often each category occurs (most frequent first) and how many are missing."""
    values = column.astype(object).astype(str)
    missing = int((values == MISSING_CATEGORY).sum())
    counts = values[values != MISSING_CATEGORY].value_counts()
    ordered = sorted(counts.items(), key=lambda item: (-int(item[1]), str(item[0])))
    return {
        "type": "categorical",
        "count": int(len(values) - missing),
        "missing": missing,
        "categories": {str(name): int(count) for name, count in ordered},
    }


def feature_stats(x: np.ndarray, features: Sequence[str]) -> dict[str, dict[str, Any]]:
    """:func:`numeric_stats` of each column of a float matrix."""
    return {name: numeric_stats(x[:, index].astype("float64")) for index, name in
            enumerate(features)}


def reference_stats(x: np.ndarray | pd.DataFrame,
                    kinds: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """Reference statistics of the training inputs, by feature (``kinds``: name -> kind)."""
    if isinstance(x, np.ndarray):
        return feature_stats(x, list(kinds))
    return {name: category_stats(x[name]) if kind == "categorical"
            else numeric_stats(x[name].to_numpy(dtype="float64")) for name, kind in kinds.items()}


def _category_summary(values: dict[str, Any]) -> dict[str, Any]:
    total = values["count"] + values["missing"]
    shares = {name: significant(count / total, 4)
              for name, count in list(values["categories"].items())[:SUMMARY_CATEGORIES]}
    summary: dict[str, Any] = {"type": "categorical", "shares": shares}
    other = total - values["missing"] - sum(
        list(values["categories"].values())[:SUMMARY_CATEGORIES])
    if other:
        summary["otherShare"] = significant(other / total, 4)
    if values["missing"]:
        summary["missingShare"] = significant(values["missing"] / total, 4)
    return summary


def summary_stats(stats: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The compact subset of the reference statistics for the termination message:
    numeric ``mean``/``std``/``min``/``max`` (and ``missingShare`` when some were
    missing); categorical ``shares`` of the most frequent categories, ``otherShare``,
    ``missingShare``."""
    summary: dict[str, dict[str, Any]] = {}
    for name, values in stats.items():
        if values.get("type") == "categorical":
            summary[name] = _category_summary(values)
            continue
        summary[name] = {key: values[key] for key in ("mean", "std", "min", "max")}
        if values.get("missing"):
            total = values["count"] + values["missing"]
            summary[name]["missingShare"] = significant(values["missing"] / total, 4)
    return summary


def class_distribution(y_pred: np.ndarray, classes: Sequence[Any]) -> dict[str, Any]:
    """Frequency of each predicted class (keys are the labels as strings)."""
    total = len(y_pred)
    labels = [str(c) for c in classes]
    predicted = [str(v) for v in y_pred.tolist()]
    return {
        "type": "classes",
        "count": total,
        "frequencies": {
            label: significant(predicted.count(label) / total) if total else 0.0 for label in labels
        },
    }


def value_histogram(y_pred: np.ndarray, bins: int = HISTOGRAM_BINS) -> dict[str, Any]:
    """Histogram of predicted values with its bin edges, plus mean and std."""
    values = np.asarray(y_pred, dtype="float64").ravel()
    counts, edges = np.histogram(values, bins=bins)
    return {
        "type": "histogram",
        "count": int(values.size),
        "mean": significant(values.mean()),
        "std": significant(values.std()),
        "binEdges": [significant(e) for e in edges],
        "counts": [int(c) for c in counts],
    }
