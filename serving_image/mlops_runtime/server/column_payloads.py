"""Request bodies -> :class:`~.columns.ColumnBatch`, for schemas with string, bool or
nullable features.

The body shapes are the numeric decoder's (``payloads.Decoder``: records, rows,
columns; V2 tensors), and so are the structural checks and their messages: this class
replaces only the step that turns values into arrays, feature by feature, with the
feature's own type, so a wrong value is a 400 naming the field and what it takes:
``instances[3]['loan_purpose']: expected a string, got number``. V2 requests send one
tensor per feature: ``BYTES`` for string features, ``BOOL`` for bool features, a numeric
datatype for the others.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from mlops_runtime.server.columns import MISSING_CATEGORY, ColumnBatch, Inputs, Layout
from mlops_runtime.server.jsontypes import NUMBER_TYPES, InputError, json_type
from mlops_runtime.server.payloads import NUMERIC_DATATYPES, ONNX_INPUT_NAME, Decoder
from mlops_runtime.server.schema import InputSchema

Locate = Callable[[int, int], str]
_NONE = type(None)
#: JSON types a feature takes, and how an error message names them.
_ACCEPTS: dict[str, tuple[frozenset[type], str]] = {
    "float": (NUMBER_TYPES, "a number"),
    "int": (NUMBER_TYPES, "a number"),
    "bool": (frozenset((bool,)), "a boolean"),
    "string": (frozenset((str,)), "a string"),
}
_DATATYPES = {"string": (frozenset(("BYTES",)), "BYTES"), "bool": (frozenset(("BOOL",)), "BOOL")}
_NUMERIC = (NUMERIC_DATATYPES, "a numeric datatype such as FP32")


class ColumnDecoder(Decoder):
    """Turns /predict and /v2 infer bodies into a :class:`ColumnBatch`."""

    VALUES = "values"

    def __init__(self, schema: InputSchema, max_rows: int) -> None:
        super().__init__(schema, max_rows)
        self.layout = Layout.of(schema)
        self._accepts = [
            (types | {_NONE} if nullable else types, f"{name} or null" if nullable else name)
            for (types, name), nullable in (
                (_ACCEPTS[kind], nullable)
                for kind, nullable in zip(self.layout.types, self.layout.nullable, strict=True))]

    # ------------------------------------------------- values -> arrays, per feature
    def _matrix(self, rows: Sequence[Sequence[Any]], locate: Locate,
                diagnose: Callable[[], str]) -> Inputs:
        n = self.n_features
        if not all(type(row) in (list, tuple) and len(row) == n for row in rows):
            raise InputError(diagnose())  # structure first: the numeric decoder's messages
        return self._batch([list(column) for column in zip(*rows, strict=True)], locate)

    def _columns_matrix(self, lists: list[list[Any]], locate: Locate, field: str) -> Inputs:
        return self._batch(lists, locate)

    def _batch(self, lists: list[list[Any]], locate: Locate) -> ColumnBatch:
        return ColumnBatch(self.layout, tuple(
            self._column(values, j, locate) for j, values in enumerate(lists)))

    def _column(self, values: list[Any], j: int, locate: Locate) -> np.ndarray:
        accepted, expected = self._accepts[j]
        if not set(map(type, values)) <= accepted:
            raise InputError(self._wrong_type(values, j, locate, accepted, expected))
        if self.layout.types[j] == "string":
            if _NONE in accepted:
                values = [MISSING_CATEGORY if v is None else v for v in values]
            return np.array(values, dtype=object).reshape(-1, 1)
        try:
            wide = np.array(values, dtype=np.float64)  # None -> NaN, booleans -> 0.0/1.0
        except OverflowError:
            wide = np.array([float("inf") if type(v) is int else v for v in values],
                            dtype=np.float64)
        with np.errstate(over="ignore", invalid="ignore"):
            narrow = wide.astype(np.float32)
        if np.isinf(narrow).any():
            i = int(np.flatnonzero(np.isinf(narrow))[0])
            raise InputError(f"{self._where(locate, i, j)}: value {values[i]!r} is out of "
                             "float32 range")
        return narrow.reshape(-1, 1)

    def _where(self, locate: Locate, i: int, j: int) -> str:
        where, name = locate(i, j), self.names[j]
        return where if repr(name) in where else f"{where} ({name!r})"

    def _wrong_type(self, values: list[Any], j: int, locate: Locate,
                    accepted: frozenset[type], expected: str) -> str:
        for i, value in enumerate(values):
            if type(value) not in accepted:
                note = " (this feature takes no missing value)" if value is None else ""
                return (f"{self._where(locate, i, j)}: expected {expected}, "
                        f"got {json_type(value)}{note}")
        return f"{self.names[j]!r}: invalid values"

    # ----------------------------------------------------------------- /v2 infer
    def _check_tensor(self, index: int, tensor: Any) -> None:
        """The numeric decoder's structural checks, with the datatype checked per feature
        (an unknown name is reported by the per-feature step, not as a datatype)."""
        if type(tensor) is dict and "datatype" in tensor and type(tensor.get("name")) is str:
            position = self._index.get(tensor["name"])
            kind = self.layout.types[position] if position is not None else None
            allowed, expected = _DATATYPES.get(kind or "", _NUMERIC)
            if kind is not None and tensor["datatype"] not in allowed:
                raise InputError(
                    f"inputs[{index}].datatype: feature {tensor['name']!r} is a {kind} "
                    f"feature; expected {expected}, got {tensor['datatype']!r}")
            if kind is not None or tensor["datatype"] in ("BYTES", "BOOL"):
                tensor = {**tensor, "datatype": "FP32"}  # checked here; the rest is structure
        super()._check_tensor(index, tensor)

    def _matrix_tensor(self, tensor: dict[str, Any]) -> Inputs:
        raise InputError(
            f"inputs[0].name: this model takes one tensor per feature (its features are not "
            f"all numbers: {', '.join(repr(n) for n in self.names)}), not {ONNX_INPUT_NAME!r}")
