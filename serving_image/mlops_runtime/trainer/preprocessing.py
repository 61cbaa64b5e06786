"""The per-column preprocessing plan, inferred from the data and ``spec.preprocessing``; pure.

For each feature column the plan says its kind (numeric, boolean or categorical: from
the dtype unless the spec says otherwise), how missing values are imputed, how
categories are encoded, the type the model server checks (``float``, ``int``, ``bool``,
``string``) and whether the model accepts a missing value there (``nullable``).
:func:`model_inputs` turns the raw columns into what the pipeline is fitted on, and
:meth:`Plan.to_json` is the plan as a ``spec.preprocessing`` block that reproduces it
on the same data (recorded in the ModelVersion's ``params.preprocessing``).

Missing values are NaN in numeric and boolean columns (booleans become 0.0/1.0) and
:data:`MISSING_CATEGORY`, the empty string, in categorical ones: ONNX string tensors
cannot hold a null, so the empty string is the one spelling of a missing category in
training, in the ONNX graph and in the model server.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mlops_runtime.trainer.errors import TrainerError
from mlops_runtime.trainer.preprocessing_spec import (
    IMPUTERS,
    KINDS,
    NATIVE_ESTIMATORS,
    ColumnSettings,
    PreprocessingSpec,
    check_fill_value,
    invalid,
)

MISSING_CATEGORY = ""
DEFAULT_FILL: dict[str, float | bool | str] = {
    "numeric": 0.0, "boolean": False, "categorical": "missing"}
SCHEMA_TYPES = {"boolean": "bool", "categorical": "string"}
HGB_MAX_BINS = 255
_TRUE_WORDS = frozenset({"true", "1"})
_BOOL_WORDS = frozenset({"true", "false", "1", "0"})


@dataclass(frozen=True)
class ColumnPlan:
    """What happens to one feature column."""

    name: str
    kind: str  # numeric | boolean | categorical
    inferred_kind: str  # what the dtype alone says (the spec may override it)
    impute: str  # an IMPUTERS strategy, or "none"
    fill_value: float | str | bool | None  # for impute "constant"
    encode: str | None  # categorical: onehot | ordinal | native
    schema_type: str  # float | int | bool | string
    nullable: bool  # the model takes a missing value here
    missing: int  # missing values in the whole dataset


@dataclass(frozen=True)
class Plan:
    """The plan for every feature, in feature order."""

    columns: tuple[ColumnPlan, ...]
    max_categories: int
    native: bool  # the estimator takes missing values itself (HistGradientBoosting*)

    @property
    def features(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def matrix(self) -> bool:
        """All numeric, nothing imputed, no missing value accepted: one float matrix (ONNX
        input ``input``) and the pipeline ``[scaler?, estimator]``, as before plans existed.
        Anything else is fed as one column per feature (one ONNX input each)."""
        return all(c.schema_type in ("float", "int") and not c.nullable for c in self.columns)

    def to_json(self) -> dict[str, Any]:
        """A ``spec.preprocessing`` that gives this plan again on the same data: per kind
        the settings most of its columns share, and the columns that differ."""
        doc: dict[str, Any] = {"maxCategories": self.max_categories}
        sections: dict[str, tuple[Any, ...]] = {}
        for kind in KINDS:
            found = [_settings_key(c) for c in self.columns if c.kind == kind]
            if found:
                sections[kind] = Counter(found).most_common(1)[0][0]
                doc[kind] = _settings_json(*sections[kind])
        columns: dict[str, Any] = {}
        for column in self.columns:
            entry: dict[str, Any] = {"kind": column.kind} if (
                column.kind != column.inferred_kind) else {}
            entry.update(_difference(_settings_key(column), sections[column.kind]))
            if entry:
                columns[column.name] = entry
        if columns:
            doc["columns"] = columns
        return doc


def _settings_key(column: ColumnPlan) -> tuple[Any, ...]:
    fill = column.fill_value if column.impute == "constant" else None
    return (column.impute, fill, column.encode)


def _difference(key: tuple[Any, ...], section: tuple[Any, ...]) -> dict[str, Any]:
    """The settings of a column that its kind's section does not already give."""
    (impute, fill, encode), doc = key, {}
    if impute != section[0]:
        doc["impute"] = impute
    if fill is not None and (impute != section[0] or fill != section[1]):
        doc["fillValue"] = fill
    if encode != section[2]:
        doc["encode"] = encode
    return doc


def _settings_json(impute: str, fill: Any, encode: str | None) -> dict[str, Any]:
    doc: dict[str, Any] = {"impute": impute}
    if fill is not None:
        doc["fillValue"] = fill
    if encode is not None:
        doc["encode"] = encode
    return doc


def _malformed(message: str) -> TrainerError:
    return TrainerError("DatasetMalformed", message)


def _example(values: pd.Series) -> str:
    return f", e.g. {values.iloc[0]!r}" if len(values) else ""


def dtype_kind(series: pd.Series) -> str:
    """numeric, boolean or categorical, from the dtype (object columns of booleans too)."""
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "boolean"
    if isinstance(dtype, pd.CategoricalDtype):
        return "categorical"
    if pd.api.types.is_datetime64_any_dtype(dtype) or pd.api.types.is_timedelta64_dtype(dtype):
        raise _malformed(f"feature column {series.name!r} holds dates or durations "
                         f"(dtype {dtype}); convert it to a number or a string first")
    if pd.api.types.is_numeric_dtype(dtype):
        return "numeric"
    present = series.dropna()
    if len(present) and all(isinstance(v, bool | np.bool_) for v in present):
        return "boolean"
    return "categorical"


def missing_mask(series: pd.Series, kind: str) -> np.ndarray:
    """True where a value is missing: null, or an empty string in a text column."""
    mask = series.isna().to_numpy(dtype=bool, copy=True)
    if kind == "categorical" or not pd.api.types.is_numeric_dtype(series.dtype):
        mask |= series.astype(object).astype(str).to_numpy() == MISSING_CATEGORY
    return mask


def _as_numeric(series: pd.Series, present: np.ndarray) -> pd.Series:
    if pd.api.types.is_bool_dtype(series.dtype) or dtype_kind(series) == "boolean":
        return series.astype(object).where(present, np.nan).astype("float64")
    if pd.api.types.is_numeric_dtype(series.dtype) and not isinstance(
            series.dtype, pd.CategoricalDtype):
        return pd.Series(series.to_numpy(dtype="float64", na_value=np.nan), index=series.index)
    values = series.astype(object).where(present, np.nan)
    numbers = pd.to_numeric(values, errors="coerce")
    bad = values[present & numbers.isna().to_numpy()]
    if len(bad):
        raise invalid(f"preprocessing.columns[{series.name!r}].kind: numeric, but the column "
                      f"holds {len(bad)} value(s) that are not numbers{_example(bad)}")
    return numbers.astype("float64")


def _as_boolean(series: pd.Series, present: np.ndarray) -> pd.Series:
    """Booleans as 0.0/1.0 (NaN missing) from bools, 0/1 numbers or true/false words."""
    values = series.astype(object).where(present, None)

    def one(value: Any) -> float:
        if value is None:
            return np.nan
        if isinstance(value, bool | np.bool_):
            return float(value)
        word = str(value).strip().lower().removesuffix(".0")
        if word not in _BOOL_WORDS:
            raise invalid(f"preprocessing.columns[{series.name!r}].kind: boolean, but the "
                          f"column holds {value!r} (expected true/false or 0/1)")
        return 1.0 if word in _TRUE_WORDS else 0.0

    return pd.Series([one(v) for v in values], index=series.index, dtype="float64")


def category_text(value: Any) -> str:
    """A category as text; whole floats print as integers (a zip code read as 10115.0 is
    "10115"), so 1, 1.0 and "1" are one category."""
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _as_categories(series: pd.Series, present: np.ndarray) -> pd.Series:
    """Strings, written by :func:`category_text`."""
    values = [category_text(v) if keep else MISSING_CATEGORY
              for v, keep in zip(series.astype(object), present, strict=True)]
    return pd.Series(values, index=series.index, dtype=object)


def convert(series: pd.Series, kind: str) -> pd.Series:
    """The column as the pipeline sees it: float64 (numeric, boolean) or str objects."""
    present = ~missing_mask(series, kind)
    if kind == "numeric":
        return _as_numeric(series, present)
    if kind == "boolean":
        return _as_boolean(series, present)
    return _as_categories(series, present)


def _default_impute(kind: str, missing: int, native: bool) -> str:
    if native or not missing:
        return "none"
    return {"numeric": "median", "boolean": "most_frequent", "categorical": "constant"}[kind]


def _pick(name: str, kind: str, column: ColumnSettings, section: ColumnSettings,
          attribute: str) -> tuple[Any, str]:
    """A setting from the column, else its kind's section; with the field it came from."""
    value = getattr(column, attribute)
    spelled = {"impute": "impute", "fill_value": "fillValue", "encode": "encode"}[attribute]
    if value is not None:
        return value, f"preprocessing.columns[{name!r}].{spelled}"
    return getattr(section, attribute), f"preprocessing.{kind}.{spelled}"


def _impute(name: str, kind: str, settings: tuple[ColumnSettings, ColumnSettings],
            missing: int, native: bool, estimator: str) -> tuple[str, Any]:
    impute, where = _pick(name, kind, *settings, "impute")
    impute = impute or _default_impute(kind, missing, native)
    if impute not in IMPUTERS[kind]:
        raise invalid(f"{where}: {impute} does not apply to {kind} column {name!r}; "
                      f"use one of {', '.join(IMPUTERS[kind])}")
    if impute == "none" and missing and kind != "categorical" and not native:
        raise _malformed(
            f"{kind} feature column {name!r} has {missing} missing value(s) and no imputation "
            f"({where}: none); {estimator} cannot take missing values (HistGradientBoosting* "
            "can): set an impute strategy such as median")
    fill, fill_where = _pick(name, kind, *settings, "fill_value")
    if impute != "constant":
        if fill is not None and settings[0].fill_value is not None:
            raise invalid(f"{fill_where} is used only with impute: constant, not {impute}")
        return impute, None
    return impute, check_fill_value(DEFAULT_FILL[kind] if fill is None else fill, kind,
                                    fill_where)


def _encode(name: str, settings: tuple[ColumnSettings, ColumnSettings], native: bool,
            categories: int, max_bins: int) -> str:
    encode, where = _pick(name, "categorical", *settings, "encode")
    encode = encode or ("native" if native else "onehot")
    if encode == "native" and categories > max_bins:
        raise _malformed(f"categorical column {name!r} has {categories} categories; native "
                         f"categorical splits take at most {max_bins} (the estimator's "
                         f"max_bins; {where}): use onehot or ordinal")
    return encode


def _categories(values: pd.Series, name: str, limit: int) -> int:
    count = int(values[values != MISSING_CATEGORY].nunique())
    if count > limit:
        raise _malformed(
            f"categorical column {name!r} has {count} distinct values, more than "
            f"preprocessing.maxCategories ({limit}): an identifier or free text? Leave it out "
            "of dataset.features, give it preprocessing.columns[...].kind: numeric, or raise "
            "maxCategories")
    return count


def plan_column(series: pd.Series, spec: PreprocessingSpec, estimator: str,
                max_bins: int = HGB_MAX_BINS) -> ColumnPlan:
    """The plan for one column; every problem names it."""
    name = str(series.name)
    if series.isna().all():
        raise _malformed(f"feature column {name!r} is entirely empty (all {len(series)} values "
                         "missing); leave it out of dataset.features")
    inferred = dtype_kind(series)
    column = spec.columns.get(name, ColumnSettings())
    kind = column.kind or inferred
    settings = (column, spec.section(kind))
    native = estimator in NATIVE_ESTIMATORS
    values = convert(series, kind)
    missing = int(missing_mask(series, kind).sum())
    if missing == len(series):
        raise _malformed(f"feature column {name!r} is entirely empty (all {len(series)} values "
                         "missing); leave it out of dataset.features")
    impute, fill = _impute(name, kind, settings, missing, native, estimator)
    encode = None
    if kind == "categorical":
        count = _categories(values, name, spec.max_categories)
        count += 1 if missing and impute == "none" else 0  # "" is then a category of its own
        encode = _encode(name, settings, native, count, max_bins)
    elif column.encode is not None:
        raise invalid(f"preprocessing.columns[{name!r}].encode: {name!r} is a {kind} column; "
                      "only categorical columns are encoded")
    if kind == "numeric":
        schema_type = "int" if pd.api.types.is_integer_dtype(series.dtype) else "float"
    else:
        schema_type = SCHEMA_TYPES[kind]
    nullable = kind == "categorical" or impute != "none" or native
    return ColumnPlan(name, kind, inferred, impute, fill, encode, schema_type, nullable, missing)


def infer_plan(frame: pd.DataFrame, spec: PreprocessingSpec, estimator: str,
               estimator_params: Mapping[str, Any] | None = None) -> Plan:
    """The plan for every column of ``frame`` (the feature columns, in order)."""
    unknown = [name for name in spec.columns if name not in frame.columns]
    if unknown:
        raise TrainerError("MissingFeature",
                           f"preprocessing.columns names {', '.join(repr(n) for n in unknown)}, "
                           "which is not among the features")
    max_bins = int((estimator_params or {}).get("max_bins", HGB_MAX_BINS))
    columns = tuple(plan_column(frame[name], spec, estimator, max_bins) for name in frame.columns)
    return Plan(columns, spec.max_categories, estimator in NATIVE_ESTIMATORS)


def model_inputs(frame: pd.DataFrame, plan: Plan,
                 column_scale: Mapping[str, float]) -> np.ndarray | pd.DataFrame:
    """What the pipeline is fitted on: a float64 matrix (:attr:`Plan.matrix`) or a frame of
    float64 and string columns, numbers rounded to float32 (what the server feeds ONNX)."""
    kinds = {c.name: c.kind for c in plan.columns}
    for name in column_scale:
        if kinds.get(name) != "numeric":
            raise invalid(f"dataset.columnScale[{name!r}]: only numeric columns can be "
                          f"scaled; {name!r} is {kinds.get(name)}")
    converted = pd.DataFrame({c.name: convert(frame[c.name], c.kind) for c in plan.columns},
                             index=frame.index)
    numeric = [c.name for c in plan.columns if c.kind != "categorical"]
    if numeric:
        values = converted[numeric].to_numpy(dtype="float64")
        if np.isinf(values).any():
            bad = [numeric[i] for i in np.where(np.isinf(values).any(axis=0))[0]]
            raise _malformed(f"feature column(s) {', '.join(repr(b) for b in bad)} "
                             "hold infinities")
    for name, factor in column_scale.items():
        converted[name] = converted[name] * factor
    if plan.matrix:
        return converted.to_numpy(dtype="float64", copy=True)
    for name in numeric:
        converted[name] = converted[name].astype("float32").astype("float64")
    return converted
