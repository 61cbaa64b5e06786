"""The termination message (what the operator reads) and the human summary; pure.

Kubernetes keeps at most 4096 bytes of a termination message, so optional parts
are dropped in a fixed order until it fits; everything stays in metadata.json
and the message says what it left out.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

MAX_MESSAGE_BYTES = 4096

#: What to drop, in order, and the flag that tells the reader it was dropped.
_DROP_ORDER: tuple[tuple[tuple[str, ...], str], ...] = (
    (("importance",), "importanceTruncated"),
    (("diagnostics",), "diagnosticsTruncated"),
    (("dataChecks",), "dataChecksTruncated"),
    (("referenceStats", "predictionStats"), "statsTruncated"),
    (("crossValidation",), "crossValidationTruncated"),
    (("params",), "paramsTruncated"),
    (("plots",), "plotsTruncated"),
    (("inputSchema",), "inputSchemaTruncated"),
    (("dataset", "framework", "gitRevision", "image"), "truncated"),
)

#: Never dropped: enough for the operator to find the full record.
_ESSENTIAL = ("ok", "task", "metrics", "artifacts", "preferredFormat", "onnxMatches", "metadataUri",
              "evaluation", "fairness")


def compact_json(payload: Mapping[str, Any]) -> str:
    """Compact, ASCII-only JSON, so characters equal bytes."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def _fits(text: str, limit: int) -> bool:
    return len(text.encode("utf-8")) <= limit


def _without_repeats(payload: Mapping[str, Any]) -> dict[str, Any]:
    """The hold-out evaluation's own metrics are ``metrics`` again: the reader takes them
    from there (the ModelVersion still shows both), which leaves room for the rest."""
    current = dict(payload)
    evaluation = current.get("evaluation")
    if (isinstance(evaluation, Mapping) and evaluation.get("data") == "hold-out"
            and evaluation.get("metrics") == current.get("metrics")):
        current["evaluation"] = {k: v for k, v in evaluation.items() if k != "metrics"}
    return current


def success_message(payload: Mapping[str, Any], limit: int = MAX_MESSAGE_BYTES) -> str:
    """Serialise ``payload``, dropping optional parts (and flagging them) until it fits."""
    current = _without_repeats(payload)
    text = compact_json(current)
    for keys, flag in _DROP_ORDER:
        if _fits(text, limit):
            return text
        if any(key in current for key in keys):
            for key in keys:
                current.pop(key, None)
            current[flag] = True
            text = compact_json(current)
    if _fits(text, limit):
        return text
    minimal = {key: current[key] for key in _ESSENTIAL if key in current}
    minimal["truncated"] = True
    text = compact_json(minimal)
    if _fits(text, limit):
        return text
    return compact_json({"ok": True, "truncated": True, "metadataUri": None})


def failure_message(reason: str, message: str, limit: int = MAX_MESSAGE_BYTES) -> str:
    """``{"ok": false, "reason", "message"}``, the message cut to fit."""
    text = compact_json({"ok": False, "reason": reason, "message": message})
    if _fits(text, limit):
        return text
    overhead = len(compact_json({"ok": False, "reason": reason, "message": ""}))
    budget = limit - overhead - 16
    while budget > 0:  # escapes make JSON longer than the text; shrink until it fits
        text = compact_json({"ok": False, "reason": reason, "message": message[:budget] + "..."})
        if _fits(text, limit):
            return text
        budget -= max(16, budget // 10)
    return compact_json({"ok": False, "reason": reason, "message": ""})


def human_summary(payload: Mapping[str, Any]) -> str:
    """A few lines for the pod log."""
    metrics = ", ".join(
        f"{k}={v:.6g}" if isinstance(v, float) else f"{k}={v}"
        for k, v in (payload.get("metrics") or {}).items()
    )
    dataset = payload.get("dataset") or {}
    lines = [
        f"trained {payload.get('model', '?')} ({payload.get('task')}, "
        f"{(payload.get('params') or {}).get('estimator', '?')})",
        f"  dataset   {dataset.get('uri')} rows={dataset.get('rows')} "
        f"sha256={str(dataset.get('sha256'))[:12]}",
        f"  metrics   {metrics}",
    ]
    for kind, artifact in (payload.get("artifacts") or {}).items():
        if artifact:
            lines.append(f"  {kind:<9} {artifact['uri']} sha256={artifact['sha256'][:12]}")
        else:
            lines.append(f"  {kind:<9} not produced")
    lines.append(
        f"  serving   {payload.get('preferredFormat')} (onnxMatches={payload.get('onnxMatches')})"
    )
    parity = payload.get("onnxParity")
    if parity:
        lines.append(
            f"  parity    {parity['rows']} rows ({parity['heldOutRows']} held out, "
            f"{parity['unseenCategoryRows']} with unseen categories, "
            f"{parity['missingValueRows']} with missing values): "
            f"{parity['rows'] - parity['mismatches']} match, "
            f"max difference {parity['maxDifference']}")
    lines.extend(_baseline_lines(payload))
    lines.extend(_review_lines(payload))
    lines.extend(_fairness_lines(payload))
    if payload.get("onnxError"):
        lines.append(f"  onnx      {payload['onnxError']}")
    lines.append(f"  metadata  {payload.get('metadataUri')}")
    return "\n".join(lines)


def _baseline_lines(payload: Mapping[str, Any]) -> list[str]:
    """The champion's score on the same rows and the data checks' verdict."""
    lines = []
    champion = (payload.get("evaluation") or {}).get("champion")
    if champion:
        evaluation = payload["evaluation"]
        scores = champion.get("error") or ", ".join(
            f"{k}={v:.6g}" for k, v in (champion.get("metrics") or {}).items()
            if isinstance(v, float))
        lines.append(f"  champion  {champion.get('name')} on the same {evaluation.get('rows')} "
                     f"{evaluation.get('data')} rows: {scores}")
    checks = payload.get("dataChecks") or {}
    if checks.get("baseline"):
        lines.append(f"  data      {checks.get('findings', 0)} finding(s) against "
                     f"{checks['baseline']}" + (f" ({checks['note']})" if checks.get("note")
                                               else ""))
    return lines


def _review_lines(payload: Mapping[str, Any]) -> list[str]:
    """Cross-validation mean ± std beside the hold-out value, and the pictures."""
    lines = []
    folds = payload.get("crossValidation")
    if folds:
        hold_out = payload.get("metrics") or {}
        scores = ", ".join(
            f"{name}={v['mean']:.4g}±{v['std']:.2g} (hold-out {hold_out[name]:.4g})"
            if isinstance(hold_out.get(name), float) else f"{name}={v['mean']:.4g}±{v['std']:.2g}"
            for name, v in folds["metrics"].items())
        lines.append(f"  cv        {folds['folds']}-fold {folds['method']}: {scores}")
        for failure in folds.get("failedFolds") or []:
            lines.append(f"  cv        fold {failure['fold']} failed: {failure['error']}")
    for name, artifact in (payload.get("plots") or {}).items():
        lines.append(f"  plot      {name}: {artifact['uri']}")
    return lines


def _fairness_lines(payload: Mapping[str, Any]) -> list[str]:
    """Every group's selection rate and the gaps the fairness gate judges."""
    fair = payload.get("fairness")
    if not fair:
        return []
    rates = ", ".join(f"{name} {group['selectionRate']} (n={group['count']})"
                      for name, group in fair["groups"].items())
    gaps = ", ".join(f"{name}={value}" for name, value in fair["metrics"].items())
    lines = [f"  fairness  selection rate of {fair['positiveLabel']!r}: {rates}",
             f"  fairness  {gaps}"]
    if fair["smallGroups"]:
        lines.append(f"  fairness  fewer than {fair['minGroupSize']} hold-out rows: "
                     f"{', '.join(fair['smallGroups'])}")
    return lines
