"""The quality gate: approve or reject a trained model from its metrics.

A gate spec (as in ``TrainingJob.spec.qualityGate``)::

    {"metrics": [{"name": "accuracy", "min": 0.9}, {"name": "rmse", "max": 60}],
     "maxRegression": {"metric": "accuracy", "tolerance": 0.02}}

Bounds are inclusive. ``maxRegression`` compares in the metric's own direction, by
default (``compareWith: champion``) with the champion's score that the trainer measured
on the same rows as the new version's (the version's ``spec.evaluation``); with
``compareWith: bestApproved``, with the best Approved version's own hold-out metric.
A metric the gate names but the results lack fails (with a message saying so); a
metric whose direction is unknown is a :class:`GateError`, never a guess.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from mlops_operator.domain.bounds import at_least, at_most, finite, required_number
from mlops_operator.domain.errors import SpecError
from mlops_operator.domain.fairness import judge_fairness, validate_fairness


class Direction(StrEnum):
    """Which way a metric improves."""

    HIGHER_IS_BETTER = "higher"
    LOWER_IS_BETTER = "lower"


METRIC_DIRECTIONS: Mapping[str, Direction] = {
    "accuracy": Direction.HIGHER_IS_BETTER,
    "f1": Direction.HIGHER_IS_BETTER,
    "balanced_accuracy": Direction.HIGHER_IS_BETTER,
    "roc_auc": Direction.HIGHER_IS_BETTER,
    "pr_auc": Direction.HIGHER_IS_BETTER,
    "brier": Direction.LOWER_IS_BETTER,
    "r2": Direction.HIGHER_IS_BETTER,
    "rmse": Direction.LOWER_IS_BETTER,
    "mae": Direction.LOWER_IS_BETTER,
}

class CompareWith(StrEnum):
    """What ``maxRegression`` compares the new version with."""

    CHAMPION = "champion"
    BEST_APPROVED = "bestApproved"



class GateError(SpecError):
    """The gate itself is invalid (unknown metric, no bound, bad number)."""


def metric_direction(name: str) -> Direction:
    """The direction of a known metric; unknown names are a :class:`GateError`."""
    try:
        return METRIC_DIRECTIONS[name]
    except (KeyError, TypeError):
        known = ", ".join(sorted(METRIC_DIRECTIONS))
        raise GateError(f"unknown metric {name!r} in quality gate (known: {known})") from None


@dataclass(frozen=True)
class GateReason:
    """One rule of the gate and how the model fared."""

    metric: str
    value: float | None
    threshold: float | None
    passed: bool
    message: str
    #: What a regression rule compared with (a version's name) and its score there.
    baseline: str | None = None
    baseline_value: float | None = None
    #: The groups a fairness rule is about (both ends of the gap, or the groups too small).
    groups: tuple[str, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form stored in status."""
        data: dict[str, Any] = {
            "metric": self.metric,
            "value": self.value,
            "threshold": self.threshold,
            "passed": self.passed,
            "message": self.message,
        }
        if self.baseline is not None:
            data["baseline"] = self.baseline
            data["baselineValue"] = self.baseline_value
        if self.groups is not None:
            data["groups"] = list(self.groups)
        return data


@dataclass(frozen=True)
class GateResult:
    """Approved only if every rule passed; reasons in gate order."""

    approved: bool
    reasons: tuple[GateReason, ...] = field(default_factory=tuple)

    @property
    def message(self) -> str:
        """The failed rules (or a one-line approval) for a condition message."""
        failed = [r.message for r in self.reasons if not r.passed]
        if failed:
            return "; ".join(failed)
        if not self.reasons:
            return "no quality gate"
        return "all quality gate checks passed"

    def reason_dicts(self) -> list[dict[str, Any]]:
        """``reasons`` as the list of dicts stored in status."""
        return [r.to_dict() for r in self.reasons]

    def to_dict(self) -> dict[str, Any]:
        """The JSON form stored in status."""
        return {"approved": self.approved, "reasons": self.reason_dicts()}


def _number(value: Any, what: str) -> float:
    try:
        return required_number(value, what)
    except SpecError as error:
        raise GateError(str(error)) from None


def _metric_value(metrics: Mapping[str, Any] | None, name: str) -> float | None:
    """The metric as a float, or None when absent, null, NaN or not a number."""
    return finite((metrics or {}).get(name))


def _fmt(value: float) -> str:
    return f"{value:.6g}"


def _missing(metric: str, threshold: float | None, metrics: Mapping[str, Any] | None) -> GateReason:
    raw = (metrics or {}).get(metric)
    detail = "is missing from the results" if raw is None else f"is not a number ({raw!r})"
    return GateReason(metric, None, threshold, False, f"{metric} {detail}")


def validate_gate(gate: Mapping[str, Any] | None) -> None:
    """Raise :class:`GateError` if ``gate`` is malformed; None or {} is valid."""
    if not gate:
        return
    if not isinstance(gate, Mapping):
        raise GateError(f"quality gate must be an object, not {gate!r}")
    rules = gate.get("metrics") or []
    if not isinstance(rules, list):
        raise GateError("qualityGate.metrics must be a list")
    for index, rule in enumerate(rules):
        if not isinstance(rule, Mapping):
            raise GateError(f"qualityGate.metrics[{index}] must be an object")
        metric_direction(rule.get("name"))
        if rule.get("min") is None and rule.get("max") is None:
            raise GateError(f"qualityGate.metrics[{index}] ({rule.get('name')}) needs min or max")
        for bound in ("min", "max"):
            if rule.get(bound) is not None:
                _number(rule[bound], f"qualityGate.metrics[{index}].{bound}")
    regression = gate.get("maxRegression")
    if regression is not None:
        if not isinstance(regression, Mapping):
            raise GateError("qualityGate.maxRegression must be an object")
        metric_direction(regression.get("metric"))
        tolerance = _number(regression.get("tolerance"), "qualityGate.maxRegression.tolerance")
        if tolerance < 0:
            raise GateError("qualityGate.maxRegression.tolerance must be >= 0")
        compare = regression.get("compareWith", CompareWith.CHAMPION)
        if compare not in tuple(CompareWith):
            raise GateError("qualityGate.maxRegression.compareWith must be one of "
                            f"{', '.join(CompareWith)}, not {compare!r}")
    try:
        validate_fairness(gate.get("fairness"))
    except SpecError as error:
        raise GateError(str(error)) from None


def evaluate_gate(
    gate: Mapping[str, Any] | None,
    metrics: Mapping[str, Any] | None,
    best_previous_metrics: Mapping[str, Any] | None = None,
    evaluation: Mapping[str, Any] | None = None,
    fairness: Mapping[str, Any] | None = None,
) -> GateResult:
    """Judge ``metrics`` against ``gate``; no gate means approved.

    ``best_previous_metrics`` are the metrics of the model's best Approved
    version (see :func:`best_previous`), or None for the first version;
    ``evaluation`` is the version's ``spec.evaluation`` (its own and the champion's
    scores on the same rows), None when its trainer reported none; ``fairness`` is the
    version's ``spec.fairness`` (its per-group metrics), judged by ``qualityGate.fairness``.
    Raises :class:`GateError` for a malformed gate.
    """
    validate_gate(gate)
    if not gate:
        return GateResult(approved=True, reasons=())
    reasons: list[GateReason] = []
    for rule in gate.get("metrics") or []:
        name = rule["name"]
        for bound, check, word in (("min", at_least, "below"), ("max", at_most, "above")):
            if rule.get(bound) is None:
                continue
            threshold = float(rule[bound])
            value = _metric_value(metrics, name)
            if value is None:
                reasons.append(_missing(name, threshold, metrics))
                continue
            passed = check(value, threshold)
            relation = ("within" if passed else word) + f" {bound} {_fmt(threshold)}"
            reasons.append(
                GateReason(name, value, threshold, passed, f"{name} = {_fmt(value)} {relation}")
            )
    regression = gate.get("maxRegression")
    if regression is not None:
        if regression.get("compareWith", CompareWith.CHAMPION) == CompareWith.BEST_APPROVED:
            reasons.append(_regression(regression, metrics, best_previous_metrics))
        else:
            reasons.append(_champion_regression(regression, evaluation, metrics,
                                                best_previous_metrics))
    if gate.get("fairness") is not None:
        for verdict in judge_fairness(gate["fairness"], fairness):
            groups = verdict.pop("groups")
            reasons.append(GateReason(**verdict, groups=None if groups is None else tuple(groups)))
    return GateResult(approved=all(r.passed for r in reasons), reasons=tuple(reasons))


def _regression(
    rule: Mapping[str, Any],
    metrics: Mapping[str, Any] | None,
    best: Mapping[str, Any] | None,
) -> GateReason:
    name = rule["metric"]
    tolerance = float(rule["tolerance"])
    value = _metric_value(metrics, name)
    previous = _metric_value(best, name) if best is not None else None
    if previous is None:
        threshold = None
        if value is None:
            return _missing(name, threshold, metrics)
        why = "no previous Approved version" if best is None else f"best version has no {name}"
        return GateReason(name, value, None, True, f"{name} regression not checked: {why}")
    threshold, check, worse = _limit(name, previous, tolerance)
    if value is None:
        return _missing(name, threshold, metrics)
    passed = check(value, threshold)
    detail = (
        f"best Approved {_fmt(previous)} with tolerance {_fmt(tolerance)} (limit {_fmt(threshold)})"
    )
    message = (
        f"{name} = {_fmt(value)} within regression limit: {detail}"
        if passed
        else f"{name} = {_fmt(value)} regressed {worse} {detail}"
    )
    return GateReason(name, value, threshold, passed, message)


def _limit(name: str, previous: float, tolerance: float) -> tuple[float, Any, str]:
    """The regression limit, the check that keeps within it, and the word for failing it."""
    if metric_direction(name) is Direction.HIGHER_IS_BETTER:
        return previous - tolerance, at_least, "below"
    return previous + tolerance, at_most, "above"


def _champion_regression(
    rule: Mapping[str, Any],
    evaluation: Mapping[str, Any] | None,
    metrics: Mapping[str, Any] | None,
    best: Mapping[str, Any] | None,
) -> GateReason:
    """The new version against the champion, both scored on the same rows."""
    name, tolerance = rule["metric"], float(rule["tolerance"])
    if not isinstance(evaluation, Mapping):  # a custom trainer: say what was compared instead
        fallback = _regression(rule, metrics, best)
        note = ("the trainer did not re-score the champion, so this compares with the best "
                "Approved version's own hold-out: ")
        return GateReason(fallback.metric, fallback.value, fallback.threshold, fallback.passed,
                          note + fallback.message)
    champion = evaluation.get("champion")
    own = _metric_value(evaluation.get("metrics"), name)
    if not isinstance(champion, Mapping):
        if own is None:
            return _missing(name, None, evaluation.get("metrics"))
        return GateReason(name, own, None, True, f"{name} regression not checked: no Approved "
                          "champion when this version was trained")
    champion_name = str(champion.get("name") or "the champion")
    if champion.get("error"):
        return GateReason(name, own, None, False, f"{name} regression not checked: champion "
                          f"{champion_name} could not be re-scored: {champion['error']}",
                          baseline=champion_name)
    previous = _metric_value(champion.get("metrics"), name)
    if own is None or previous is None:
        lacking = "this version" if own is None else f"champion {champion_name}"
        return GateReason(name, own, None, False, f"{name} regression not checked: "
                          f"{lacking} has no {name} on the evaluation rows",
                          baseline=champion_name, baseline_value=previous)
    threshold, check, worse = _limit(name, previous, tolerance)
    passed = check(own, threshold)
    rows = evaluation.get("rows")
    where = f"{evaluation.get('data') or 'evaluation'} rows" if rows is None else \
        f"{rows} {evaluation.get('data') or 'evaluation'} rows"
    verdict = "within limit" if passed else f"regressed {worse} limit"
    message = (f"{name} = {_fmt(own)} vs champion {champion_name} {_fmt(previous)} on the same "
               f"{where}: {verdict} {_fmt(threshold)} (tolerance {_fmt(tolerance)})")
    return GateReason(name, own, threshold, passed, message, baseline=champion_name,
                      baseline_value=previous)


def best_previous(candidates: Iterable[Mapping[str, Any]], metric: str) -> Mapping[str, Any] | None:
    """The metrics dict that is best on ``metric`` among Approved versions' metrics.

    Candidates without a numeric value for ``metric`` are skipped; None if none
    qualify (then the regression rule passes with a message saying why).
    """
    direction = metric_direction(metric)
    scored = [(v, m) for m in candidates if (v := _metric_value(m, metric)) is not None]
    if not scored:
        return None
    pick = max if direction is Direction.HIGHER_IS_BETTER else min
    return pick(scored, key=lambda pair: pair[0])[1]
