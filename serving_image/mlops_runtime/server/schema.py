"""The model's input schema: parsed and checked once at startup.

The trainer writes it as JSON (and into the ONNX ``metadata_props`` under
:data:`SCHEMA_METADATA_KEY`); every request is validated against this object, so
the hot path never re-reads the raw JSON.

Feature types: ``float`` and ``int`` (JSON numbers), ``bool`` (JSON booleans) and
``string`` (JSON strings: categories). ``nullable: true`` marks a feature where the model
takes a missing value (JSON null; the empty string for a string feature). A schema of
numbers only, none nullable, is served as one float matrix (the fast path); any other
is :attr:`InputSchema.columnar`: one array per feature (see ``columns.py``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import orjson

SCHEMA_METADATA_KEY = "mlops.input_schema"
FEATURE_TYPES = ("float", "int", "bool", "string")
MATRIX_TYPES = frozenset(("float", "int"))
TASKS = ("classification", "regression")


class SchemaError(ValueError):
    """The input schema itself is invalid (a startup error, never a request error)."""


@dataclass(frozen=True)
class InputSchema:
    """Feature order, task and optional class list / prediction buckets."""

    feature_names: tuple[str, ...]
    feature_types: tuple[str, ...]
    task: str
    classes: tuple[Any, ...] | None = None
    target: str | None = None
    prediction_buckets: tuple[float, ...] | None = None
    nullable: tuple[bool, ...] | None = None  # None: no feature is

    @property
    def columnar(self) -> bool:
        """Served one array per feature: a string or bool feature, or a nullable one."""
        return any(t not in MATRIX_TYPES for t in self.feature_types) or any(
            self.nullable or ())

    def is_nullable(self, index: int) -> bool:
        """Whether feature ``index`` takes a missing value."""
        return bool(self.nullable and self.nullable[index])

    @property
    def n_features(self) -> int:
        """Number of input columns the model expects."""
        return len(self.feature_names)

    @property
    def is_classifier(self) -> bool:
        """Classifiers also return probabilities and count predictions per class."""
        return self.task == "classification"

    def to_json(self) -> dict[str, Any]:
        """Schema back as the trainer's JSON form (for the metadata endpoint)."""
        doc: dict[str, Any] = {
            "features": [
                {"name": n, "type": t, **({"nullable": True} if self.is_nullable(i) else {})}
                for i, (n, t) in enumerate(zip(self.feature_names, self.feature_types,
                                               strict=True))
            ],
            "task": self.task,
        }
        if self.classes is not None:
            doc["classes"] = list(self.classes)
        if self.target is not None:
            doc["target"] = self.target
        if self.prediction_buckets is not None:
            doc["predictionBuckets"] = list(self.prediction_buckets)
        return doc


def parse_schema(raw: str | bytes | dict[str, Any]) -> InputSchema:
    """Parse and check a schema; errors name the offending field."""
    if isinstance(raw, str | bytes):
        try:
            doc = orjson.loads(raw)
        except orjson.JSONDecodeError as error:
            raise SchemaError(f"input schema is not valid JSON: {error}") from None
    else:
        doc = raw
    if not isinstance(doc, dict):
        raise SchemaError("input schema must be a JSON object")
    names, types, nullable = _parse_features(doc.get("features"))
    task = doc.get("task")
    if task not in TASKS:
        raise SchemaError(f"input schema: 'task' must be one of {', '.join(TASKS)}, got {task!r}")
    classes = doc.get("classes")
    if classes == []:
        classes = None  # unknown; prediction counters then appear as classes are seen
    if classes is not None:
        if task != "classification":
            raise SchemaError("input schema: 'classes' is only valid for classification")
        if not isinstance(classes, list):
            raise SchemaError("input schema: 'classes' must be a list")
        if len({str(c) for c in classes}) != len(classes):
            raise SchemaError("input schema: 'classes' has duplicates")
    target = doc.get("target")
    if target is not None and not isinstance(target, str):
        raise SchemaError("input schema: 'target' must be a string")
    buckets = doc.get("predictionBuckets")
    if buckets is not None:
        buckets = _parse_buckets(buckets)
    return InputSchema(
        feature_names=tuple(names),
        feature_types=tuple(types),
        task=task,
        classes=tuple(classes) if classes is not None else None,
        target=target,
        prediction_buckets=buckets,
        nullable=tuple(nullable) if any(nullable) else None,
    )


def _parse_features(features: object) -> tuple[list[str], list[str], list[bool]]:
    """Names, types and nullable flags, in order; errors name the feature."""
    if not isinstance(features, list) or not features:
        raise SchemaError("input schema: 'features' must be a non-empty list")
    names: list[str] = []
    types: list[str] = []
    nullable: list[bool] = []
    for index, feature in enumerate(features):
        if not isinstance(feature, dict) or not isinstance(feature.get("name"), str):
            raise SchemaError(f"input schema: features[{index}] needs a string 'name'")
        name = feature["name"]
        kind = feature.get("type", "float")
        if kind not in FEATURE_TYPES:
            raise SchemaError(
                f"input schema: features[{index}] ({name!r}) has type {kind!r}; "
                f"expected one of {', '.join(FEATURE_TYPES)}"
            )
        if name in names:
            raise SchemaError(f"input schema: duplicate feature name {name!r}")
        flag = feature.get("nullable", False)
        if not isinstance(flag, bool):
            raise SchemaError(f"input schema: features[{index}] ({name!r}): 'nullable' must be "
                              f"true or false, got {flag!r}")
        names.append(name)
        types.append(kind)
        nullable.append(flag)
    return names, types, nullable


def _parse_buckets(buckets: object) -> tuple[float, ...]:
    """Histogram upper bounds must be finite and strictly increasing."""
    if not isinstance(buckets, list) or not buckets:
        raise SchemaError("input schema: 'predictionBuckets' must be a non-empty list")
    values: list[float] = []
    for index, bound in enumerate(buckets):
        if isinstance(bound, bool) or not isinstance(bound, int | float):
            raise SchemaError(f"input schema: predictionBuckets[{index}] is not a number")
        if not math.isfinite(bound) or (values and bound <= values[-1]):
            raise SchemaError("input schema: 'predictionBuckets' must be finite and increasing")
        values.append(float(bound))
    return tuple(values)
