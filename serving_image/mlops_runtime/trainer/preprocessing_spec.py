"""Parse and validate ``spec.preprocessing`` (camelCase, as in the TrainingJob CRD); pure.

::

    preprocessing:
      maxCategories: 100                  # more distinct values in a categorical column: error
      numeric:     {impute: median}       # defaults for each kind of column
      boolean:     {impute: most_frequent}
      categorical: {impute: constant, fillValue: missing, encode: onehot}
      columns:                            # per column, over its kind's defaults
        zip_code: {kind: categorical}
        employment_years: {impute: constant, fillValue: 0}

Everything is optional; what is left out is inferred from the data (see
:mod:`.preprocessing`). What can be checked without the data is checked here, before
any download, and every error names the field.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mlops_runtime.trainer.errors import TrainerError

KINDS = ("numeric", "boolean", "categorical")
#: Imputation strategies by kind; ``none`` leaves missing values in (an error unless
#: the estimator takes them natively, or for categories: missing is then a category).
IMPUTERS: dict[str, tuple[str, ...]] = {
    "numeric": ("median", "mean", "most_frequent", "constant", "none"),
    "boolean": ("most_frequent", "constant", "none"),
    "categorical": ("most_frequent", "constant", "none"),
}
ALL_IMPUTERS = IMPUTERS["numeric"]
#: ``native``: ordinal codes the estimator splits as categories (HistGradientBoosting*).
ENCODINGS = ("onehot", "ordinal", "native")
NATIVE_ESTIMATORS = frozenset({"HistGradientBoostingClassifier", "HistGradientBoostingRegressor"})
DEFAULT_MAX_CATEGORIES = 100
MAX_CATEGORIES_LIMIT = 10_000
MAX_COLUMNS = 256
_SECTION_KEYS: dict[str, frozenset[str]] = {
    "numeric": frozenset({"impute", "fillValue"}),
    "boolean": frozenset({"impute", "fillValue"}),
    "categorical": frozenset({"impute", "fillValue", "encode"}),
}
_COLUMN_KEYS = frozenset({"kind", "impute", "fillValue", "encode"})
_TOP_KEYS = frozenset({"maxCategories", "columns", *KINDS})


@dataclass(frozen=True)
class ColumnSettings:
    """What the spec says about a kind of column or one column; ``None``: not said."""

    kind: str | None = None
    impute: str | None = None
    fill_value: float | str | bool | None = None
    encode: str | None = None


@dataclass(frozen=True)
class PreprocessingSpec:
    """The validated ``spec.preprocessing`` block (all defaults when it is absent)."""

    numeric: ColumnSettings = ColumnSettings()
    boolean: ColumnSettings = ColumnSettings()
    categorical: ColumnSettings = ColumnSettings()
    columns: Mapping[str, ColumnSettings] = field(default_factory=dict)
    max_categories: int = DEFAULT_MAX_CATEGORIES

    def section(self, kind: str) -> ColumnSettings:
        """The defaults the spec gives for columns of ``kind``."""
        return {"numeric": self.numeric, "boolean": self.boolean,
                "categorical": self.categorical}[kind]


def invalid(message: str) -> TrainerError:
    """A spec error (the field is named in ``message``)."""
    return TrainerError("InvalidParams", message)


def _one_of(value: Any, allowed: tuple[str, ...], where: str) -> str:
    if value not in allowed:
        raise invalid(f"{where} must be one of {', '.join(allowed)}, got {value!r}")
    return str(value)


def _unknown_keys(raw: Mapping[str, Any], allowed: frozenset[str], where: str) -> None:
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise invalid(f"{where}: unknown field{'s' if len(unknown) > 1 else ''} "
                      f"{', '.join(repr(k) for k in unknown)}; valid: {', '.join(sorted(allowed))}")


def check_fill_value(value: Any, kind: str, where: str) -> float | str | bool:
    """A constant imputation value fitting ``kind``: a number, a boolean, or a non-empty
    string (the empty string is how a missing category is written)."""
    if kind == "categorical":
        if not isinstance(value, str) or not value:
            raise invalid(f"{where} must be a non-empty string for a categorical column, "
                          f"got {value!r}")
        return value
    if kind == "boolean":
        if isinstance(value, bool) or (isinstance(value, int) and value in (0, 1)):
            return bool(value)
        raise invalid(f"{where} must be true or false for a boolean column, got {value!r}")
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise invalid(f"{where} must be a finite number for a numeric column, got {value!r}")
    return float(value)


def _settings(raw: Any, where: str, allowed: frozenset[str], kind: str | None) -> ColumnSettings:
    if not isinstance(raw, dict):
        raise invalid(f"{where} must be an object, got {type(raw).__name__}")
    _unknown_keys(raw, allowed, where)
    declared = raw.get("kind")
    if declared is not None:
        declared = _one_of(declared, KINDS, f"{where}.kind")
    kind = kind or declared
    impute = raw.get("impute")
    if impute is not None:
        impute = _one_of(impute, IMPUTERS[kind] if kind else ALL_IMPUTERS, f"{where}.impute")
    encode = raw.get("encode")
    if encode is not None:
        if kind in ("numeric", "boolean"):
            raise invalid(f"{where}.encode: only categorical columns are encoded")
        encode = _one_of(encode, ENCODINGS, f"{where}.encode")
    fill = raw.get("fillValue")
    if fill is not None:
        # A column may take impute: constant from its kind's section; a section must say it.
        if impute not in (None, "constant") or (impute is None and kind is not None
                                                 and declared is None):
            raise invalid(f"{where}.fillValue is used only with impute: constant")
        if kind is not None:
            fill = check_fill_value(fill, kind, f"{where}.fillValue")
        elif isinstance(fill, dict | list) or not isinstance(fill, str | int | float | bool):
            raise invalid(f"{where}.fillValue must be a number, a boolean or a string")
    return ColumnSettings(kind=declared, impute=impute, fill_value=fill, encode=encode)


def _max_categories(raw: Mapping[str, Any]) -> int:
    value = raw.get("maxCategories", DEFAULT_MAX_CATEGORIES)
    if isinstance(value, bool) or not isinstance(value, int) or not (
            2 <= value <= MAX_CATEGORIES_LIMIT):
        raise invalid(f"preprocessing.maxCategories must be an integer from 2 to "
                      f"{MAX_CATEGORIES_LIMIT}, got {value!r}")
    return value


def _check_native(spec: PreprocessingSpec, estimator: str) -> None:
    if estimator in NATIVE_ESTIMATORS:
        return
    named = [("preprocessing.categorical.encode", spec.categorical.encode)] + [
        (f"preprocessing.columns[{name!r}].encode", s.encode) for name, s in spec.columns.items()]
    for where, encode in named:
        if encode == "native":
            raise invalid(f"{where}: native needs a HistGradientBoosting estimator "
                          f"(it splits on categories itself), not {estimator}; "
                          "use onehot or ordinal")


def parse_preprocessing(raw: Any, estimator: str) -> PreprocessingSpec:
    """Validate ``spec.preprocessing`` (``None``: everything inferred from the data)."""
    if raw is None:
        return PreprocessingSpec()
    if not isinstance(raw, dict):
        raise invalid(f"preprocessing must be an object, got {type(raw).__name__}")
    _unknown_keys(raw, _TOP_KEYS, "preprocessing")
    sections = {kind: _settings(raw[kind], f"preprocessing.{kind}", _SECTION_KEYS[kind], kind)
                if raw.get(kind) is not None else ColumnSettings() for kind in KINDS}
    columns_raw = raw.get("columns") or {}
    if not isinstance(columns_raw, dict):
        raise invalid("preprocessing.columns must be an object mapping column names to settings")
    if len(columns_raw) > MAX_COLUMNS:
        raise invalid(f"preprocessing.columns names {len(columns_raw)} columns; "
                      f"at most {MAX_COLUMNS}")
    columns = {str(name): _settings(value, f"preprocessing.columns[{name!r}]", _COLUMN_KEYS,
                                    None)
               for name, value in columns_raw.items()}
    spec = PreprocessingSpec(columns=columns, max_categories=_max_categories(raw), **sections)
    _check_native(spec, estimator)
    return spec
