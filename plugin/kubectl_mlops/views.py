"""What ``kubectl mlops`` prints, from the objects as the API server returns them: pure
functions of dicts, so every view is tested without a cluster."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mlops_operator import names
from mlops_operator.builders.training import TRAINING_JOB_LABEL
from mlops_operator.domain.conditions import TRUE, get_condition
from mlops_operator.domain.vocabulary import ConditionType

Obj = Mapping[str, Any]


def _status(obj: Obj) -> Mapping[str, Any]:
    return obj.get("status") or {}


def _number(value: object) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


# ---- get ---------------------------------------------------------------------------
def deployment_tree(deployment: Obj, versions: Mapping[str, Obj], pods: Sequence[Obj]) -> str:
    """The Deployment, its tracks (version, weight, metric, pods) and the last checks."""
    status, spec = _status(deployment), deployment.get("spec") or {}
    name = deployment["metadata"]["name"]
    step = status.get("currentStepIndex")
    steps = len((spec.get("strategy") or {}).get("steps") or [])
    lines = [f"Deployment {name}  {status.get('phase') or 'Pending'}"
             + (f"  step {step + 1}/{steps}" if status.get("canaryVersion") and step is not None
                else ""),
             f"  target   {spec.get('modelVersion') or spec.get('model', '?') + ' (follows)'}"]
    if status.get("message"):
        lines.append(f"  message  {status['message']}")
    weights = status.get("weights") or {}
    for track, field in (("stable", "stableVersion"), ("canary", "canaryVersion")):
        version = status.get(field)
        if not version:
            continue
        metric = _status(versions.get(version) or {}).get("headlineMetric") or ""
        lines.append(f"  ├─ {track:<6} {version}  weight {weights.get(track, 0)}%  {metric}")
        for pod in pods:
            labels = pod["metadata"].get("labels") or {}
            if labels.get(names.TRACK_LABEL) == track:
                lines.append(f"  │    └─ pod {pod['metadata']['name']}  {_pod_state(pod)}")
    last = status.get("lastAnalysis") or {}
    if last:
        lines.append(f"  └─ checks of {last.get('version')} at step {last.get('stepIndex', 0) + 1}:"
                     f" {last.get('verdict')}")
        for check in last.get("checks") or []:
            lines.append(f"       {check.get('name'):<20} {check.get('verdict'):<12} "
                         f"last {_number(check.get('lastValue'))}  {check.get('message') or ''}")
    return "\n".join(lines)


def _pod_state(pod: Obj) -> str:
    status = pod.get("status") or {}
    ready = any(c.get("type") == "Ready" and c.get("status") == TRUE
                for c in status.get("conditions") or [])
    for container in status.get("containerStatuses") or []:
        waiting = (container.get("state") or {}).get("waiting")
        if waiting:
            return waiting.get("reason") or "Waiting"
    return "Ready" if ready else status.get("phase") or "Pending"


# ---- history -----------------------------------------------------------------------
def deployment_history(deployment: Obj) -> str:
    """What happened to each version: deployed, canaried, promoted, rolled back, when."""
    rows = [("AT", "EVENT", "VERSION", "REASON")]
    rows += [(h.get("at", ""), h.get("event", ""), h.get("version", ""), h.get("reason", ""))
             for h in _status(deployment).get("history") or []]
    return _table(rows)


def model_history(model_versions: Iterable[Obj]) -> str:
    """A model's versions, oldest first: phase, headline metric, who trained it, when."""
    ordered = sorted(model_versions, key=lambda v: int((v.get("spec") or {}).get("version", 0)))
    rows = [("VERSION", "PHASE", "METRIC", "TRAINED BY", "CREATED")]
    rows += [(v["metadata"]["name"], _status(v).get("phase") or "",
              _status(v).get("headlineMetric") or "",
              (v["metadata"].get("labels") or {}).get(TRAINING_JOB_LABEL, "by hand"),
              v["metadata"].get("creationTimestamp", "")) for v in ordered]
    return _table(rows)


def _table(rows: Sequence[Sequence[object]]) -> str:
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths,
                                                                              strict=True))
                     .rstrip() for row in rows)


# ---- diff --------------------------------------------------------------------------
def version_diff(old: Obj, new: Obj) -> str:
    """Metrics, parameters and the data fingerprint of two versions, side by side; rows
    that differ are marked."""
    rows: list[tuple[str, str, str, str]] = [("", "FIELD", old["metadata"]["name"],
                                              new["metadata"]["name"])]
    for section in ("metrics", "params", "dataset"):
        before = _flat((old.get("spec") or {}).get(section) or {})
        after = _flat((new.get("spec") or {}).get(section) or {})
        for key in sorted(set(before) | set(after)):
            a, b = before.get(key, "-"), after.get(key, "-")
            rows.append(("*" if a != b else "", f"{section}.{key}", a, b))
    return _table(rows)


def _flat(value: Any, prefix: str = "") -> dict[str, str]:
    if isinstance(value, Mapping):
        flat: dict[str, str] = {}
        for key, item in value.items():
            flat.update(_flat(item, f"{prefix}{key}."))
        return flat
    return {prefix.rstrip("."): _number(value)}


# ---- status ------------------------------------------------------------------------
@dataclass(frozen=True)
class Verdict:
    """Whether the object is done (Ready), stuck (Stalled), or neither yet."""

    done: bool
    failed: bool
    message: str

    @property
    def exit_code(self) -> int:
        """0 Ready, 1 Stalled, 2 still in progress (what ``status`` exits with)."""
        return 0 if self.done else 1 if self.failed else 2


def verdict(obj: Obj) -> Verdict:
    """The object's state by its Ready and Stalled conditions, once its spec is observed."""
    status = _status(obj)
    if status.get("observedGeneration") != obj["metadata"].get("generation"):
        return Verdict(False, False, "waiting for the operator to observe the spec")
    conditions = status.get("conditions")
    for type_, done, failed in ((ConditionType.STALLED, False, True),
                                (ConditionType.READY, True, False)):
        condition = get_condition(conditions, type_)
        if condition and condition.get("status") == TRUE:
            return Verdict(done, failed, f"{status.get('phase')}: {condition.get('message')}")
    return Verdict(False, False, f"{status.get('phase') or 'Pending'}: "
                                 f"{status.get('message') or ''}".rstrip(": "))
