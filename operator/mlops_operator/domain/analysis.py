"""Canary analysis, Argo-Rollouts style: measure, then judge.

An observer (``mlops_operator.providers``) turns each due check
(``domain.checks.CheckSpec``) into one :class:`Measurement`: a number, no data, or an
error. The rollout keeps a running :class:`Tally` per check; :func:`judge_tally`
turns the tally into a :class:`Verdict` and :func:`combine` folds the checks of
one step. Missing data is never a success. No query text lives here.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from mlops_operator.domain.checks import CheckSpec, Comparison, MissingData
from mlops_operator.domain.durations import as_datetime, seconds_since, to_rfc3339

#: Measurements kept per check in the rollout status (the tally keeps the counts).
MAX_KEPT_MEASUREMENTS = 10


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



def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


# --------------------------------------------------------------------------- measurements


def _stamp(at: datetime | str) -> str:
    return to_rfc3339(as_datetime(at))


@dataclass(frozen=True)
class Measurement:
    """One measurement: a value, no data (value None), or a provider error.

    ``at`` is stored as an RFC 3339 string; NaN and infinities count as no data.
    A ``permanent`` error cannot pass by waiting (Prometheus refused the query, the
    ModelVersion lacks the statistics the check compares with): the check errors at once.
    """

    value: float | None
    error: str | None = None
    at: str = ""
    permanent: bool = False
    detail: str | None = None  # the evidence behind the value, for people

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
    def of(cls, value: float | None, at: datetime | str,
           detail: str | None = None) -> Measurement:
        """A successful query (value None = empty result)."""
        return cls(value=value, error=None, at=_stamp(at), detail=detail)

    @classmethod
    def failed(cls, error: str, at: datetime | str, *, permanent: bool = False) -> Measurement:
        """The provider could not run the query (unreachable, bad PromQL, ...)."""
        return cls(value=None, error=error or "unknown error", at=_stamp(at), permanent=permanent)

    def to_dict(self) -> dict[str, Any]:
        """Status form (``permanent`` only when set)."""
        data: dict[str, Any] = {"value": self.value, "error": self.error, "at": self.at}
        if self.permanent:
            data["permanent"] = True
        if self.detail:
            data["detail"] = self.detail
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Measurement:
        """Inverse of :meth:`to_dict`."""
        return cls(value=data.get("value"), error=data.get("error"), at=str(data.get("at") or ""),
                   permanent=bool(data.get("permanent")), detail=data.get("detail"))



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
            consecutive = self.consecutive_errors + 1
            if m.permanent:  # waiting cannot help: over the limit now
                consecutive = max(consecutive, check.consecutive_error_limit + 1)
            return replace(
                self,
                errors=self.errors + 1,
                consecutive_errors=consecutive,
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
