"""Render a ModelVersion (and its trainer's metadata.json, when there is one) as a model
card in Markdown; pure.

Sections follow the model-card practice (Mitchell et al., 2019): intended use and owner,
the verdict, the data, the training, the metrics with their pictures, importance,
fairness per group, and lineage. What the record lacks is said, never left blank, so a
reader can tell "not measured" from "fine". Pictures are linked relative to the card, which
sits beside them.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Iterable, Mapping
from typing import Any

#: Annotations (on the TrainingJob, copied to its versions, or on a registered version)
#: that the card quotes.
OWNER_ANNOTATION = "mlops.dev/owner"
INTENDED_USE_ANNOTATION = "mlops.dev/intended-use"
LIMITATIONS_ANNOTATION = "mlops.dev/limitations"
CARD_ANNOTATIONS = (OWNER_ANNOTATION, INTENDED_USE_ANNOTATION, LIMITATIONS_ANNOTATION)
NOT_STATED = "_not stated_"
MAX_COLUMNS = 60


def _cell(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def _table(header: Iterable[str], rows: Iterable[Iterable[Any]]) -> list[str]:
    names = list(header)
    lines = ["| " + " | ".join(names) + " |", "|" + " --- |" * len(names)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return lines


def _intended_use(annotations: Mapping[str, str]) -> list[str]:
    return ["## Intended use and owner", "",
            f"- Owner: {annotations.get(OWNER_ANNOTATION) or NOT_STATED}",
            f"- Intended use: {annotations.get(INTENDED_USE_ANNOTATION) or NOT_STATED}",
            f"- Limitations: {annotations.get(LIMITATIONS_ANNOTATION) or NOT_STATED}",
            "", f"(Set with the annotations `{OWNER_ANNOTATION}`, `{INTENDED_USE_ANNOTATION}` "
            f"and `{LIMITATIONS_ANNOTATION}` on the TrainingJob or the ModelVersion.)", ""]


def _verdict(status: Mapping[str, Any]) -> list[str]:
    lines = ["## Verdict", "", f"- Phase: **{status.get('phase') or 'not judged yet'}**"]
    condition = next((c for c in status.get("conditions") or []
                      if c.get("type") in ("Approved", "Verified")), None)
    if condition:
        lines.append(f"- {condition['type']}: {condition.get('status')} "
                     f"({condition.get('reason')}): {condition.get('message')}")
    gate = status.get("gate") or []
    if gate:
        lines += ["", *_table(["rule", "value", "limit", "passed", "why"],
                              ([g.get("metric"), g.get("value"), g.get("threshold"),
                                "yes" if g.get("passed") else "**no**", g.get("message")]
                               for g in gate))]
    return [*lines, ""]


def _data(spec: Mapping[str, Any], metadata: Mapping[str, Any]) -> list[str]:
    dataset = spec.get("dataset") or {}
    lines = ["## Data", "",
             f"- Source: `{dataset.get('uri', 'not recorded')}`",
             f"- Fingerprint (sha256 of the bytes): `{dataset.get('sha256', 'not recorded')}`",
             f"- Rows: {dataset.get('rows', '—')}, columns: {dataset.get('columns', '—')}"]
    split = metadata.get("dataset") or {}
    if split.get("trainRows") is not None:
        lines.append(f"- Split: {split['trainRows']} training rows, {split['testRows']} "
                     "held out")
    features = (spec.get("inputSchema") or {}).get("features") or []
    stats = spec.get("referenceStats") or metadata.get("referenceStats") or {}
    if features:
        lines += ["", "The model's inputs and their training statistics:", "",
                  *_table(["column", "type", "nullable", "statistics"],
                          ([f.get("name"), f.get("type", "float"),
                            "yes" if f.get("nullable") else "no",
                            _column_stats(stats.get(f.get("name")))]
                           for f in features[:MAX_COLUMNS]))]
        if len(features) > MAX_COLUMNS:
            lines.append(f"({len(features) - MAX_COLUMNS} more in the version's inputSchema)")
    return [*lines, ""]


def _column_stats(stats: Any) -> str:
    if not isinstance(stats, Mapping):
        return "—"
    missing = stats.get("missingShare")
    gaps = f", missing {missing:.1%}" if isinstance(missing, int | float) and missing else ""
    if stats.get("type") == "categorical":
        shares = stats.get("shares") or {}
        top = ", ".join(f"{k} {v:.0%}" for k, v in list(shares.items())[:4])
        return f"categories: {top}{gaps}"
    parts = [f"{key} {_cell(stats.get(key))}" for key in ("mean", "std", "min", "max")
             if stats.get(key) is not None]
    return ", ".join(parts) + gaps if parts else "—"


def _training(spec: Mapping[str, Any], metadata: Mapping[str, Any]) -> list[str]:
    params = spec.get("params") or {}
    if not params:
        return ["## Training", "", "Not trained here: registered by hand "
                f"(`{(spec.get('lineage') or {}).get('registeredBy') or 'unknown'}`).", ""]
    lines = ["## Training", "",
             f"- Estimator: `{params.get('estimator')}` with "
             f"`{json.dumps(params.get('estimatorParams') or {}, sort_keys=True)}`",
             f"- Scaler: {params.get('scaler')}; test fraction {params.get('testFraction')}, "
             f"seed {params.get('randomSeed')}"]
    fairness = spec.get("fairness") or {}
    if fairness.get("mitigation") not in (None, "none"):
        lines.append(f"- Fairness mitigation: {fairness['mitigation']}")
    if metadata.get("trainedAt"):
        lines.append(f"- Trained at {metadata['trainedAt']} in "
                     f"{metadata.get('trainingSeconds')} s")
    framework = spec.get("framework") or {}
    if framework:
        lines.append("- Libraries: " + ", ".join(f"{k} {v}" for k, v in framework.items()))
    return [*lines, ""]


def _metrics(spec: Mapping[str, Any], card_uri: str) -> list[str]:
    metrics = spec.get("metrics") or {}
    folds = (spec.get("crossValidation") or {}).get("metrics") or {}
    lines = ["## Metrics", ""]
    if not metrics:
        lines += ["No metrics were recorded.", ""]
    else:
        lines += [*_table(["metric", "hold-out", "cross-validation"],
                          ([name, value, (f"{folds[name]['mean']:.4g} ± {folds[name]['std']:.2g}"
                                          if name in folds else None)]
                           for name, value in metrics.items())), ""]
    champion = (spec.get("evaluation") or {}).get("champion") or {}
    if champion.get("metrics"):
        scores = ", ".join(f"{k} {_cell(v)}" for k, v in champion["metrics"].items())
        lines += [f"The champion {champion.get('name')} on the same rows: {scores}.", ""]
    for name in spec.get("plots") or {}:
        if name not in OWN_SECTION:
            lines += _picture(spec, name, card_uri)
    return lines


#: Pictures shown in their own section rather than beside the metrics.
OWN_SECTION = ("importance", "fairness")


def _picture(spec: Mapping[str, Any], name: str, card_uri: str) -> list[str]:
    uri = (spec.get("plots") or {}).get(name)
    return [f"![{name}]({_relative(uri, card_uri)})", ""] if isinstance(uri, str) else []


def _relative(uri: str, card_uri: str) -> str:
    """The picture's path from the card's folder when both are in the same store."""
    folder = posixpath.dirname(card_uri)
    if uri.startswith(folder + "/"):
        return uri[len(folder) + 1:]
    return uri


def _importance(spec: Mapping[str, Any], metadata: Mapping[str, Any],
                card_uri: str) -> list[str]:
    """From the version, or from metadata.json when the termination message had no room."""
    ranked = dict(spec.get("importance") or metadata.get("importance") or {})
    if isinstance(ranked.get("features"), list):  # metadata.json: every column, ranked
        ranked["features"] = {f["name"]: f["mean"] for f in ranked["features"]}
    if not ranked.get("features"):
        return []
    return ["## Importance", "",
            f"How much {ranked.get('scoring')} drops on the hold-out when a column is "
            f"shuffled ({ranked.get('method')}):", "",
            *_table(["column", "drop"], ranked["features"].items()), "",
            *_picture(spec, "importance", card_uri)]


def _fairness(spec: Mapping[str, Any], card_uri: str) -> list[str]:
    report = spec.get("fairness") or {}
    if not report.get("groups"):
        return ["## Fairness", "", "Not measured: the quality gate had no `fairness` block.",
                ""]
    rates = ("count", "selectionRate", "accuracy", "recall", "falsePositiveRate")
    lines = ["## Fairness", "",
             f"Groups by {', '.join(report.get('sensitiveFeatures') or [])} on the hold-out "
             f"(a selection is the class {report.get('positiveLabel')!r}; the sensitive "
             f"columns were {'kept out of' if report.get('excludedFromInputs') else 'among'} "
             "the model's inputs):", "",
             *_table(["group", *rates], ([name, *(g.get(r) for r in rates)]
                                         for name, g in report["groups"].items())), "",
             *_table(["gap", "value"], (report.get("metrics") or {}).items())]
    if report.get("smallGroups"):
        lines += ["", f"Too small to judge (fewer than {report.get('minGroupSize')} rows): "
                  + ", ".join(report["smallGroups"])]
    return [*lines, "", *_picture(spec, "fairness", card_uri)]


def _lineage(spec: Mapping[str, Any]) -> list[str]:
    lineage = spec.get("lineage") or {}
    artifact = spec.get("artifact") or {}
    lines = ["## Artifact and lineage", "",
             f"- Artifact: `{artifact.get('uri')}` ({artifact.get('format')}), sha256 "
             f"`{artifact.get('sha256')}`" + ("; ONNX matched scikit-learn on held-out rows"
                                              if spec.get("onnxMatches") else "")]
    lines += [f"- {key}: `{value}`" for key, value in lineage.items()
              if isinstance(value, str | int | float)]
    trigger = lineage.get("trigger")
    if isinstance(trigger, Mapping):
        lines.append(f"- Retrained on a {trigger.get('type')} trigger: "
                     f"{trigger.get('alert') or trigger.get('scheduledTime')}")
    if spec.get("metadataUri"):
        lines.append(f"- The trainer's full record: `{spec['metadataUri']}`")
    return [*lines, ""]


def render(version: Mapping[str, Any], metadata: Mapping[str, Any] | None, card_uri: str,
           note: str | None = None) -> str:
    """The card's Markdown; ``note`` says what could not be read (e.g. metadata.json)."""
    meta, spec = version.get("metadata") or {}, version.get("spec") or {}
    status = version.get("status") or {}
    lines = [f"# Model card: {meta.get('name')}", "",
             f"Model `{spec.get('model')}`, version {spec.get('version')}, namespace "
             f"`{meta.get('namespace')}`.", ""]
    if note:
        lines += [f"> {note}", ""]
    record = metadata or {}
    for section in (_intended_use(meta.get("annotations") or {}), _verdict(status),
                    _data(spec, record), _training(spec, record), _metrics(spec, card_uri),
                    _importance(spec, record, card_uri), _fairness(spec, card_uri), _lineage(spec)):
        lines += section
    return "\n".join(lines).rstrip() + "\n"
