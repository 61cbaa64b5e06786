"""Model inputs one array per feature, for schemas that are not all plain numbers.

A :attr:`~.schema.InputSchema.columnar` schema (a ``string`` or ``bool`` feature, or a
nullable one) is decoded into a :class:`ColumnBatch`: for each feature an ``(n, 1)``
array, ``float32`` for ``float``/``int``/``bool`` features (booleans 0.0/1.0, NaN where a
value is missing) and an object array of ``str`` for ``string`` features
(:data:`MISSING_CATEGORY`, the empty string, where a value is missing: ONNX string
tensors hold no nulls, and the trainer spells a missing category the same way). That is
exactly the ONNX model's inputs, in feature order, and the frame a skops pipeline takes.

Everything that handles a batch of inputs (batcher, metrics, mirror) goes through
:func:`concat` and :func:`numeric_matrix`, which take a float matrix (the numeric fast
path, untouched) or a :class:`ColumnBatch` alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlops_runtime.server.schema import InputSchema

MISSING_CATEGORY = ""
NUMERIC_TYPES = frozenset(("float", "int", "bool"))


@dataclass(frozen=True)
class Layout:
    """The columns a schema's model takes: names, types, which are numbers, which nullable."""

    names: tuple[str, ...]
    types: tuple[str, ...]
    nullable: tuple[bool, ...]

    @classmethod
    def of(cls, schema: InputSchema) -> Layout:
        return cls(schema.feature_names, schema.feature_types,
                   tuple(schema.is_nullable(i) for i in range(schema.n_features)))

    @property
    def numeric(self) -> tuple[int, ...]:
        """Indices of the features fed as floats (drift statistics cover these)."""
        return tuple(i for i, t in enumerate(self.types) if t in NUMERIC_TYPES)

    def probe(self) -> ColumnBatch:
        """One row of zeros, ``false`` and missing categories: the load-time test row."""
        return ColumnBatch(self, tuple(
            np.full((1, 1), MISSING_CATEGORY, dtype=object) if t == "string"
            else np.zeros((1, 1), dtype=np.float32) for t in self.types))


@dataclass(frozen=True, eq=False)
class ColumnBatch:
    """One ``(n, 1)`` array per feature of ``layout``, in its order."""

    layout: Layout
    columns: tuple[np.ndarray, ...]

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, features), like a matrix's."""
        return (len(self.columns[0]), len(self.columns))

    def __len__(self) -> int:
        return len(self.columns[0])

    def frame(self) -> Any:
        """A pandas frame with the feature names (what a skops pipeline was fitted on)."""
        import pandas as pd

        return pd.DataFrame({
            name: column.reshape(-1) if column.dtype == object
            else column.reshape(-1).astype(np.float64)
            for name, column in zip(self.layout.names, self.columns, strict=True)})

    def document(self) -> dict[str, Any]:
        """The batch as a ``/predict`` body (``columns``), nulls where values are missing."""
        columns: dict[str, list[Any]] = {}
        for name, kind, column in zip(self.layout.names, self.layout.types, self.columns,
                                      strict=True):
            values = column.reshape(-1)
            if kind == "string":
                columns[name] = [None if v == MISSING_CATEGORY else v for v in values.tolist()]
            else:
                floats = values.astype(np.float64).tolist()
                columns[name] = [None if v != v else (v == 1.0 if kind == "bool" else v)
                                 for v in floats]
        return {"columns": columns}


Inputs = np.ndarray | ColumnBatch


def concat(parts: Sequence[Inputs]) -> Inputs:
    """Rows of several batches as one (matrices or column batches, never mixed)."""
    if len(parts) == 1:
        return parts[0]
    first = parts[0]
    if isinstance(first, np.ndarray):
        return np.concatenate(parts)  # type: ignore[arg-type]
    batches: Sequence[ColumnBatch] = parts  # type: ignore[assignment]
    return ColumnBatch(first.layout, tuple(
        np.concatenate(arrays) for arrays in zip(*(b.columns for b in batches), strict=True)))


def numeric_matrix(x: Inputs) -> np.ndarray:
    """The numeric features as an ``(n, k)`` float64 matrix (NaN where missing)."""
    if isinstance(x, np.ndarray):
        return x.astype(np.float64)
    numeric = x.layout.numeric
    if not numeric:
        return np.zeros((len(x), 0), dtype=np.float64)
    return np.hstack([x.columns[i] for i in numeric]).astype(np.float64)
