"""The scikit-learn pipeline a :class:`~.preprocessing.Plan` describes.

A matrix plan (all numeric, nothing to impute) keeps the pipeline ``[scaler?, estimator]``
on one float matrix. Any other plan is ``[ColumnTransformer, estimator]`` on a frame with
one column per feature; columns with the same settings share one transformer:

- numeric and boolean: ``SimpleImputer`` (if imputed), ``StandardScaler`` (if the
  estimator's scaler is ``standard``);
- categorical: ``SimpleImputer(missing_values="")`` (if imputed), then ``OneHotEncoder``
  (unknown categories: all zeros), ``OrdinalEncoder`` (unknown: -1, scaled like numbers)
  or, for ``native``, ``OrdinalEncoder`` (unknown: NaN) whose codes the
  HistGradientBoosting estimator splits as categories (``categorical_features``).

Every transformer is one skl2onnx converts, so the whole pipeline becomes one ONNX graph.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

from mlops_runtime.trainer.preprocessing import MISSING_CATEGORY, ColumnPlan, Plan
from mlops_runtime.trainer.spec import SCALERS, EstimatorSpec, build_estimator

#: Output order of the groups: one-hot last, so the native columns' indices are known
#: before fitting (every other encoding gives one output column per input column).
_ORDER = {"numeric": 0, "ordinal": 1, "native": 2, "onehot": 3}


def _group_key(column: ColumnPlan) -> tuple[Any, ...]:
    branch = "numeric" if column.kind != "categorical" else str(column.encode)
    fill = column.fill_value if column.impute == "constant" else None
    if isinstance(fill, bool):
        fill = float(fill)  # booleans are 0.0/1.0 by then
    return (branch, column.impute, fill)


def _imputer(column: ColumnPlan, fill: Any) -> SimpleImputer:
    if column.kind == "categorical":
        return SimpleImputer(missing_values=MISSING_CATEGORY, strategy=column.impute,
                             fill_value=fill)
    return SimpleImputer(strategy=column.impute, fill_value=fill)


def _encoder(branch: str) -> BaseEstimator:
    if branch == "onehot":
        return OneHotEncoder(handle_unknown="ignore", sparse_output=False)
    if branch == "native":
        return OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan)
    return OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1)


def _transformer(key: tuple[Any, ...], column: ColumnPlan, scale: bool) -> Any:
    branch, impute, fill = key
    steps: list[tuple[str, Any]] = []
    if impute != "none":
        steps.append(("impute", _imputer(column, fill)))
    if branch != "numeric":
        steps.append(("encode", _encoder(branch)))
    if scale and branch in ("numeric", "ordinal"):
        steps.append(("scale", StandardScaler()))
    if not steps:
        return "passthrough"
    return steps[0][1] if len(steps) == 1 else Pipeline(steps)


def preprocessor(plan: Plan, scale: bool) -> tuple[ColumnTransformer, list[int]]:
    """The ColumnTransformer, and the indices of its native categorical output columns."""
    groups: dict[tuple[Any, ...], list[ColumnPlan]] = {}
    for column in plan.columns:
        groups.setdefault(_group_key(column), []).append(column)
    ordered = sorted(groups.items(), key=lambda item: _ORDER[item[0][0]])
    transformers, native, width = [], [], 0
    for index, (key, columns) in enumerate(ordered):
        names = [c.name for c in columns]
        transformers.append((f"{key[0]}_{index}", _transformer(key, columns[0], scale), names))
        if key[0] == "native":
            native.extend(range(width, width + len(names)))
        width += len(names)
    return ColumnTransformer(transformers, remainder="drop", sparse_threshold=0.0), native


def build_pipeline(plan: Plan, spec: EstimatorSpec, seed: int) -> Pipeline:
    """The pipeline to fit: preprocessing ships inside the model, so serving needs none."""
    estimator = build_estimator(spec, seed)
    scaler = SCALERS[spec.scaler]
    if plan.matrix:
        steps: list[tuple[str, Any]] = [("scaler", scaler())] if scaler is not None else []
        return Pipeline([*steps, ("estimator", estimator)])
    transformer, native = preprocessor(plan, scale=scaler is not None)
    if native:
        estimator.set_params(categorical_features=native)
    return Pipeline([("preprocess", transformer), ("estimator", estimator)])
