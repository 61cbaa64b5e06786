"""inputDrift: how far the mean of the target's inputs moved from training, in
training standard deviations, for the worst feature (the ModelVersion's
``referenceStats``). Below ``minSamples`` input rows there is no data."""

from __future__ import annotations

from mlops_telemetry import FEATURE_LABEL, FEATURE_SUM, INPUT_ROWS_TOTAL

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

#: The series carrying the row count, next to the per-feature sums.
TOTAL_FEATURE = "__rows__"
NEEDS = "referenceStats (feature mean/std)"


def query(check: CheckSpec, target: CanaryTarget) -> str:
    """The sum of each feature over all rows, plus the row count."""
    if not ReferenceStats.of(target).features:
        raise unavailable(check, target, NEEDS)
    sel = selector(target)
    return (
        f"sum by ({FEATURE_LABEL}) ({FEATURE_SUM}{sel}) or label_replace("
        f'sum({INPUT_ROWS_TOTAL}{sel}), "{FEATURE_LABEL}", "{TOTAL_FEATURE}", "", "")'
    )


def value(check: CheckSpec, vector: Vector, target: CanaryTarget) -> float | None:
    """The worst feature's |mean shift| / training std; features constant in training
    or unknown to it are skipped."""
    reference = ReferenceStats.of(target)
    if not reference.features:
        raise unavailable(check, target, NEEDS)
    sums = {str(labels.get(FEATURE_LABEL, "")): v for labels, v in samples(vector)}
    rows = sums.pop(TOTAL_FEATURE, 0.0)
    if rows < check.min_samples:
        return None
    distances = []
    for feature, total in sums.items():
        stats = reference.features.get(feature)
        if stats is None or stats[1] <= 0:
            continue
        distances.append(abs(total / rows - stats[0]) / stats[1])
    return max(distances) if distances else None


KIND = CheckKind(Builtin.INPUT_DRIFT, query, value)
