"""predictionShift: how far the target's predictions are from what the model predicted
in training (the ModelVersion's ``predictionStats``).

Classifiers: the largest difference in class share. Regressors: the shift of the
mean prediction in training standard deviations. Below ``minSamples`` predictions
there is no data: the shares of a handful of requests are noise, not a shift.
"""

from __future__ import annotations

from mlops_telemetry import CLASS_LABEL, PREDICTION_VALUE, PREDICTIONS_TOTAL

from mlops_operator.domain.checks import Builtin, CheckSpec
from mlops_operator.ports import CanaryTarget
from mlops_operator.providers.checks.base import (
    CheckKind,
    ReferenceStats,
    Vector,
    samples,
    selector,
    unavailable,
)

#: The series carrying the total prediction count, next to the per-class ones.
TOTAL_CLASS = "__total__"
NEEDS = "predictionStats (class frequencies or mean/std)"


def query(check: CheckSpec, target: CanaryTarget) -> str:
    """Counts per class plus their total, or the sum and count of predicted values."""
    reference = ReferenceStats.of(target)
    sel = selector(target)
    if reference.class_shares:
        return (
            f"sum by ({CLASS_LABEL}) ({PREDICTIONS_TOTAL}{sel}) or label_replace("
            f'sum({PREDICTIONS_TOTAL}{sel}), "{CLASS_LABEL}", "{TOTAL_CLASS}", "", "")'
        )
    if reference.prediction_mean is not None:
        return (
            f'label_replace(sum({PREDICTION_VALUE}_sum{sel}), "stat", "sum", "", "") or '
            f'label_replace(sum({PREDICTION_VALUE}_count{sel}), "stat", "count", "", "")'
        )
    raise unavailable(check, target, NEEDS)


def value(check: CheckSpec, vector: Vector, target: CanaryTarget) -> float | None:
    """The distance to training, or None below ``minSamples`` predictions."""
    reference = ReferenceStats.of(target)
    found = samples(vector)
    if reference.class_shares:
        counts = {str(labels.get(CLASS_LABEL, "")): v for labels, v in found}
        total = counts.pop(TOTAL_CLASS, sum(counts.values()))
        if not counts or total < check.min_samples:
            return None
        shares = {c: n / total for c, n in counts.items()}
        classes = set(shares) | set(reference.class_shares)
        return max(abs(shares.get(c, 0.0) - reference.class_shares.get(c, 0.0)) for c in classes)
    if reference.prediction_mean is not None:
        stats = {str(labels.get("stat", "")): v for labels, v in found}
        if stats.get("count", 0.0) < check.min_samples or "sum" not in stats:
            return None
        shift = abs(stats["sum"] / stats["count"] - reference.prediction_mean)
        return shift / reference.prediction_std if reference.prediction_std else shift
    raise unavailable(check, target, NEEDS)


KIND = CheckKind(Builtin.PREDICTION_SHIFT, query, value)
