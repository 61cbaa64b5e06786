"""liveAccuracy: accuracy on labelled traffic, from the monitor's join of feedback labels
with logged predictions (``mlops_model_labelled_predictions_total`` by outcome).

Both tracks are counted over the same ``window``. Until the canary (and, when comparing,
the stable version) has ``minSamples`` labelled predictions there is no data, so a
rollout whose labels are late waits instead of promoting on nothing. Then the 95 %
interval decides (``domain.intervals``): its lower bound is the value, passing when it is
above the threshold (-tolerance, or an absolute accuracy); an interval that straddles the
line is no data yet either: more labels will tell.
"""

from __future__ import annotations

from dataclasses import replace

from mlops_telemetry import LABELLED_OUTCOME_LABEL, LABELLED_TOTAL, TRACK_LABEL, VERSION_LABEL

from mlops_operator.domain.checks import Builtin, CheckSpec
from mlops_operator.domain.intervals import difference, wilson
from mlops_operator.ports import CanaryTarget, Reading
from mlops_operator.providers.checks.base import CheckKind, Vector, samples, selector


def query(check: CheckSpec, target: CanaryTarget) -> str:
    """Labelled predictions by track and outcome: the canary's version, the stable track."""
    canary = selector(target, f'{VERSION_LABEL}="{target.version}"')
    stable = selector(replace(target, track="stable"))
    by = f"sum by ({TRACK_LABEL}, {LABELLED_OUTCOME_LABEL})"
    return (f"{by} (increase({LABELLED_TOTAL}{canary}[{check.window}]))"
            f" or {by} (increase({LABELLED_TOTAL}{stable}[{check.window}]))")


def _counts(vector: Vector, track: str) -> tuple[float, float]:
    """(correct, labelled) of one track."""
    outcomes = {str(labels.get(LABELLED_OUTCOME_LABEL)): v for labels, v in samples(vector)
                if labels.get(TRACK_LABEL) == track}
    correct = outcomes.get("correct", 0.0)
    return correct, correct + outcomes.get("wrong", 0.0)


def _share(correct: float, n: float) -> str:
    low, high = wilson(correct, n)
    return f"{correct / n:.3f} [{low:.3f}, {high:.3f}] of {n:.0f} labelled"


def value(check: CheckSpec, vector: Vector, target: CanaryTarget) -> Reading:
    """The interval's lower bound once there are enough labels and it is decisive."""
    correct, n = _counts(vector, target.track)
    if n < check.min_samples:
        return Reading(None, f"{n:.0f} of {check.min_samples} labelled {target.track} "
                             f"predictions in the last {check.window}")
    if check.tolerance is None:
        low, high = wilson(correct, n)
        detail = f"{target.track} {_share(correct, n)} (95%), threshold {check.threshold:g}"
    else:
        stable_correct, stable_n = _counts(vector, "stable")
        if stable_n < check.min_samples:
            return Reading(None, f"{stable_n:.0f} of {check.min_samples} labelled stable "
                                 f"predictions in the last {check.window}")
        low, high = difference(correct, n, stable_correct, stable_n)
        detail = (f"{target.track} {_share(correct, n)}, stable "
                  f"{_share(stable_correct, stable_n)}; difference "
                  f"{correct / n - stable_correct / stable_n:+.3f} [{low:+.3f}, {high:+.3f}] "
                  f"(95%), tolerance {check.tolerance:g}")
    if low <= check.threshold <= high:
        return Reading(None, f"{detail}: not yet decisive")
    return Reading(low, detail)


KIND = CheckKind(Builtin.LIVE_ACCURACY, query, value)
