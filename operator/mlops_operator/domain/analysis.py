"""Canary analysis, Argo-Rollouts style: measure, then judge.

A check is data (:class:`CheckSpec`). The handler asks :func:`build_query` for
the PromQL of a check, lets the metric provider run it (query -> vector of
``(labels, value)``), turns the vector into one :class:`Measurement` with
:func:`measure`, and the rollout keeps a running :class:`Tally` per check.
:func:`judge_tally` turns the tally into a :class:`Verdict`; :func:`combine`
folds the checks of one step. Missing data is never a success.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from mlops_operator.domain.durations import (
    DurationError,
    as_datetime,
    parse_duration,
    seconds_since,
    to_rfc3339,
)

#: Measurements kept per check in the rollout status (the tally keeps the counts).
MAX_KEPT_MEASUREMENTS = 10
DEFAULT_CONSECUTIVE_ERROR_LIMIT = 4

# Metric names exported by the model server (see serving_image).
REQUESTS_TOTAL = "mlops_requests_total"
REQUEST_DURATION = "mlops_request_duration_seconds"
PREDICTIONS_TOTAL = "mlops_predictions_total"
PREDICTION_VALUE = "mlops_prediction_value"
FEATURE_SUM = "mlops_input_feature_sum"
FEATURE_SQUARES_SUM = "mlops_input_feature_squares_sum"
ROWS_TOTAL = "mlops_input_rows_total"

PLACEHOLDERS = frozenset({"deployment", "namespace", "track", "model", "version"})
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


class AnalysisSpecError(ValueError):
    """An invalid check spec or query template; the message names the field."""


class Verdict(StrEnum):
    """The state of one check or of one analysis step."""

    RUNNING = "Running"
    SUCCESSFUL = "Successful"
    FAILED = "Failed"
    INCONCLUSIVE = "Inconclusive"
    ERROR = "Error"

    @property
    def terminal(self) -> bool:
        """Successful and Failed end a check; the others keep measuring."""
        return self in (Verdict.SUCCESSFUL, Verdict.FAILED)


class Builtin(StrEnum):
    """Checks the operator knows how to query from the model server's metrics."""

    ERROR_RATE = "errorRate"
    LATENCY_P99 = "latencyP99"
    PREDICTION_SHIFT = "predictionShift"
    INPUT_DRIFT = "inputDrift"


class Comparison(StrEnum):
    """Success when the value is below (or above) the threshold."""

    BELOW = "below"
    ABOVE = "above"


class MissingData(StrEnum):
    """How an empty query result counts."""

    INCONCLUSIVE = "inconclusive"
    FAIL = "fail"


#: Thresholds used when a built-in check does not set one (all "below").
BUILTIN_THRESHOLDS: Mapping[Builtin, float] = {
    Builtin.ERROR_RATE: 0.05,  # share of 5xx responses
    Builtin.LATENCY_P99: 0.5,  # seconds
    Builtin.PREDICTION_SHIFT: 0.2,  # class share distance, or |mean shift| / std
    Builtin.INPUT_DRIFT: 0.5,  # |mean shift| / reference std, worst feature
}

_KEYS = frozenset(
    {
        "name",
        "query",
        "builtin",
        "threshold",
        "direction",
        "interval",
        "count",
        "failureLimit",
        "inconclusiveLimit",
        "consecutiveErrorLimit",
        "onMissingData",
        "window",
        "minSamples",
    }
)
#: Predictions (or input rows) a distribution check needs before it judges: class
#: shares of a handful of requests are noise, not a shift.
DEFAULT_MIN_SAMPLES = 50
TOTAL_CLASS = "__total__"  # series carrying the canary's prediction count
TOTAL_FEATURE = "__rows__"  # series carrying the canary's input row count


def _int(value: Any, what: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise AnalysisSpecError(f"{what} must be an integer >= {minimum}, not {value!r}")
    return value


def _float(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise AnalysisSpecError(f"{what} must be a finite number, not {value!r}")
    return float(value)


def _enum(enum: type[StrEnum], value: Any, what: str) -> Any:
    try:
        return enum(value)
    except ValueError:
        allowed = ", ".join(repr(m.value) for m in enum)
        raise AnalysisSpecError(f"{what} must be one of {allowed}, not {value!r}") from None


@dataclass(frozen=True)
class CheckSpec:
    """One named metric check; see :meth:`from_dict` for the spec form."""

    name: str
    threshold: float
    query: str | None = None
    builtin: Builtin | None = None
    direction: Comparison = Comparison.BELOW
    interval: float = 30.0  # seconds between measurements
    count: int = 3  # passing measurements needed for success
    failure_limit: int = 0  # failures tolerated
    inconclusive_limit: int = 0  # no-data measurements tolerated before pausing
    consecutive_error_limit: int = DEFAULT_CONSECUTIVE_ERROR_LIMIT
    on_missing_data: MissingData = MissingData.INCONCLUSIVE
    window: str = "1m"  # rate window of the errorRate / latencyP99 built-ins
    min_samples: int = DEFAULT_MIN_SAMPLES  # predictionShift / inputDrift: no data below this

    def __post_init__(self) -> None:
        if (self.query is None) == (self.builtin is None):
            raise AnalysisSpecError(f"check {self.name!r}: set exactly one of query or builtin")
        if self.query is not None:
            template_placeholders(self.query)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CheckSpec:
        """Parse ``{"name", "query"|"builtin", "threshold", "direction", ...}``.

        Unknown keys are errors (a typo must not silently become a default).
        Built-ins get a default threshold and direction "below".
        """
        if not isinstance(data, Mapping):
            raise AnalysisSpecError(f"a check must be an object, not {data!r}")
        name = data.get("name")
        if not isinstance(name, str) or not name.strip():
            raise AnalysisSpecError(f"a check needs a non-empty name: {dict(data)!r}")
        where = f"check {name!r}"
        unknown = sorted(set(data) - _KEYS)
        if unknown:
            known = ", ".join(sorted(_KEYS))
            fields = ", ".join(unknown)
            raise AnalysisSpecError(f"{where}: unknown field(s) {fields} (known: {known})")
        query = data.get("query")
        builtin = data.get("builtin")
        if (query is None) == (builtin is None):
            raise AnalysisSpecError(f"{where}: set exactly one of query or builtin")
        if query is not None and (not isinstance(query, str) or not query.strip()):
            raise AnalysisSpecError(f"{where}: query must be a non-empty PromQL string")
        parsed_builtin = _enum(Builtin, builtin, f"{where}: builtin") if builtin else None
        if data.get("threshold") is None:
            if parsed_builtin is None:
                raise AnalysisSpecError(f"{where}: threshold is required for a query check")
            threshold = BUILTIN_THRESHOLDS[parsed_builtin]
        else:
            threshold = _float(data["threshold"], f"{where}: threshold")
        try:
            interval = parse_duration(data.get("interval", "30s"))
            window = str(data.get("window", "1m"))
            parse_duration(window)
        except DurationError as error:
            raise AnalysisSpecError(f"{where}: {error}") from None
        if interval <= 0:
            raise AnalysisSpecError(f"{where}: interval must be positive")
        if query is not None:
            try:
                template_placeholders(query)
            except AnalysisSpecError as error:
                raise AnalysisSpecError(f"{where}: {error}") from None
        missing = data.get("onMissingData", "inconclusive")
        return cls(
            name=name,
            threshold=threshold,
            query=query,
            builtin=parsed_builtin,
            direction=_enum(Comparison, data.get("direction", "below"), f"{where}: direction"),
            interval=interval,
            count=_int(data.get("count", 3), f"{where}: count", 1),
            failure_limit=_int(data.get("failureLimit", 0), f"{where}: failureLimit", 0),
            inconclusive_limit=_int(
                data.get("inconclusiveLimit", 0), f"{where}: inconclusiveLimit", 0
            ),
            consecutive_error_limit=_int(
                data.get("consecutiveErrorLimit", DEFAULT_CONSECUTIVE_ERROR_LIMIT),
                f"{where}: consecutiveErrorLimit",
                0,
            ),
            on_missing_data=_enum(MissingData, missing, f"{where}: onMissingData"),
            window=window,
            min_samples=_int(data.get("minSamples", DEFAULT_MIN_SAMPLES),
                             f"{where}: minSamples", 1),
        )

    @classmethod
    def for_builtin(cls, builtin: Builtin | str, name: str | None = None) -> CheckSpec:
        """A built-in check with its defaults (a step may name just "errorRate")."""
        kind = _enum(Builtin, builtin, "builtin")
        return cls(name=name or kind.value, threshold=BUILTIN_THRESHOLDS[kind], builtin=kind)

    def to_dict(self) -> dict[str, Any]:
        """The spec form (camelCase), parseable by :meth:`from_dict`."""
        data: dict[str, Any] = {"name": self.name, "threshold": self.threshold}
        if self.query is not None:
            data["query"] = self.query
        if self.builtin is not None:
            data["builtin"] = self.builtin.value
        data.update(
            direction=self.direction.value,
            interval=f"{self.interval:g}s",
            count=self.count,
            failureLimit=self.failure_limit,
            inconclusiveLimit=self.inconclusive_limit,
            consecutiveErrorLimit=self.consecutive_error_limit,
            onMissingData=self.on_missing_data.value,
            window=self.window,
            minSamples=self.min_samples,
        )
        return data

    def passes(self, value: float) -> bool:
        """Whether one value meets the threshold (strictly)."""
        if self.direction is Comparison.BELOW:
            return value < self.threshold
        return value > self.threshold


# --------------------------------------------------------------------------- queries


def template_placeholders(template: str) -> frozenset[str]:
    """The placeholders in ``template``; unknown or malformed ones are errors."""
    names = frozenset(_PLACEHOLDER.findall(template))
    unknown = sorted(names - PLACEHOLDERS)
    if unknown:
        raise AnalysisSpecError(
            f"unknown placeholder(s) {', '.join('{{' + n + '}}' for n in unknown)} in query "
            f"{template!r} (known: {', '.join(sorted(PLACEHOLDERS))})"
        )
    leftover = _PLACEHOLDER.sub("", template)
    if "{{" in leftover or "}}" in leftover:
        raise AnalysisSpecError(f"malformed placeholder in query {template!r}")
    return names


def render_query(
    template: str, *, deployment: str, namespace: str, track: str, model: str, version: str
) -> str:
    """Fill ``{{deployment}}``, ``{{namespace}}``, ``{{track}}``, ``{{model}}``, ``{{version}}``."""
    template_placeholders(template)
    values = {
        "deployment": deployment,
        "namespace": namespace,
        "track": track,
        "model": model,
        "version": version,
    }
    return _PLACEHOLDER.sub(lambda match: values[match.group(1)], template)


@dataclass(frozen=True)
class QueryContext:
    """Where a check looks: the canary of one mlops Deployment."""

    deployment: str
    namespace: str
    model: str
    version: str
    track: str = "canary"


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
    def from_model_version_spec(cls, spec: Mapping[str, Any]) -> ReferenceStats:
        """Read ``predictionStats`` and ``referenceStats``; absent parts stay empty."""
        prediction = spec.get("predictionStats") or {}
        shares = None
        mean = std = None
        if prediction.get("type") == "classes" and isinstance(prediction.get("frequencies"), dict):
            shares = {
                str(label): float(share)
                for label, share in prediction["frequencies"].items()
                if _finite(share)
            }
        elif prediction.get("type") == "histogram":
            mean = float(prediction["mean"]) if _finite(prediction.get("mean")) else None
            std = float(prediction["std"]) if _finite(prediction.get("std")) else None
        features = {
            str(name): (float(stats["mean"]), float(stats["std"]))
            for name, stats in (spec.get("referenceStats") or {}).items()
            if isinstance(stats, Mapping)
            and _finite(stats.get("mean"))
            and _finite(stats.get("std"))
        }
        return cls(class_shares=shares, prediction_mean=mean, prediction_std=std, features=features)


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _selector(ctx: QueryContext, *extra: str) -> str:
    parts = [
        f'namespace="{ctx.namespace}"',
        f'deployment="{ctx.deployment}"',
        f'track="{ctx.track}"',
        *extra,
    ]
    return "{" + ",".join(parts) + "}"


def build_query(
    check: CheckSpec, ctx: QueryContext, reference: ReferenceStats | None = None
) -> str:
    """The PromQL for ``check`` against the canary in ``ctx``.

    Built-ins that compare with training (predictionShift, inputDrift) return
    the canary side only (class shares, mean prediction, feature means);
    :func:`measure` computes the distance to ``reference`` in Python.
    Raises :class:`AnalysisSpecError` when the reference they need is absent.
    """
    if check.query is not None:
        return render_query(
            check.query,
            deployment=ctx.deployment,
            namespace=ctx.namespace,
            track=ctx.track,
            model=ctx.model,
            version=ctx.version,
        )
    sel = _selector(ctx)
    window = check.window
    if check.builtin is Builtin.ERROR_RATE:
        errors = _selector(ctx, 'status=~"5.."')
        return (
            f"(sum(rate({REQUESTS_TOTAL}{errors}[{window}])) or vector(0))"
            f" / sum(rate({REQUESTS_TOTAL}{sel}[{window}]))"
        )
    if check.builtin is Builtin.LATENCY_P99:
        return (
            f"histogram_quantile(0.99, sum by (le) "
            f"(rate({REQUEST_DURATION}_bucket{sel}[{window}])))"
        )
    if check.builtin is Builtin.PREDICTION_SHIFT:
        if reference is not None and reference.class_shares:
            # Counts per class plus one series with the total, so that measure() can
            # refuse to judge a handful of predictions.
            return (
                f"sum by (class) ({PREDICTIONS_TOTAL}{sel}) or label_replace("
                f'sum({PREDICTIONS_TOTAL}{sel}), "class", "{TOTAL_CLASS}", "", "")'
            )
        if reference is not None and reference.prediction_mean is not None:
            return (
                f'label_replace(sum({PREDICTION_VALUE}_sum{sel}), "stat", "sum", "", "") or '
                f'label_replace(sum({PREDICTION_VALUE}_count{sel}), "stat", "count", "", "")'
            )
        raise AnalysisSpecError(
            f"check {check.name!r}: predictionShift needs the ModelVersion's predictionStats "
            f"(class frequencies or mean/std) and {ctx.version} has none"
        )
    if check.builtin is Builtin.INPUT_DRIFT:
        if reference is None or not reference.features:
            raise AnalysisSpecError(
                f"check {check.name!r}: inputDrift needs the ModelVersion's referenceStats "
                f"(feature mean/std) and {ctx.version} has none"
            )
        return (
            f"sum by (feature) ({FEATURE_SUM}{sel}) or label_replace("
            f'sum({ROWS_TOTAL}{sel}), "feature", "{TOTAL_FEATURE}", "", "")'
        )
    raise AnalysisSpecError(f"check {check.name!r}: unknown builtin {check.builtin!r}")


Vector = Sequence[tuple[Mapping[str, str], float]]


def value_from_vector(
    check: CheckSpec, vector: Vector, reference: ReferenceStats | None = None
) -> float | None:
    """One number from a query result; None when there is no (finite) data.

    Several series from a plain query: the worst one counts (any pod breaking
    the threshold is a failure).
    """
    samples = [(labels, float(v)) for labels, v in vector if _finite(v)]
    if check.builtin is Builtin.PREDICTION_SHIFT:
        return _prediction_shift(check, samples, reference)
    if check.builtin is Builtin.INPUT_DRIFT:
        return _input_drift(check, samples, reference)
    if not samples:
        return None
    values = [v for _, v in samples]
    return max(values) if check.direction is Comparison.BELOW else min(values)


def _prediction_shift(
    check: CheckSpec, samples: list[tuple[Mapping[str, str], float]], ref: ReferenceStats | None
) -> float | None:
    if ref is not None and ref.class_shares:
        counts = {str(labels.get("class", "")): v for labels, v in samples}
        total = counts.pop(TOTAL_CLASS, sum(counts.values()))
        if not counts or total < check.min_samples:
            return None
        canary = {c: n / total for c, n in counts.items()}
        classes = set(canary) | set(ref.class_shares)
        return max(abs(canary.get(c, 0.0) - ref.class_shares.get(c, 0.0)) for c in classes)
    if ref is not None and ref.prediction_mean is not None:
        stats = {str(labels.get("stat", "")): v for labels, v in samples}
        if stats.get("count", 0.0) < check.min_samples or "sum" not in stats:
            return None
        shift = abs(stats["sum"] / stats["count"] - ref.prediction_mean)
        if not ref.prediction_std:
            return shift
        return shift / ref.prediction_std
    raise AnalysisSpecError(f"check {check.name!r}: predictionShift has no reference")


def _input_drift(
    check: CheckSpec, samples: list[tuple[Mapping[str, str], float]], ref: ReferenceStats | None
) -> float | None:
    if ref is None or not ref.features:
        raise AnalysisSpecError(f"check {check.name!r}: inputDrift has no reference")
    sums = {str(labels.get("feature", "")): v for labels, v in samples}
    rows = sums.pop(TOTAL_FEATURE, 0.0)
    if rows < check.min_samples:
        return None
    distances = []
    for feature, total in sums.items():
        stats = ref.features.get(feature)
        if stats is None or stats[1] <= 0:  # unknown feature, or constant in training
            continue
        distances.append(abs(total / rows - stats[0]) / stats[1])
    return max(distances) if distances else None


# --------------------------------------------------------------------------- measurements


def _stamp(at: datetime | str) -> str:
    return to_rfc3339(as_datetime(at))


@dataclass(frozen=True)
class Measurement:
    """One measurement: a value, no data (value None), or a provider error.

    ``at`` is stored as an RFC 3339 string; NaN and infinities count as no data.
    """

    value: float | None
    error: str | None = None
    at: str = ""

    def __post_init__(self) -> None:
        if self.value is not None and not _finite(self.value):
            object.__setattr__(self, "value", None)
        elif self.value is not None:
            object.__setattr__(self, "value", float(self.value))
        if self.at:  # canonical RFC 3339, so stored times compare as strings
            object.__setattr__(self, "at", _stamp(self.at))
        if self.error is not None:
            object.__setattr__(self, "value", None)

    @classmethod
    def of(cls, value: float | None, at: datetime | str) -> Measurement:
        """A successful query (value None = empty result)."""
        return cls(value=value, error=None, at=_stamp(at))

    @classmethod
    def failed(cls, error: str, at: datetime | str) -> Measurement:
        """The provider could not run the query (unreachable, bad PromQL, ...)."""
        return cls(value=None, error=error or "unknown error", at=_stamp(at))

    def to_dict(self) -> dict[str, Any]:
        """Status form."""
        return {"value": self.value, "error": self.error, "at": self.at}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Measurement:
        """Inverse of :meth:`to_dict`."""
        return cls(value=data.get("value"), error=data.get("error"), at=str(data.get("at") or ""))


def measure(
    check: CheckSpec,
    vector: Vector,
    at: datetime | str,
    reference: ReferenceStats | None = None,
) -> Measurement:
    """The measurement for a query result (a missing reference becomes an error)."""
    try:
        return Measurement.of(value_from_vector(check, vector, reference), at)
    except AnalysisSpecError as error:
        return Measurement.failed(str(error), at)


def due(check: CheckSpec, last_measured_at: datetime | str | None, now: datetime | str) -> bool:
    """Whether ``check`` should be measured now (never measured, or interval elapsed)."""
    if not last_measured_at:
        return True
    return seconds_since(last_measured_at, now) >= check.interval


# --------------------------------------------------------------------------- judging


@dataclass(frozen=True)
class Tally:
    """Running counts for one check; survives in status so restarts resume."""

    passed: int = 0
    failed: int = 0
    inconclusive: int = 0
    errors: int = 0
    consecutive_errors: int = 0
    last_value: float | None = None
    last_failed_value: float | None = None  # None with failed > 0: missing data counted as failure
    last_error: str | None = None

    def add(self, check: CheckSpec, m: Measurement) -> Tally:
        """The tally after one more measurement."""
        if m.error is not None:
            return replace(
                self,
                errors=self.errors + 1,
                consecutive_errors=self.consecutive_errors + 1,
                last_error=m.error,
            )
        base = replace(self, consecutive_errors=0, last_value=m.value)
        if m.value is None:
            if check.on_missing_data is MissingData.FAIL:
                return replace(base, failed=self.failed + 1, last_failed_value=None)
            return replace(base, inconclusive=self.inconclusive + 1)
        if check.passes(m.value):
            return replace(base, passed=self.passed + 1)
        return replace(base, failed=self.failed + 1, last_failed_value=m.value)

    def to_dict(self) -> dict[str, Any]:
        """Status form (camelCase)."""
        return {
            "passed": self.passed,
            "failed": self.failed,
            "inconclusive": self.inconclusive,
            "errors": self.errors,
            "consecutiveErrors": self.consecutive_errors,
            "lastValue": self.last_value,
            "lastFailedValue": self.last_failed_value,
            "lastError": self.last_error,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Tally:
        """Inverse of :meth:`to_dict`."""
        return cls(
            passed=int(data.get("passed") or 0),
            failed=int(data.get("failed") or 0),
            inconclusive=int(data.get("inconclusive") or 0),
            errors=int(data.get("errors") or 0),
            consecutive_errors=int(data.get("consecutiveErrors") or 0),
            last_value=data.get("lastValue"),
            last_failed_value=data.get("lastFailedValue"),
            last_error=data.get("lastError"),
        )


def tally(check: CheckSpec, measurements: Iterable[Measurement]) -> Tally:
    """Fold measurements, oldest first."""
    result = Tally()
    for m in measurements:
        result = result.add(check, m)
    return result


@dataclass(frozen=True)
class Judgement:
    """A verdict and a message naming the check, value and threshold."""

    verdict: Verdict
    message: str
    check: str = ""


def _fmt(value: float | None) -> str:
    return "no data" if value is None else f"{value:.4g}"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def judge_tally(check: CheckSpec, counts: Tally) -> Judgement:
    """Failed > Successful > Error > Inconclusive > Running, in that order.

    Successful needs ``count`` passing measurements, so it can never come
    from missing data; after a pause for missing data or errors, the check
    succeeds once enough real passing values arrive.
    """
    name = check.name
    limit = f"failureLimit {check.failure_limit}"
    if counts.failed > check.failure_limit:
        failures = f"{_plural(counts.failed, 'failure')} > {limit}"
        if counts.last_failed_value is None:
            message = f"{name}: no data, counted as failure ({failures}; onMissingData=fail)"
        else:
            relation = "above" if check.direction is Comparison.BELOW else "below"
            if counts.last_failed_value == check.threshold:
                relation = "at"
            message = (
                f"{name} = {_fmt(counts.last_failed_value)} {relation} threshold "
                f"{check.threshold:g} ({failures})"
            )
        return Judgement(Verdict.FAILED, message, name)
    progress = f"{counts.passed}/{check.count} passing"
    if counts.passed >= check.count:
        relation = check.direction.value
        return Judgement(
            Verdict.SUCCESSFUL,
            f"{name} = {_fmt(counts.last_value)} {relation} threshold {check.threshold:g} "
            f"({progress})",
            name,
        )
    if counts.consecutive_errors > check.consecutive_error_limit:
        return Judgement(
            Verdict.ERROR,
            f"{name}: {_plural(counts.consecutive_errors, 'consecutive error')} > "
            f"consecutiveErrorLimit {check.consecutive_error_limit}: {counts.last_error}",
            name,
        )
    if counts.inconclusive > check.inconclusive_limit:
        return Judgement(
            Verdict.INCONCLUSIVE,
            f"{name}: no data in {_plural(counts.inconclusive, 'measurement')} > "
            f"inconclusiveLimit {check.inconclusive_limit}",
            name,
        )
    last = f", last {_fmt(counts.last_value)}" if counts.passed or counts.failed else ""
    if counts.consecutive_errors:
        last += f", last error: {counts.last_error}"
    return Judgement(
        Verdict.RUNNING,
        f"{name}: {progress} (threshold {check.direction.value} {check.threshold:g}{last})",
        name,
    )


def judge(check: CheckSpec, measurements: Iterable[Measurement]) -> Judgement:
    """Judge a whole list of measurements (oldest first)."""
    return judge_tally(check, tally(check, measurements))


def combine(judgements: Iterable[Judgement]) -> Judgement:
    """A step's verdict: any Failed -> Failed; any Inconclusive/Error -> Inconclusive;
    all Successful -> Successful; else Running. No checks at all is Inconclusive."""
    items = list(judgements)
    if not items:
        return Judgement(Verdict.INCONCLUSIVE, "analysis has no checks")

    def messages(*verdicts: Verdict) -> str:
        return "; ".join(j.message for j in items if j.verdict in verdicts)

    if any(j.verdict is Verdict.FAILED for j in items):
        return Judgement(Verdict.FAILED, messages(Verdict.FAILED))
    if any(j.verdict in (Verdict.INCONCLUSIVE, Verdict.ERROR) for j in items):
        return Judgement(Verdict.INCONCLUSIVE, messages(Verdict.ERROR, Verdict.INCONCLUSIVE))
    if all(j.verdict is Verdict.SUCCESSFUL for j in items):
        return Judgement(Verdict.SUCCESSFUL, messages(Verdict.SUCCESSFUL))
    return Judgement(Verdict.RUNNING, messages(Verdict.RUNNING))


@dataclass(frozen=True)
class CheckState:
    """A check's tally plus its last few measurements, as kept in status."""

    name: str
    tally: Tally = field(default_factory=Tally)
    measurements: tuple[Measurement, ...] = ()

    @property
    def last_measured_at(self) -> str | None:
        """When the newest kept measurement was taken."""
        return self.measurements[-1].at if self.measurements else None

    def record(self, check: CheckSpec, m: Measurement) -> CheckState:
        """Add ``m``; a measurement not newer than the last one is ignored (replays)."""
        last = self.last_measured_at
        if last and m.at and seconds_since(last, m.at) <= 0:
            return self
        kept = (*self.measurements, m)[-MAX_KEPT_MEASUREMENTS:]
        return CheckState(self.name, self.tally.add(check, m), kept)

    def judge(self, check: CheckSpec) -> Judgement:
        """The check's verdict so far."""
        return judge_tally(check, self.tally)

    def to_dict(self) -> dict[str, Any]:
        """Status form."""
        return {
            "name": self.name,
            **self.tally.to_dict(),
            "measurements": [m.to_dict() for m in self.measurements],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CheckState:
        """Inverse of :meth:`to_dict`."""
        return cls(
            name=str(data.get("name", "")),
            tally=Tally.from_dict(data),
            measurements=tuple(Measurement.from_dict(m) for m in data.get("measurements") or ()),
        )
