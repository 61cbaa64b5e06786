"""What a new version is measured against: the champion's data and the champion's score.

Two questions, both answered before the operator's gate sees the result:

- *Did the data change shape?* This dataset's profile is compared with the champion's
  (from its metadata.json) before any fitting; findings fail the run or become warnings
  (``spec.dataChecks``; without it, every finding is a warning).
- *Is the new model better on the same rows?* The champion is re-scored on the new
  version's evaluation rows (its hold-out, or ``spec.evaluation.uri`` for one fixed set),
  next to the new version's score on those rows (``evaluation`` in the result, which
  the gate's ``maxRegression`` with ``compareWith: champion`` reads).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mlops_runtime import stores
from mlops_runtime.trainer import champion as champions
from mlops_runtime.trainer import data as datasets
from mlops_runtime.trainer import evaluate
from mlops_runtime.trainer.champion import ChampionRef
from mlops_runtime.trainer.datachecks import DataChecksSpec, compare_profiles, enforce
from mlops_runtime.trainer.errors import TrainerError
from mlops_runtime.trainer.preprocessing import Plan, convert, model_inputs
from mlops_runtime.trainer.spec import EvaluationSpec, TrainingSpec

#: Without ``spec.dataChecks`` the checks still run, and only warn.
WARN_ONLY = DataChecksSpec(action="warn")
#: How many warnings the termination message carries (metadata.json keeps all).
MESSAGE_WARNINGS = 3


@dataclass(frozen=True)
class DataCheckResult:
    """The data checks' outcome: against which version, what they found."""

    baseline: str | None
    findings: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    note: str | None = None

    def summary(self) -> dict[str, Any]:
        """The compact form for the termination message and the ModelVersion."""
        doc: dict[str, Any] = {"baseline": self.baseline, "findings": len(self.findings)}
        if self.warnings:
            doc["warnings"] = [w[:300] for w in self.warnings[:MESSAGE_WARNINGS]]
        if self.note:
            doc["note"] = self.note[:300]
        return doc

    def details(self) -> dict[str, Any]:
        """Everything, for metadata.json."""
        return {**self.summary(), "findings": self.findings, "warnings": self.warnings}


def check_data(profile: dict[str, Any], ref: ChampionRef | None,
               spec: DataChecksSpec | None) -> DataCheckResult:
    """Compare ``profile`` with the champion's; raises ``DataCheckFailed`` when the spec
    says fail and something moved past its limits."""
    if ref is None:
        return DataCheckResult(None, note="no champion: nothing to compare the data with")
    metadata, why = champions.read_metadata(ref)
    previous = (metadata or {}).get("dataProfile")
    if not isinstance(previous, dict):
        note = why or f"{ref.name} has no data profile (trained before data checks existed)"
        return DataCheckResult(ref.name, note=note)
    rules = spec or WARN_ONLY
    findings = compare_profiles(previous, profile, rules, ref.name)
    try:
        warnings = enforce(findings, rules, ref.name)
    except TrainerError as error:
        raise TrainerError(error.reason, error.message[:3000]) from None
    return DataCheckResult(ref.name, [f.to_dict() for f in findings], warnings)


@dataclass(frozen=True)
class EvaluationRows:
    """The rows both versions are scored on: raw (for the champion), as model inputs (for
    the new version), their target, and where they came from."""

    raw: pd.DataFrame
    x: Any
    y: np.ndarray
    data: str
    uri: str | None = None
    sha256: str | None = None


def holdout_rows(frame: pd.DataFrame, parts: Any, spec: TrainingSpec) -> EvaluationRows:
    """The new version's own hold-out, with the raw values scaled as its inputs were."""
    raw = frame.iloc[parts.test_rows].copy()
    for name, factor in spec.dataset.column_scale.items():
        raw[name] = convert(raw[name], "numeric") * factor
    return EvaluationRows(raw, parts.x_test, parts.y_test, "hold-out")


def evaluation_set(spec: TrainingSpec, evaluation: EvaluationSpec, plan: Plan
                   ) -> EvaluationRows:
    """``spec.evaluation.uri``, read and prepared like the training data."""
    source = dataclasses.replace(spec.dataset, uri=evaluation.uri, format=evaluation.format)
    fetched = datasets.fetch_bytes(source)
    frame = datasets.parse_table(fetched, source.uri)
    try:
        prepared = datasets.prepare(frame, source, spec.task)
        x = model_inputs(prepared.frame, plan, spec.dataset.column_scale)
    except TrainerError as error:
        raise TrainerError(error.reason, f"evaluation.uri {source.uri}: {error.message}") \
            from None
    return EvaluationRows(frame, x, prepared.y, "evaluation", source.uri,
                          stores.sha256_hex(fetched.data))


def evaluate_both(pipeline: Any, rows: EvaluationRows, ref: ChampionRef | None,
                  classifier: bool, own_metrics: dict[str, Any] | None = None
                  ) -> dict[str, Any]:
    """``{"data", "rows", "metrics", "champion"?}``: the new version's and the champion's
    metrics on the same rows (``own_metrics`` when they were already measured there)."""
    metrics = own_metrics if own_metrics is not None else _score(pipeline, rows, classifier)
    doc: dict[str, Any] = {"data": rows.data, "rows": int(len(rows.y)),
                           "metrics": evaluate.round_metrics(metrics)}
    if rows.uri:
        doc["uri"], doc["sha256"] = rows.uri, rows.sha256
    if ref is not None:
        doc["champion"] = champions.score(ref, rows.raw, rows.y, classifier)
    return doc


def _score(pipeline: Any, rows: EvaluationRows, classifier: bool) -> dict[str, Any]:
    try:
        predicted = pipeline.predict(rows.x)
        if classifier:
            proba = pipeline.predict_proba(rows.x)
            return evaluate.classification_metrics(rows.y, predicted, proba,
                                                   list(pipeline.classes_))
        return evaluate.regression_metrics(rows.y, predicted)
    except Exception as error:  # an evaluation set the model cannot take
        raise TrainerError("DatasetMalformed", f"evaluation.uri {rows.uri}: the model cannot "
                           f"score it: {type(error).__name__}: {error}") from None
