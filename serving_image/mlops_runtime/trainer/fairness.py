"""Per-group metrics of the hold-out for ``qualityGate.fairness``, and reweighing.

The trainer measures; the operator judges (``domain/fairness.py`` holds the limits).
The groups are the values of the sensitive column(s), which may be kept out of the
model's inputs (``excludeFromInputs``, the default) but must be in the data. fairlearn's
``MetricFrame`` computes every group's selection rate, accuracy, recall (true positive
rate) and false positive rate, and the gaps between groups; the report names the groups
at both ends of each gap, so a rejection can say who is treated worse.

``mitigation: reweighing`` (Kamiran & Calders) weights each training row by
P(group)·P(label) / P(group, label), so that in the weighted data the label no longer
depends on the group; the estimator must accept ``sample_weight``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mlops_runtime.trainer.errors import TrainerError

MITIGATIONS = ("none", "reweighing")
MAX_SENSITIVE_FEATURES = 3
MAX_GROUPS = 20
DEFAULT_MIN_GROUP_SIZE = 30
MISSING_GROUP = "(missing)"
_FIELDS = {"sensitiveFeatures", "excludeFromInputs", "minGroupSize", "positiveLabel",
           "mitigation", "limits"}


@dataclass(frozen=True)
class FairnessSpec:
    """How to group the rows and what to do about it (the limits are the operator's)."""

    sensitive_features: tuple[str, ...]
    exclude_from_inputs: bool = True
    min_group_size: int = DEFAULT_MIN_GROUP_SIZE
    positive_label: Any = None
    mitigation: str = "none"


def _invalid(message: str) -> TrainerError:
    return TrainerError("InvalidParams", f"qualityGate.fairness{message}")


def parse_fairness(gate: Any) -> FairnessSpec | None:
    """Validate ``qualityGate.fairness`` (absent: no per-group metrics)."""
    raw = gate.get("fairness") if isinstance(gate, Mapping) else None
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise _invalid(f" must be an object, got {type(raw).__name__}")
    unknown = sorted(set(raw) - _FIELDS)
    if unknown:
        raise _invalid(f".{unknown[0]} is not a known field; valid: {', '.join(sorted(_FIELDS))}")
    columns = raw.get("sensitiveFeatures")
    if (not isinstance(columns, list) or not 1 <= len(columns) <= MAX_SENSITIVE_FEATURES
            or not all(isinstance(c, str) and c for c in columns)
            or len(set(columns)) != len(columns)):
        raise _invalid(f".sensitiveFeatures must list 1 to {MAX_SENSITIVE_FEATURES} distinct "
                       f"column names, got {columns!r}")
    exclude = raw.get("excludeFromInputs", True)
    if not isinstance(exclude, bool):
        raise _invalid(f".excludeFromInputs must be true or false, got {exclude!r}")
    size = raw.get("minGroupSize", DEFAULT_MIN_GROUP_SIZE)
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        raise _invalid(f".minGroupSize must be an integer of at least 1, got {size!r}")
    mitigation = raw.get("mitigation", "none")
    if mitigation not in MITIGATIONS:
        raise _invalid(f".mitigation must be one of {', '.join(MITIGATIONS)}, got {mitigation!r}")
    return FairnessSpec(tuple(columns), exclude, size, raw.get("positiveLabel"), mitigation)


def check_columns(spec: FairnessSpec, frame: pd.DataFrame, target: str,
                  features: tuple[str, ...] | None) -> None:
    """The sensitive columns exist, are not the target, and are not both excluded from and
    listed among the inputs."""
    for index, column in enumerate(spec.sensitive_features):
        where = f".sensitiveFeatures[{index}]"
        if column == target:
            raise _invalid(f"{where} {column!r} is the target column")
        if column not in frame.columns:
            raise TrainerError("MissingFeature", f"qualityGate.fairness{where} {column!r} is not "
                               f"a column of the dataset; columns: {', '.join(frame.columns)}")
        if spec.exclude_from_inputs and features is not None and column in features:
            raise _invalid(f"{where} {column!r} is kept out of the model's inputs "
                           "(excludeFromInputs: true) but dataset.features lists it; remove "
                           "it there or set excludeFromInputs: false")


def group_labels(frame: pd.DataFrame, spec: FairnessSpec, rows: np.ndarray) -> np.ndarray:
    """Each row's group, spelled ``column=value`` (joined by commas for several columns)."""
    parts = []
    for column in spec.sensitive_features:
        values = frame[column].iloc[rows]
        text = values.astype(object).where(values.notna(), MISSING_GROUP).map(str).to_numpy()
        parts.append(np.char.add(f"{column}=", text.astype(str)))
    labels = parts[0]
    for more in parts[1:]:
        labels = np.char.add(np.char.add(labels, ","), more)
    return labels.astype(object)


def positive_class(spec: FairnessSpec, classes: list[Any] | None, task: str) -> Any:
    """The class a "selection" means: ``positiveLabel``, else the greater of two classes."""
    if task != "classification" or classes is None:
        raise _invalid(" needs a classifier: selection rates and error rates are per class")
    if len(classes) != 2:
        raise _invalid(f" needs a binary classifier; the target has {len(classes)} classes")
    if spec.positive_label is None:
        return classes[1]
    for label in classes:
        if label == spec.positive_label or str(label) == str(spec.positive_label):
            return label
    raise _invalid(f".positiveLabel {spec.positive_label!r} is not a class of the target "
                   f"(classes: {', '.join(map(str, classes))})")


def reweighing_weights(groups: np.ndarray, y: np.ndarray) -> np.ndarray:
    """P(group)·P(label) / P(group, label) per row: label and group independent when weighted."""
    table = pd.DataFrame({"group": groups, "label": y})
    p_group = table["group"].map(table["group"].value_counts(normalize=True))
    p_label = table["label"].map(table["label"].value_counts(normalize=True))
    p_joint = table.groupby(["group", "label"])["group"].transform("size") / len(table)
    return (p_group * p_label / p_joint).to_numpy(dtype="float64")


def _rate(value: Any) -> float | None:
    number = float(value)
    return round(number, 6) if math.isfinite(number) else None


def _gap(by_group: pd.Series) -> dict[str, Any]:
    """Difference, ratio and the groups at both ends, over groups where the rate is defined."""
    defined = by_group.dropna()
    if len(defined) < 2:
        return {"difference": None, "ratio": None, "low": None, "high": None}
    low, high = defined.idxmin(), defined.idxmax()
    ratio = defined[low] / defined[high] if defined[high] > 0 else 1.0
    return {"difference": _rate(defined[high] - defined[low]), "ratio": _rate(ratio),
            "low": str(low), "high": str(high)}


def report(spec: FairnessSpec, groups: np.ndarray, y_true: np.ndarray, predicted: np.ndarray,
           positive: Any) -> dict[str, Any]:
    """Per-group rates on the hold-out and the gaps the gate judges (fairlearn's names)."""
    from fairlearn.metrics import (
        MetricFrame,
        count,
        false_positive_rate,
        selection_rate,
        true_positive_rate,
    )
    from sklearn.metrics import accuracy_score

    actual = np.asarray(y_true == positive, dtype=int)
    chosen = np.asarray(predicted == positive, dtype=int)
    if len(set(groups)) > MAX_GROUPS:
        raise _invalid(f".sensitiveFeatures make {len(set(groups))} groups; at most "
                       f"{MAX_GROUPS} can be judged")
    frame = MetricFrame(
        metrics={"count": count, "selectionRate": selection_rate, "accuracy": accuracy_score,
                 "recall": true_positive_rate, "falsePositiveRate": false_positive_rate},
        y_true=actual, y_pred=chosen, sensitive_features=pd.Series(groups, name="group"))
    table = frame.by_group
    gaps = {name: _gap(table[name]) for name in
            ("selectionRate", "accuracy", "recall", "falsePositiveRate")}
    metrics = {
        "demographic_parity_difference": gaps["selectionRate"]["difference"],
        "demographic_parity_ratio": gaps["selectionRate"]["ratio"],
        "equal_opportunity_difference": gaps["recall"]["difference"],
        "equalized_odds_difference": _worst(gaps["recall"]["difference"],
                                            gaps["falsePositiveRate"]["difference"], max),
        "equalized_odds_ratio": _worst(gaps["recall"]["ratio"],
                                       gaps["falsePositiveRate"]["ratio"], min),
        "accuracy_difference": gaps["accuracy"]["difference"],
        "group_min_accuracy": _rate(table["accuracy"].min()),
        "group_min_recall": _rate(table["recall"].min()),
    }
    return {
        "sensitiveFeatures": list(spec.sensitive_features),
        "positiveLabel": positive.item() if hasattr(positive, "item") else positive,
        "mitigation": spec.mitigation,
        "excludedFromInputs": spec.exclude_from_inputs,
        "minGroupSize": spec.min_group_size,
        "rows": int(len(groups)),
        "metrics": metrics,
        "extremes": {name: [gap["low"], gap["high"]] for name, gap in gaps.items()
                     if gap["low"] is not None},
        "groups": {str(group): {"count": int(row["count"]),
                                **{k: _rate(row[k]) for k in ("selectionRate", "accuracy",
                                                              "recall", "falsePositiveRate")}}
                   for group, row in table.iterrows()},
        "smallGroups": sorted(str(g) for g, n in table["count"].items()
                              if int(n) < spec.min_group_size),
    }


def _worst(first: float | None, second: float | None, pick: Any) -> float | None:
    values = [v for v in (first, second) if v is not None]
    return pick(values) if values else None


@dataclass(frozen=True)
class Groups:
    """The rows' groups on both sides of the split, and what reweighing gives the fit."""

    spec: FairnessSpec
    train: np.ndarray
    test: np.ndarray
    positive: Any
    weights: np.ndarray | None

    def report(self, y_true: np.ndarray, predicted: np.ndarray) -> dict[str, Any]:
        """The hold-out's per-group metrics (see :func:`report`)."""
        return report(self.spec, self.test, y_true, predicted, self.positive)


def split_groups(spec: FairnessSpec | None, frame: pd.DataFrame, parts: Any,
                 task: str) -> Groups | None:
    """Each training and hold-out row's group, checked before anything is fitted."""
    if spec is None:
        return None
    classes = sorted(set(parts.y_train.tolist()) | set(parts.y_test.tolist())) \
        if task == "classification" else None
    positive = positive_class(spec, classes, task)
    train = group_labels(frame, spec, parts.train_rows)
    weights = reweighing_weights(train, parts.y_train) if spec.mitigation == "reweighing" \
        else None
    return Groups(spec, train, group_labels(frame, spec, parts.test_rows), positive, weights)


def model_columns(spec: FairnessSpec | None, frame: pd.DataFrame) -> pd.DataFrame:
    """The table the model's inputs are chosen from: without the sensitive columns unless
    ``excludeFromInputs: false``."""
    if spec is None or not spec.exclude_from_inputs:
        return frame
    return frame.drop(columns=list(spec.sensitive_features))
