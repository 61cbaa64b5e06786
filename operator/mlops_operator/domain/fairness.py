"""The fairness part of the quality gate: per-group metrics against limits; pure.

The gate spec (``TrainingJob.spec.qualityGate.fairness``)::

    {"sensitiveFeatures": ["sex"], "minGroupSize": 30,
     "limits": [{"metric": "demographic_parity_difference", "max": 0.1},
                {"metric": "demographic_parity_ratio", "min": 0.8}]}

The trainer measures every group on the hold-out (the version's ``spec.fairness``); this
judges. A group with fewer hold-out rows than ``minGroupSize`` is too small to judge,
which fails the gate (a silent pass would hide the group nobody measured). Every message
names the groups at both ends of the gap and their rates.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlops_operator.domain.bounds import at_least, at_most, finite, required_number
from mlops_operator.domain.errors import SpecError

#: Each limit's metric and the per-group rate it compares (named in messages).
FAIRNESS_METRICS: Mapping[str, str] = {
    "demographic_parity_difference": "selectionRate",
    "demographic_parity_ratio": "selectionRate",
    "equal_opportunity_difference": "recall",
    "equalized_odds_difference": "recall",
    "equalized_odds_ratio": "recall",
    "accuracy_difference": "accuracy",
    "group_min_accuracy": "accuracy",
    "group_min_recall": "recall",
}

_RATE_WORDS = {"selectionRate": "selection rate", "recall": "recall", "accuracy": "accuracy",
               "falsePositiveRate": "false positive rate"}


def validate_fairness(raw: Any) -> None:
    """Raise :class:`SpecError` for a malformed ``qualityGate.fairness`` (None is valid)."""
    if raw is None:
        return
    if not isinstance(raw, Mapping):
        raise SpecError("qualityGate.fairness must be an object")
    features = raw.get("sensitiveFeatures")
    if not isinstance(features, list) or not features:
        raise SpecError("qualityGate.fairness.sensitiveFeatures must list at least one column")
    limits = raw.get("limits")
    if not isinstance(limits, list) or not limits:
        raise SpecError("qualityGate.fairness.limits must list at least one limit")
    for index, limit in enumerate(limits):
        where = f"qualityGate.fairness.limits[{index}]"
        if not isinstance(limit, Mapping):
            raise SpecError(f"{where} must be an object")
        if limit.get("metric") not in FAIRNESS_METRICS:
            raise SpecError(f"{where}.metric {limit.get('metric')!r} is not a fairness metric "
                            f"(known: {', '.join(sorted(FAIRNESS_METRICS))})")
        if limit.get("min") is None and limit.get("max") is None:
            raise SpecError(f"{where} ({limit['metric']}) needs min or max")
        for bound in ("min", "max"):
            if limit.get(bound) is not None:
                required_number(limit[bound], f"{where}.{bound}")


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def _ends(report: Mapping[str, Any], metric: str) -> tuple[str, list[str]]:
    """The groups at both ends of the metric's gap, with their rates, for a message."""
    rate = FAIRNESS_METRICS[metric]
    if metric.startswith("equalized_odds"):  # the worse of recall and false positive rate
        rate = _worse_rate(report, metric.endswith("ratio"))
    ends = [str(g) for g in ((report.get("extremes") or {}).get(rate) or []) if g is not None]
    groups = report.get("groups") or {}
    rates = [f"{g} {_fmt(v)}" for g in ends
             if (v := finite((groups.get(g) or {}).get(rate))) is not None]
    return (f"{_RATE_WORDS[rate]} {' vs '.join(rates)}" if rates else _RATE_WORDS[rate]), ends


def _worse_rate(report: Mapping[str, Any], ratio: bool) -> str:
    groups = [g for g in (report.get("groups") or {}).values() if isinstance(g, Mapping)]

    def gap(rate: str) -> float:
        values = [v for g in groups if (v := finite(g.get(rate))) is not None]
        if len(values) < 2:
            return 0.0
        if ratio:
            return 1.0 - (min(values) / max(values) if max(values) > 0 else 1.0)
        return max(values) - min(values)

    return max(("recall", "falsePositiveRate"), key=gap)


def judge_fairness(raw: Mapping[str, Any], report: Any) -> list[dict[str, Any]]:
    """One verdict per limit (and one for groups too small to judge), as keyword arguments
    for a gate reason: metric, value, threshold, passed, message, groups."""
    if not isinstance(report, Mapping) or not isinstance(report.get("metrics"), Mapping):
        return [{"metric": "fairness", "value": None, "threshold": None, "passed": False,
                 "message": "fairness not judged: the trainer reported no per-group metrics "
                            "(spec.fairness of the version)", "groups": None}]
    verdicts: list[dict[str, Any]] = []
    small = [str(g) for g in report.get("smallGroups") or []]
    if small:
        minimum = report.get("minGroupSize", raw.get("minGroupSize", 30))
        counts = ", ".join(f"{g} has {(report.get('groups') or {}).get(g, {}).get('count', '?')}"
                           for g in small)
        verdicts.append({"metric": "minGroupSize", "value": None, "threshold": minimum,
                         "passed": False, "groups": small,
                         "message": f"fairness not judged for {counts} hold-out rows, fewer "
                                    f"than qualityGate.fairness.minGroupSize {minimum}: too "
                                    "small to judge (merge groups, add data or lower it)"})
    for limit in raw.get("limits") or []:
        verdicts.extend(_limit(limit, report))
    return verdicts


def _limit(limit: Mapping[str, Any], report: Mapping[str, Any]) -> list[dict[str, Any]]:
    metric = limit["metric"]
    value = finite(report["metrics"].get(metric))
    detail, ends = _ends(report, metric)
    out = []
    for bound, word in (("min", "below"), ("max", "above")):
        if limit.get(bound) is None:
            continue
        threshold = float(limit[bound])
        if value is None:
            out.append({"metric": metric, "value": None, "threshold": threshold,
                        "passed": False, "groups": ends,
                        "message": f"{metric} could not be computed ({detail}): a group "
                                   "lacks the rows it needs (e.g. no positive labels)"})
            continue
        passed = (at_least if bound == "min" else at_most)(value, threshold)
        relation = "within" if passed else word
        out.append({"metric": metric, "value": value, "threshold": threshold, "passed": passed,
                    "groups": ends,
                    "message": f"{metric} = {_fmt(value)} {relation} {bound} {_fmt(threshold)} "
                               f"({detail})"})
    return out
