"""What a canary check is: its spec, parsed and validated (no queries, no I/O).

A check is data (:class:`CheckSpec`): a built-in kind (:class:`Builtin`) or a
query template, a threshold and how often and how many times to measure it.
How a kind is measured lives with its observer in ``mlops_operator.providers.
checks``; the rollout only ever sees the numbers (``domain.analysis``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from mlops_operator.domain.durations import DurationError, parse_duration
from mlops_operator.domain.errors import SpecError

DEFAULT_CONSECUTIVE_ERROR_LIMIT = 4
#: Predictions (or input rows) a distribution check needs before it judges: class
#: shares of a handful of requests are noise, not a shift.
DEFAULT_MIN_SAMPLES = 50
#: The placeholders a query template may use; observers fill them in.
PLACEHOLDERS = frozenset({"deployment", "namespace", "track", "model", "version"})
PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


class AnalysisSpecError(SpecError):
    """An invalid check spec or query template; the message names the field."""


class Builtin(StrEnum):
    """Checks the operator measures from the model server's own metrics.

    Each member carries the threshold and direction used when a check does not set
    them; its observer is ``providers/checks/<name>.py``.
    """

    default_threshold: float
    default_direction: str
    default_window: str

    def __new__(cls, value: str, default_threshold: float,
                default_direction: str = "below", default_window: str = "1m") -> Builtin:
        member = str.__new__(cls, value)
        member._value_ = value
        member.default_threshold = default_threshold
        member.default_direction = default_direction
        member.default_window = default_window
        return member

    ERROR_RATE = "errorRate", 0.05  # share of 5xx responses
    LATENCY_P99 = "latencyP99", 0.5  # seconds
    PREDICTION_SHIFT = "predictionShift", 0.2  # class share distance, or |mean shift| / std
    INPUT_DRIFT = "inputDrift", 0.5  # |mean shift| / reference std, worst feature
    #: Share of mirrored rows where the shadow predicted what the live version did.
    PREDICTION_AGREEMENT = "predictionAgreement", 0.95, "above"
    #: Accuracy on labelled traffic (the monitor's join), judged with a 95 % interval:
    #: with ``tolerance`` (the default, 0.05), the lower bound of canary - stable over
    #: the same window must be above -tolerance; with ``threshold``, the lower bound of
    #: the canary's own accuracy above it. An interval across the line is no data yet.
    LIVE_ACCURACY = "liveAccuracy", -0.05, "above", "10m"


#: How far below the stable version a liveAccuracy canary may be, unless set.
DEFAULT_TOLERANCE = 0.05


def _default_direction(builtin: Builtin | None) -> str:
    return builtin.default_direction if builtin is not None else "below"


class Comparison(StrEnum):
    """Success when the value is below (or above) the threshold."""

    BELOW = "below"
    ABOVE = "above"


class MissingData(StrEnum):
    """How an empty query result counts."""

    INCONCLUSIVE = "inconclusive"
    FAIL = "fail"




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
        "tolerance",
    }
)
#: Predictions (or input rows) a distribution check needs before it judges: class
#: shares of a handful of requests are noise, not a shift.


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
    min_samples: int = DEFAULT_MIN_SAMPLES  # distribution / labelled checks: no data below
    #: liveAccuracy: compare with the stable version, this much worse allowed (None:
    #: judge the canary's own accuracy against ``threshold``).
    tolerance: float | None = None

    def __post_init__(self) -> None:
        if (self.query is None) == (self.builtin is None):
            raise AnalysisSpecError(f"check {self.name!r}: set exactly one of query or builtin")
        if self.query is not None:
            template_placeholders(self.query)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CheckSpec:
        """Parse ``{"name", "query"|"builtin", "threshold", "direction", ...}``.

        Unknown keys are errors (a typo must not silently become a default).
        Built-ins get their default threshold and direction.
        """
        name, where = _name_and_where(data)
        query, builtin, threshold = _what_to_measure(data, where)
        tolerance = _tolerance(data, builtin, where)
        if tolerance is not None:
            threshold = -tolerance
        try:
            interval = parse_duration(data.get("interval", "30s"))
            window = str(data.get("window", builtin.default_window if builtin else "1m"))
            parse_duration(window)
        except DurationError as error:
            raise AnalysisSpecError(f"{where}: {error}") from None
        if interval <= 0:
            raise AnalysisSpecError(f"{where}: interval must be positive")
        missing = data.get("onMissingData", "inconclusive")
        return cls(
            name=name,
            threshold=threshold,
            query=query,
            builtin=builtin,
            direction=_enum(Comparison, data.get("direction", _default_direction(builtin)),
                            f"{where}: direction"),
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
            tolerance=tolerance,
        )

    @classmethod
    def for_builtin(cls, builtin: Builtin | str, name: str | None = None) -> CheckSpec:
        """A built-in check with its defaults (a step may name just "errorRate")."""
        kind = _enum(Builtin, builtin, "builtin")
        return cls(name=name or kind.value, threshold=kind.default_threshold, builtin=kind,
                   direction=Comparison(kind.default_direction), window=kind.default_window,
                   tolerance=DEFAULT_TOLERANCE if kind is Builtin.LIVE_ACCURACY else None)

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
        if self.tolerance is not None:
            data["tolerance"] = self.tolerance
            del data["threshold"]
        return data

    def passes(self, value: float) -> bool:
        """Whether one value meets the threshold (strictly)."""
        if self.direction is Comparison.BELOW:
            return value < self.threshold
        return value > self.threshold


def template_placeholders(template: str) -> frozenset[str]:
    """The placeholders in ``template``; unknown or malformed ones are errors."""
    names = frozenset(PLACEHOLDER.findall(template))
    unknown = sorted(names - PLACEHOLDERS)
    if unknown:
        raise AnalysisSpecError(
            f"unknown placeholder(s) {', '.join('{{' + n + '}}' for n in unknown)} in query "
            f"{template!r} (known: {', '.join(sorted(PLACEHOLDERS))})"
        )
    leftover = PLACEHOLDER.sub("", template)
    if "{{" in leftover or "}}" in leftover:
        raise AnalysisSpecError(f"malformed placeholder in query {template!r}")
    return names


def _name_and_where(data: Any) -> tuple[str, str]:
    """The check's name and the prefix its errors carry; unknown keys are refused."""
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
    return name, where


def _tolerance(data: Mapping[str, Any], builtin: Builtin | None, where: str) -> float | None:
    """liveAccuracy's tolerance: given, or the default unless a threshold is set."""
    given = data.get("tolerance")
    if builtin is not Builtin.LIVE_ACCURACY:
        if given is not None:
            raise AnalysisSpecError(f"{where}: tolerance belongs to the liveAccuracy check")
        return None
    if given is None:
        return None if data.get("threshold") is not None else DEFAULT_TOLERANCE
    if data.get("threshold") is not None:
        raise AnalysisSpecError(f"{where}: set threshold (the canary's own accuracy) or "
                                "tolerance (compared with stable), not both")
    value = _float(given, f"{where}: tolerance")
    if not 0 <= value <= 1:
        raise AnalysisSpecError(f"{where}: tolerance must be between 0 and 1, not {value!r}")
    return value


def _what_to_measure(
    data: Mapping[str, Any], where: str
) -> tuple[str | None, Builtin | None, float]:
    """Exactly one of a query template or a built-in, and the threshold (a built-in's
    default when absent)."""
    query = data.get("query")
    builtin = data.get("builtin")
    if (query is None) == (builtin is None):
        raise AnalysisSpecError(f"{where}: set exactly one of query or builtin")
    if query is not None and (not isinstance(query, str) or not query.strip()):
        raise AnalysisSpecError(f"{where}: query must be a non-empty PromQL string")
    if query is not None:
        try:
            template_placeholders(query)
        except AnalysisSpecError as error:
            raise AnalysisSpecError(f"{where}: {error}") from None
    kind = _enum(Builtin, builtin, f"{where}: builtin") if builtin else None
    if data.get("threshold") is not None:
        return query, kind, _float(data["threshold"], f"{where}: threshold")
    if kind is None:
        raise AnalysisSpecError(f"{where}: threshold is required for a query check")
    return query, kind, kind.default_threshold
