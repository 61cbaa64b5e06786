"""k-fold cross-validation of the pipeline on the training split (``spec.crossValidation``).

Each fold refits a fresh copy of the same pipeline (preprocessing included, so nothing
learnt from a fold's validation rows leaks into its fit) and scores it with the same
metric functions as the hold-out, so ``accuracy`` means the same thing in both places.
The folds are ``stratified`` (classifiers' default), plain ``kfold`` (regressors'
default), ``group`` (rows sharing a value of ``groupColumn`` stay on one side) or ``time``
(the rows in file order, each fold validated on rows after the ones it was fitted on).
A fold that fails is recorded, not fatal: the version's artifact is the full fit.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.model_selection import GroupKFold, KFold, StratifiedKFold, TimeSeriesSplit

from mlops_runtime.trainer import evaluate
from mlops_runtime.trainer.errors import TrainerError

METHODS = ("auto", "kfold", "stratified", "group", "time")
MIN_FOLDS, MAX_FOLDS = 2, 20


@dataclass(frozen=True)
class CrossValidationSpec:
    """How to cross-validate; ``method`` is resolved (never ``auto``) by :func:`resolve`."""

    folds: int = 5
    method: str = "auto"
    group_column: str | None = None


def parse_cross_validation(raw: Any) -> CrossValidationSpec | None:
    """Validate ``spec.crossValidation`` (absent: no cross-validation)."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise _invalid(f"crossValidation must be an object, got {type(raw).__name__}")
    unknown = sorted(set(raw) - {"folds", "method", "groupColumn"})
    if unknown:
        raise _invalid(f"crossValidation.{unknown[0]} is not a known field; valid: folds, "
                       "method, groupColumn")
    folds = raw.get("folds", 5)
    if not isinstance(folds, int) or isinstance(folds, bool) or not (
            MIN_FOLDS <= folds <= MAX_FOLDS):
        raise _invalid(f"crossValidation.folds must be an integer from {MIN_FOLDS} to "
                       f"{MAX_FOLDS}, got {folds!r}")
    method = raw.get("method", "auto")
    if method not in METHODS:
        raise _invalid(f"crossValidation.method must be one of {', '.join(METHODS)}, "
                       f"got {method!r}")
    group = raw.get("groupColumn")
    if (method == "group") != (group is not None):
        raise _invalid("crossValidation.groupColumn is required with method: group, and only "
                       "then")
    if group is not None and (not isinstance(group, str) or not group):
        raise _invalid("crossValidation.groupColumn must be a column name")
    return CrossValidationSpec(folds, method, group)


def resolve(spec: CrossValidationSpec, task: str) -> CrossValidationSpec:
    """``auto`` becomes ``stratified`` for classification and ``kfold`` for regression."""
    if spec.method != "auto":
        return spec
    method = "stratified" if task == "classification" else "kfold"
    return CrossValidationSpec(spec.folds, method, spec.group_column)


def _invalid(message: str) -> TrainerError:
    return TrainerError("InvalidParams", message)


def _splitter(spec: CrossValidationSpec, seed: int) -> Any:
    if spec.method == "stratified":
        return StratifiedKFold(n_splits=spec.folds, shuffle=True, random_state=seed)
    if spec.method == "group":
        return GroupKFold(n_splits=spec.folds)
    if spec.method == "time":
        return TimeSeriesSplit(n_splits=spec.folds)
    return KFold(n_splits=spec.folds, shuffle=True, random_state=seed)


def _rows(x: np.ndarray | pd.DataFrame, index: np.ndarray) -> np.ndarray | pd.DataFrame:
    return x.iloc[index] if isinstance(x, pd.DataFrame) else x[index]


def _score(pipeline: Any, x: Any, y: np.ndarray, classifier: bool) -> dict[str, float | None]:
    predicted = pipeline.predict(x)
    if not classifier:
        return evaluate.regression_metrics(y, predicted)
    classes = list(pipeline.classes_)
    return evaluate.classification_metrics(y, predicted, pipeline.predict_proba(x), classes)


def _folds(spec: CrossValidationSpec, y: np.ndarray, groups: np.ndarray | None,
           seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    try:
        return list(_splitter(spec, seed).split(np.zeros(len(y)), y, groups))
    except ValueError as error:
        where = f" of {spec.group_column!r}" if spec.group_column else ""
        raise TrainerError("DatasetMalformed", f"cannot cut {len(y)} training rows{where} into "
                           f"{spec.folds} {spec.method} folds: {error}") from None


def cross_validate(pipeline: Any, x: np.ndarray | pd.DataFrame, y: np.ndarray,
                   spec: CrossValidationSpec, classifier: bool, seed: int,
                   groups: np.ndarray | None = None,
                   sample_weight: np.ndarray | None = None) -> dict[str, Any]:
    """Fit and score every fold; ``x``/``y`` in the order the folds should see (file order
    for ``time``). Returns the per-metric mean and std over the folds that scored it,
    each fold's scores, and the folds that failed."""
    scores: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    for number, (fit_rows, check_rows) in enumerate(_folds(spec, y, groups, seed), start=1):
        model = clone(pipeline)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the full fit's warnings are reported
                weighted = {} if sample_weight is None else {
                    "estimator__sample_weight": sample_weight[fit_rows]}
                model.fit(_rows(x, fit_rows), y[fit_rows], **weighted)
                metrics = _score(model, _rows(x, check_rows), y[check_rows], classifier)
        except Exception as error:  # one bad fold must not hide the others
            failed.append({"fold": number, "error": f"{type(error).__name__}: {error}"[:300]})
            continue
        scores.append({"fold": number, "rows": int(len(check_rows)),
                       **evaluate.round_metrics(metrics)})
    return {"folds": spec.folds, "method": spec.method, "metrics": aggregate(scores),
            "perFold": scores, "failedFolds": failed}


def aggregate(scores: list[Mapping[str, Any]]) -> dict[str, dict[str, float | int | None]]:
    """Mean and (population) std of each metric over the folds where it is defined."""
    names = [k for k in (scores[0] if scores else {}) if k not in ("fold", "rows")]
    result: dict[str, dict[str, float | int | None]] = {}
    for name in names:
        values = [float(s[name]) for s in scores if isinstance(s.get(name), int | float)
                  and math.isfinite(float(s[name]))]
        if values:
            result[name] = {"mean": evaluate.finite(np.mean(values), 6),
                            "std": evaluate.finite(np.std(values), 6), "folds": len(values)}
    return result


def summary(result: Mapping[str, Any]) -> dict[str, Any]:
    """What goes on the ModelVersion: mean and std per metric, and the failed folds' count."""
    out: dict[str, Any] = {"folds": result["folds"], "method": result["method"],
                           "metrics": {name: {"mean": v["mean"], "std": v["std"]}
                                       for name, v in result["metrics"].items()}}
    if result["failedFolds"]:
        out["failedFolds"] = len(result["failedFolds"])
        out["error"] = result["failedFolds"][0]["error"]
    return out
