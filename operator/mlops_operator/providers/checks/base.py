"""What every check observer shares: the shape of an observer, label selectors,
the training reference, and how several series reduce to one value."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mlops_telemetry import DEPLOYMENT_LABEL, NAMESPACE_LABEL, TRACK_LABEL

from mlops_operator.domain.checks import Builtin, CheckSpec, Comparison
from mlops_operator.ports import CanaryTarget, CheckUnavailable, Reading

#: An instant vector: (labels, value) per series.
Vector = Sequence[tuple[Mapping[str, str], float]]


@dataclass(frozen=True)
class CheckKind:
    """One kind of check: the PromQL it asks and how the answer becomes one value.

    ``builtin`` is None for the custom ``query`` kind. ``value`` returns None when
    there is no data (yet) and raises :class:`CheckUnavailable` when it cannot judge.
    """

    builtin: Builtin | None
    query: Callable[[CheckSpec, CanaryTarget], str]
    value: Callable[[CheckSpec, Vector, CanaryTarget], float | Reading | None]


def finite(value: Any) -> bool:
    """A real number (not bool, NaN or infinite)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def samples(vector: Vector) -> list[tuple[Mapping[str, str], float]]:
    """The series with a finite value (NaN from a 0/0 rate means no data)."""
    return [(labels, float(v)) for labels, v in vector if finite(v)]


def selector(target: CanaryTarget, *extra: str) -> str:
    """The label matchers of the target's series (labels added at scrape time)."""
    parts = [
        f'{NAMESPACE_LABEL}="{target.namespace}"',
        f'{DEPLOYMENT_LABEL}="{target.deployment}"',
        f'{TRACK_LABEL}="{target.track}"',
        *extra,
    ]
    return "{" + ",".join(parts) + "}"


def worst(check: CheckSpec, vector: Vector) -> float | None:
    """Several series: the worst one counts (any pod breaking the threshold fails)."""
    values = [v for _, v in samples(vector)]
    if not values:
        return None
    return max(values) if check.direction is Comparison.BELOW else min(values)


@dataclass(frozen=True)
class ReferenceStats:
    """What the model did in training, from its ModelVersion spec.

    ``class_shares`` (classifier) or ``prediction_mean``/``prediction_std``
    (regressor) from ``predictionStats``; ``features`` maps a feature to its
    (mean, std) from ``referenceStats``.
    """

    class_shares: Mapping[str, float] | None = None
    prediction_mean: float | None = None
    prediction_std: float | None = None
    features: Mapping[str, tuple[float, float]] = field(default_factory=dict)

    @classmethod
    def of(cls, target: CanaryTarget) -> ReferenceStats:
        """Read ``predictionStats`` and ``referenceStats``; absent parts stay empty."""
        spec = target.model_version_spec
        prediction = spec.get("predictionStats") or {}
        shares = mean = std = None
        if prediction.get("type") == "classes" and isinstance(prediction.get("frequencies"), dict):
            shares = {
                str(label): float(share)
                for label, share in prediction["frequencies"].items()
                if finite(share)
            }
        elif prediction.get("type") == "histogram":
            mean = float(prediction["mean"]) if finite(prediction.get("mean")) else None
            std = float(prediction["std"]) if finite(prediction.get("std")) else None
        features = {
            str(name): (float(stats["mean"]), float(stats["std"]))
            for name, stats in (spec.get("referenceStats") or {}).items()
            if isinstance(stats, Mapping) and finite(stats.get("mean")) and finite(stats.get("std"))
        }
        return cls(class_shares=shares, prediction_mean=mean, prediction_std=std, features=features)


def unavailable(check: CheckSpec, target: CanaryTarget, needs: str) -> CheckUnavailable:
    """The error for a check whose ModelVersion lacks what it compares with."""
    kind = check.builtin.value if check.builtin else "query"
    return CheckUnavailable(
        f"check {check.name!r}: {kind} needs the ModelVersion's {needs} "
        f"and {target.version} has none"
    )
