"""Request bodies -> float32 matrices, validated by hand against the input schema.

Hot routes skip FastAPI/pydantic body parsing: the raw body goes through orjson
and a few C-level checks (``itemgetter``, ``np.array``, ``set(map(type, ...))``).
Only when a fast check fails do we walk the payload again, slowly, to write an
error message that names the offending field.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import chain
from operator import itemgetter
from typing import Any

import numpy as np

from mlops_runtime.server.jsontypes import (
    NUMBER_TYPES,
    InputError,
    first_non_number,
    is_number,
    json_type,
    loads_body,
)
from mlops_runtime.server.schema import InputSchema

ONNX_INPUT_NAME = "input"
NUMERIC_DATATYPES = frozenset(
    ("FP16", "FP32", "FP64", "INT8", "INT16", "INT32", "INT64")
    + ("UINT8", "UINT16", "UINT32", "UINT64")
)


#: The fields of a /predict body: one of the data fields, and the optional IDs.
PREDICT_DATA = ("instances", "columns")
PREDICT_FIELDS = frozenset((*PREDICT_DATA, "id", "ids"))


@dataclass(frozen=True)
class PredictRequest:
    """A /predict body: the inputs and the client's request and row IDs, if given (raw;
    ``request_ids`` checks them)."""

    x: np.ndarray
    request_id: Any
    row_ids: Any


@dataclass(frozen=True)
class InferRequest:
    """What an Open Inference Protocol request asks for, besides the matrix."""

    x: np.ndarray
    request_id: Any
    row_ids: Any  # ``parameters.ids``
    outputs: tuple[str, ...] | None


class Decoder:
    """Turns /predict and /v2 infer bodies into an (n, n_features) float32 matrix.

    ``column_payloads.ColumnDecoder`` reuses the body structure and its checks and
    replaces :meth:`_matrix`, :meth:`_columns_matrix` and the tensor checks."""

    #: What error messages say a row or a column holds.
    VALUES = "numbers"

    def __init__(self, schema: InputSchema, max_rows: int) -> None:
        self.names = schema.feature_names
        self.n_features = schema.n_features
        self.max_rows = max_rows
        self._name_set = frozenset(self.names)
        self._index = {name: i for i, name in enumerate(self.names)}
        if self.n_features == 1:
            only = self.names[0]
            self._getter: Callable[[Any], Sequence[Any]] = lambda record: (record[only],)
        else:
            self._getter = itemgetter(*self.names)

    # ---------------------------------------------------------------- /predict
    def predict_body(self, body: bytes) -> PredictRequest:
        """Decode ``{"instances": [...]}`` (records or rows) or ``{"columns": {...}}``, with
        the optional ``id`` and ``ids``."""
        doc = loads_body(body)
        if type(doc) is not dict:
            raise InputError("body: expected a JSON object with 'instances' or 'columns'")
        if len(doc) != 1:
            for key in doc:
                if key not in PREDICT_FIELDS:
                    raise InputError(f"body: unknown field {key!r}; use 'instances' or "
                                     "'columns' (and optionally 'id', 'ids')")
            if all(key in doc for key in PREDICT_DATA):
                raise InputError("body: give either 'instances' or 'columns', not both")
        return PredictRequest(self._predict_inputs(doc), doc.get("id"), doc.get("ids"))

    def _predict_inputs(self, doc: dict[str, Any]) -> np.ndarray:
        if "instances" in doc:
            instances = doc["instances"]
            if type(instances) is not list:
                raise InputError("instances: expected a list of records or rows")
            self._check_rows(len(instances), "instances")
            first = instances[0]
            if type(first) is dict:
                return self._records(instances)
            if type(first) is list:
                return self._rows(instances)
            raise InputError(
                "instances[0]: expected an object (record) or an array (row), "
                f"got {json_type(first)}"
            )
        if "columns" in doc:
            return self._columns(doc["columns"])
        raise InputError("body: expected 'instances' or 'columns'")

    def _check_rows(self, n_rows: int, field: str) -> None:
        if n_rows == 0:
            raise InputError(f"{field}: empty batch")
        if n_rows > self.max_rows:
            raise InputError(f"{field}: {n_rows} rows exceed the limit of {self.max_rows}", 413)

    def _records(self, instances: list[Any]) -> np.ndarray:
        n = self.n_features
        try:
            rows = [self._getter(record) for record in instances]
        except (KeyError, TypeError):
            raise InputError(self._diagnose_records(instances)) from None
        if sum(map(len, instances)) != n * len(instances):
            raise InputError(self._diagnose_records(instances))
        return self._matrix(
            rows,
            lambda i, j: f"instances[{i}][{self.names[j]!r}]",
            lambda: self._diagnose_records(instances),
        )

    def _diagnose_records(self, instances: list[Any]) -> str:
        for i, record in enumerate(instances):
            if type(record) is not dict:
                return (
                    f"instances[{i}]: expected an object like instances[0], got {json_type(record)}"
                )
            for name in self.names:
                if name not in record:
                    return f"instances[{i}]: missing feature {name!r}"
            for key in record:
                if key not in self._name_set:
                    return f"instances[{i}]: unknown feature {key!r}"
            for name in self.names:
                if not is_number(record[name]):
                    return (
                        f"instances[{i}][{name!r}]: expected a number, "
                        f"got {json_type(record[name])}"
                    )
        return "instances: invalid records"

    def _rows(self, instances: list[Any]) -> np.ndarray:
        return self._matrix(
            instances,
            lambda i, j: f"instances[{i}][{j}] ({self.names[j]!r})",
            lambda: self._diagnose_rows(instances, "instances"),
        )

    def _diagnose_rows(self, rows: list[Any], field: str) -> str:
        n = self.n_features
        for i, row in enumerate(rows):
            if type(row) is not list:
                return (f"{field}[{i}]: expected an array of {n} {self.VALUES}, "
                        f"got {json_type(row)}")
            if len(row) != n:
                return f"{field}[{i}]: expected {n} values (one per feature), got {len(row)}"
            for j, value in enumerate(row):
                if not is_number(value):
                    return (
                        f"{field}[{i}][{j}] ({self.names[j]!r}): expected a number, "
                        f"got {json_type(value)}"
                    )
        return f"{field}: invalid rows"

    def _columns(self, columns: Any) -> np.ndarray:
        if type(columns) is not dict:
            raise InputError("columns: expected an object mapping feature names to lists")
        for name in self.names:
            if name not in columns:
                raise InputError(f"columns: missing feature {name!r}")
        if len(columns) != self.n_features:
            for key in columns:
                if key not in self._name_set:
                    raise InputError(f"columns: unknown feature {key!r}")
        lists = [columns[name] for name in self.names]
        for name, values in zip(self.names, lists, strict=True):
            if type(values) is not list:
                raise InputError(f"columns[{name!r}]: expected a list of {self.VALUES}")
        n_rows = len(lists[0])
        for name, values in zip(self.names, lists, strict=True):
            if len(values) != n_rows:
                raise InputError(
                    f"columns[{name!r}]: has {len(values)} values, expected {n_rows} "
                    f"like columns[{self.names[0]!r}]"
                )
        self._check_rows(n_rows, "columns")
        return self._columns_matrix(
            lists, lambda i, j: f"columns[{self.names[j]!r}][{i}]", "columns"
        )

    def _columns_matrix(
        self, lists: list[list[Any]], locate: Callable[[int, int], str], field: str
    ) -> np.ndarray:
        """Matrix from one list per feature (columns / per-feature V2 tensors)."""

        def diagnose() -> str:
            for j, values in enumerate(lists):
                for i, value in enumerate(values):
                    if not is_number(value):
                        return f"{locate(i, j)}: expected a number, got {json_type(value)}"
            return f"{field}: invalid values"

        try:
            arr = np.array(lists, dtype=np.float64)
        except (ValueError, TypeError, OverflowError):
            raise InputError(diagnose()) from None
        if arr.ndim != 2 or not set(map(type, chain.from_iterable(lists))) <= NUMBER_TYPES:
            raise InputError(diagnose())
        return self._finite(np.ascontiguousarray(arr.T), locate)

    # ------------------------------------------------------------ shared core
    def _matrix(
        self,
        rows: Sequence[Sequence[Any]],
        locate: Callable[[int, int], str],
        diagnose: Callable[[], str],
    ) -> np.ndarray:
        """Rows -> float32 matrix; only numbers (not bools, strings, nulls) pass."""
        try:
            arr = np.array(rows, dtype=np.float64)
        except (ValueError, TypeError, OverflowError):
            raise InputError(diagnose()) from None
        if arr.shape != (len(rows), self.n_features):
            raise InputError(diagnose())
        if not set(map(type, chain.from_iterable(rows))) <= NUMBER_TYPES:
            raise InputError(diagnose())
        return self._finite(arr, locate)

    @staticmethod
    def _finite(arr: np.ndarray, locate: Callable[[int, int], str]) -> np.ndarray:
        """Cast to float32 and refuse values float32 cannot hold (they would become inf)."""
        with np.errstate(over="ignore", invalid="ignore"):
            x = arr.astype(np.float32)
        if not np.isfinite(x).all():
            i, j = (int(k) for k in np.argwhere(~np.isfinite(x))[0])
            raise InputError(f"{locate(i, j)}: value {float(arr[i, j])!r} is out of float32 range")
        return x

    # --------------------------------------------------------------- /v2 infer
    def infer_body(self, body: bytes, outputs_available: Sequence[str]) -> InferRequest:
        """Decode an Open Inference Protocol V2 request."""
        doc = loads_body(body)
        if type(doc) is not dict:
            raise InputError("body: expected a JSON object with 'inputs'")
        parameters = doc.get("parameters")
        if parameters is not None and type(parameters) is not dict:
            raise InputError("parameters: expected an object")
        outputs = self._requested_outputs(doc.get("outputs"), outputs_available)
        inputs = doc.get("inputs")
        if type(inputs) is not list or not inputs:
            raise InputError("inputs: expected a non-empty list of tensors")
        for index, tensor in enumerate(inputs):
            self._check_tensor(index, tensor)
        if len(inputs) == 1 and inputs[0]["name"] == ONNX_INPUT_NAME:
            x = self._matrix_tensor(inputs[0])
        else:
            x = self._feature_tensors(inputs)
        return InferRequest(x=x, request_id=doc.get("id"),
                            row_ids=(parameters or {}).get("ids"), outputs=outputs)

    @staticmethod
    def _requested_outputs(outputs: Any, available: Sequence[str]) -> tuple[str, ...] | None:
        if outputs is None:
            return None
        if type(outputs) is not list:
            raise InputError("outputs: expected a list of {'name': ...} objects")
        names: list[str] = []
        for index, output in enumerate(outputs):
            name = output.get("name") if type(output) is dict else None
            if type(name) is not str:
                raise InputError(f"outputs[{index}].name: expected a string")
            if name not in available:
                raise InputError(
                    f"outputs[{index}].name: unknown output {name!r}; "
                    f"available: {', '.join(available)}"
                )
            names.append(name)
        return tuple(names)

    @staticmethod
    def _check_tensor(index: int, tensor: Any) -> None:
        field = f"inputs[{index}]"
        if type(tensor) is not dict:
            raise InputError(f"{field}: expected a tensor object")
        for key in ("name", "shape", "datatype", "data"):
            if key not in tensor:
                raise InputError(f"{field}.{key}: missing")
        if type(tensor["name"]) is not str:
            raise InputError(f"{field}.name: expected a string")
        shape = tensor["shape"]
        if type(shape) is not list or not all(type(d) is int and d >= 0 for d in shape):
            raise InputError(f"{field}.shape: expected a list of non-negative integers")
        datatype = tensor["datatype"]
        if datatype not in NUMERIC_DATATYPES:
            raise InputError(
                f"{field}.datatype: expected a numeric datatype such as FP32, got {datatype!r}"
            )
        if type(tensor["data"]) is not list:
            raise InputError(f"{field}.data: expected a list")

    def _matrix_tensor(self, tensor: dict[str, Any]) -> np.ndarray:
        n = self.n_features
        shape = tensor["shape"]
        if len(shape) != 2 or shape[1] != n:
            raise InputError(f"inputs[0].shape: expected [n, {n}], got {shape}")
        self._check_rows(shape[0], "inputs[0].shape")
        data = tensor["data"]
        expected = shape[0] * n

        def diagnose() -> str:
            bad = first_non_number(data, "inputs[0].data")
            if bad is not None:
                return bad
            return (
                f"inputs[0].data: expected {expected} numbers (flat) or {shape[0]} rows "
                f"of {n} for shape {shape}"
            )

        try:
            arr = np.array(data, dtype=np.float64)
        except (ValueError, TypeError, OverflowError):
            raise InputError(diagnose()) from None
        if arr.size != expected or arr.ndim not in (1, 2) or (arr.ndim == 2 and arr.shape[1] != n):
            raise InputError(diagnose())
        leaves = chain.from_iterable(data) if arr.ndim == 2 else data
        if not set(map(type, leaves)) <= NUMBER_TYPES:
            raise InputError(diagnose())
        return self._finite(
            arr.reshape(shape[0], n),
            lambda i, j: f"inputs[0].data (row {i}, feature {self.names[j]!r})",
        )

    def _feature_tensors(self, inputs: list[dict[str, Any]]) -> np.ndarray:
        by_name: dict[str, int] = {}
        for index, tensor in enumerate(inputs):
            name = tensor["name"]
            if name not in self._name_set:
                if name == ONNX_INPUT_NAME:
                    raise InputError(
                        f"inputs[{index}].name: tensor {ONNX_INPUT_NAME!r} cannot be combined "
                        "with other tensors"
                    )
                raise InputError(
                    f"inputs[{index}].name: unknown input {name!r}; expected "
                    f"{ONNX_INPUT_NAME!r} or one tensor per feature"
                )
            if name in by_name:
                raise InputError(f"inputs[{index}].name: duplicate tensor {name!r}")
            by_name[name] = index
        for name in self.names:
            if name not in by_name:
                raise InputError(f"inputs: missing tensor for feature {name!r}")
        order = [by_name[name] for name in self.names]
        n_rows = -1
        lists: list[list[Any]] = []
        for index in order:
            tensor = inputs[index]
            shape = tensor["shape"]
            if len(shape) not in (1, 2) or (len(shape) == 2 and shape[1] != 1):
                raise InputError(f"inputs[{index}].shape: expected [n] or [n, 1], got {shape}")
            if n_rows < 0:
                n_rows = shape[0]
                self._check_rows(n_rows, f"inputs[{index}].shape")
            elif shape[0] != n_rows:
                raise InputError(
                    f"inputs[{index}].shape: {shape[0]} rows, expected {n_rows} like the others"
                )
            data = tensor["data"]
            if len(shape) == 2 and data and type(data[0]) is list:
                if not all(type(v) is list and len(v) == 1 for v in data):
                    raise InputError(f"inputs[{index}].data: expected {n_rows} values")
                data = [v[0] for v in data]
            if len(data) != n_rows:
                raise InputError(
                    f"inputs[{index}].data: expected {n_rows} values for shape {shape}, "
                    f"got {len(data)}"
                )
            lists.append(data)
        return self._columns_matrix(lists, lambda i, j: f"inputs[{order[j]}].data[{i}]", "inputs")
