"""Data checks: compare this dataset's profile with the champion version's; pure.

::

    dataChecks:
      action: fail                 # or warn: record the findings, train anyway
      maxNullShareIncrease: 0.1    # a column's missing share may grow by 10 points
      maxCategoryShift: 0.2        # total variation distance of a column's category mix
      allowNewColumns: true        # false: a column the champion's data lacked is a finding
      ignore: [notes]              # columns never checked

A retrain on a dataset whose columns vanished, changed type or filled with nulls
fits without complaint and ships a worse model; comparing the profiles
(:mod:`.profile`) with the previous version's before any fitting turns that into a
failure, or a warning, whose message names the column and both values.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mlops_runtime.trainer.errors import TrainerError

ACTIONS = ("fail", "warn")
CHECKS = ("columnMissing", "typeChanged", "nullShare", "categoryShift", "newColumn")
_KEYS = frozenset({"action", "maxNullShareIncrease", "maxCategoryShift", "allowNewColumns",
                   "ignore"})
#: Shares are rounded to six significant digits; a change this small is the rounding.
_TOLERANCE = 1e-9
_OTHER = None  # the "other" bucket's key: no category text can collide with it


@dataclass(frozen=True)
class DataChecksSpec:
    """The validated ``spec.dataChecks`` block."""

    action: str = "fail"
    max_null_share_increase: float = 0.1
    max_category_shift: float = 0.2
    allow_new_columns: bool = True
    ignore: tuple[str, ...] = ()


@dataclass(frozen=True)
class Finding:
    """One column that differs from the baseline beyond what the spec allows."""

    column: str
    check: str  # one of CHECKS
    message: str
    previous: Any
    current: Any

    def to_dict(self) -> dict[str, Any]:
        """The finding as JSON (for metadata.json and the termination message)."""
        return {"column": self.column, "check": self.check, "message": self.message,
                "previous": self.previous, "current": self.current}


def _invalid(message: str) -> TrainerError:
    return TrainerError("InvalidParams", message)


def _fraction(raw: Mapping[str, Any], key: str, default: float) -> float:
    value = raw.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or not (
            math.isfinite(value) and 0 <= value <= 1):
        raise _invalid(f"dataChecks.{key} must be a number from 0 to 1, got {value!r}")
    return float(value)


def _ignore(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise _invalid(f"dataChecks.ignore must be a list of column names, got {value!r}")
    for index, name in enumerate(value):
        if not isinstance(name, str) or not name:
            raise _invalid(f"dataChecks.ignore[{index}] must be a non-empty column name, "
                           f"got {name!r}")
    return tuple(dict.fromkeys(value))


def parse_data_checks(raw: Any) -> DataChecksSpec | None:
    """Validate ``spec.dataChecks``; ``None`` when absent (no checks). Fields set to
    null take their defaults, as Kubernetes often writes an unset field that way."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise _invalid(f"dataChecks must be an object, got {type(raw).__name__}")
    unknown = sorted(set(raw) - _KEYS, key=str)
    if unknown:
        raise _invalid(f"dataChecks.{unknown[0]} is not a known field; valid: "
                       f"{', '.join(sorted(_KEYS))}")
    action = raw.get("action")
    if action is None:
        action = "fail"
    elif action not in ACTIONS:
        raise _invalid(f"dataChecks.action must be one of {', '.join(ACTIONS)}, got {action!r}")
    allow = raw.get("allowNewColumns")
    if allow is not None and not isinstance(allow, bool):
        raise _invalid(f"dataChecks.allowNewColumns must be true or false, got {allow!r}")
    return DataChecksSpec(
        action=action,
        max_null_share_increase=_fraction(raw, "maxNullShareIncrease", 0.1),
        max_category_shift=_fraction(raw, "maxCategoryShift", 0.2),
        allow_new_columns=True if allow is None else allow,
        ignore=_ignore(raw.get("ignore")),
    )


def percent(share: float) -> str:
    """A share as a percentage, keeping small shares visible (0.0004 is "0.04%")."""
    value = share * 100
    return f"{value:.2g}%" if 0 < abs(value) < 0.1 else f"{value:.1f}%"


def _null_share(stats: Mapping[str, Any]) -> float:
    value = stats.get("nullShare")
    return float(value) if isinstance(value, int | float) else 0.0


def _present_shares(stats: Mapping[str, Any]) -> dict[str | None, float] | None:
    """Category shares among present values, with the unlisted rest under :data:`_OTHER`;
    ``None`` when the column has no present value (the null-share check covers that)."""
    present = 1.0 - _null_share(stats)
    categories = stats.get("categories") or {}
    if present <= _TOLERANCE or not categories:
        return None
    shares: dict[str | None, float] = {str(name): float(share) / present
                                       for name, share in categories.items()}
    shares[_OTHER] = max(0.0, 1.0 - sum(shares.values()))
    return shares


def category_shift(previous: Mapping[str, Any], current: Mapping[str, Any],
                   ) -> tuple[float, str, float, float] | None:
    """Total variation distance between the two category mixes (over the union of the
    listed categories plus an "other" bucket), and the listed category that moved most
    with its previous and current share; ``None`` when either side has no categories.

    A category listed on one side only counts as 0 on the other (its mass is in that
    side's "other" bucket), so the distance can only overstate a shift in the long tail,
    by at most the tail shares beyond the 50 listed categories."""
    before, after = _present_shares(previous), _present_shares(current)
    if before is None or after is None:
        return None
    keys = list(dict.fromkeys([*before, *after]))
    distance = 0.5 * sum(abs(after.get(key, 0.0) - before.get(key, 0.0)) for key in keys)
    # Rounded so that a tie split by the profile's rounding still goes to the first name.
    named = sorted((key for key in keys if key is not _OTHER), key=lambda key: (
        -round(abs(after.get(key, 0.0) - before.get(key, 0.0)), 5), key))
    moved = named[0]
    return distance, moved, before.get(moved, 0.0), after.get(moved, 0.0)


def _column_findings(name: str, before: Mapping[str, Any], after: Mapping[str, Any],
                     spec: DataChecksSpec, baseline: str) -> list[Finding]:
    """The findings for a column in both profiles: a type change stops the other checks."""
    old_type, new_type = before.get("type"), after.get("type")
    if old_type != new_type and "empty" not in (old_type, new_type):
        # An all-missing column is no new type: the null-share check speaks about it.
        return [Finding(name, "typeChanged", f"column {name!r} changed type: {old_type} in "
                        f"{baseline}, {new_type} now", old_type, new_type)]
    findings = []
    old_null, new_null = _null_share(before), _null_share(after)
    if new_null - old_null > spec.max_null_share_increase + _TOLERANCE:
        findings.append(Finding(
            name, "nullShare",
            f"column {name!r} is missing in {percent(new_null)} of rows, {percent(old_null)} "
            f"in {baseline} (at most {percent(spec.max_null_share_increase)} more allowed)",
            old_null, new_null))
    shift = category_shift(before, after) if old_type == new_type == "categorical" else None
    if shift is not None and shift[0] > spec.max_category_shift + _TOLERANCE:
        distance, category, old_share, new_share = shift
        findings.append(Finding(
            name, "categoryShift",
            f"column {name!r} category mix moved by {distance:.3g} (limit "
            f"{spec.max_category_shift:g}): {category!r} is {percent(new_share)} of present "
            f"values now, {percent(old_share)} in {baseline}",
            {"category": category, "share": round(old_share, 6), "distance": round(distance, 6)},
            {"category": category, "share": round(new_share, 6), "distance": round(distance, 6)}))
    return findings


def compare_profiles(previous: Mapping[str, Any], current: Mapping[str, Any],
                     spec: DataChecksSpec, baseline: str) -> list[Finding]:
    """What changed from ``baseline``'s profile (``previous``) to this dataset's, beyond
    ``spec``'s limits: the previous profile's columns in its order, then new columns."""
    old_columns: Mapping[str, Any] = previous.get("columns") or {}
    new_columns: Mapping[str, Any] = current.get("columns") or {}
    skip = set(spec.ignore)
    findings: list[Finding] = []
    for name, before in old_columns.items():
        if name in skip:
            continue
        after = new_columns.get(name)
        if after is None:
            findings.append(Finding(
                name, "columnMissing",
                f"column {name!r} is in {baseline}'s data but not in this dataset",
                before.get("type"), None))
            continue
        findings.extend(_column_findings(name, before, after, spec, baseline))
    if not spec.allow_new_columns:
        for name, after in new_columns.items():
            if name in skip or name in old_columns:
                continue
            findings.append(Finding(
                name, "newColumn",
                f"column {name!r} is in this dataset but not in {baseline}'s data; list it "
                "in dataChecks.ignore or set dataChecks.allowNewColumns: true",
                None, after.get("type")))
    return findings


def enforce(findings: Sequence[Finding], spec: DataChecksSpec, baseline: str) -> list[str]:
    """Fail on any finding (action ``fail``), or hand back the messages to record as
    warnings (action ``warn``); no findings: nothing to say."""
    messages = [finding.message for finding in findings]
    if messages and spec.action == "fail":
        raise TrainerError("DataCheckFailed",
                           f"{len(messages)} data check(s) failed against {baseline}: "
                           + "; ".join(messages))
    return messages
