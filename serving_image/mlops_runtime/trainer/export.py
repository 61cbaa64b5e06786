"""Serialise the fitted pipeline: ONNX (preferred) and skops (fallback). Never pickle.

ONNX is data, not code, and runs far faster per row in onnxruntime; skops loads
only allow-listed types. ONNX is preferred only when onnxruntime reproduces
scikit-learn's predictions on the held-out split, so the served model is the
evaluated model.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.pipeline import Pipeline

SCHEMA_METADATA_KEY = "mlops.input_schema"
ONNX_INPUT_NAME = "input"
REGRESSION_RTOL = 1e-4


def jsonable(value: Any) -> Any:
    """Turn numpy scalars, tuples and odd objects into plain JSON values."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [jsonable(v) for v in list(value)]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if np.isfinite(value) else None
    if value is None or isinstance(value, bool | int | str):
        return value
    return repr(value)


def input_schema(
    features: Sequence[str],
    types: Sequence[str],
    task: str,
    target: str,
    classes: Sequence[Any] | None,
) -> dict[str, Any]:
    """The input contract the model server enforces (feature order matters)."""
    schema: dict[str, Any] = {
        "features": [{"name": n, "type": t} for n, t in zip(features, types, strict=True)],
        "task": task,
        "target": target,
    }
    if task == "classification":
        schema["classes"] = jsonable([] if classes is None else list(classes))
    return schema


@dataclass(frozen=True)
class OnnxResult:
    """Outcome of the ONNX export: bytes, or why there are none, and whether it agrees."""

    data: bytes | None
    matches: bool
    error: str | None


def _short(error: BaseException) -> str:
    text = str(error).strip()
    first = text.splitlines()[0] if text else ""
    return f"{type(error).__name__}: {first}"[:300]


def to_onnx(pipeline: Pipeline, n_features: int, classifier: bool, schema: dict[str, Any]) -> bytes:
    """Convert with skl2onnx: input ``input``; classifiers output ``label``/``probabilities``."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    estimator = pipeline.steps[-1][1]
    options = {id(estimator): {"zipmap": False}} if classifier else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = convert_sklearn(
            pipeline,
            initial_types=[(ONNX_INPUT_NAME, FloatTensorType([None, n_features]))],
            options=options,
        )
    entry = model.metadata_props.add()
    entry.key = SCHEMA_METADATA_KEY
    entry.value = json.dumps(schema, separators=(",", ":"))
    return bytes(model.SerializeToString())


def onnx_predict(data: bytes, x: np.ndarray) -> list[np.ndarray]:
    """Run the ONNX model with onnxruntime on CPU; returns all outputs."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    session = onnxruntime.InferenceSession(
        data, sess_options=options, providers=["CPUExecutionProvider"]
    )
    return list(session.run(None, {ONNX_INPUT_NAME: x.astype(np.float32)}))


def predictions_match(onnx_pred: np.ndarray, sklearn_pred: np.ndarray, classifier: bool) -> bool:
    """Labels equal for classifiers; allclose (rtol 1e-4) for regressors."""
    if classifier:
        return [*np.asarray(onnx_pred).ravel().tolist()] == [
            *np.asarray(sklearn_pred).ravel().tolist()
        ]
    left = np.asarray(onnx_pred, dtype="float64").ravel()
    right = np.asarray(sklearn_pred, dtype="float64").ravel()
    return left.shape == right.shape and bool(np.allclose(left, right, rtol=REGRESSION_RTOL))


def export_onnx(
    pipeline: Pipeline,
    x_test: np.ndarray,
    sklearn_pred: np.ndarray,
    classifier: bool,
    schema: dict[str, Any],
) -> OnnxResult:
    """Convert and check against scikit-learn; a failure is recorded, not raised."""
    try:
        data = to_onnx(pipeline, x_test.shape[1], classifier, schema)
    except Exception as error:  # skl2onnx raises anything for unsupported models
        return OnnxResult(None, False, f"conversion failed: {_short(error)}")
    try:
        outputs = onnx_predict(data, x_test)
    except Exception as error:  # an ONNX file onnxruntime cannot run is no use
        return OnnxResult(None, False, f"onnxruntime cannot run the model: {_short(error)}")
    matches = predictions_match(outputs[0], sklearn_pred, classifier)
    return OnnxResult(data, matches, None if matches else "onnxruntime predictions differ")


@dataclass(frozen=True)
class SkopsResult:
    """The skops bytes and the types a loader must trust to open them."""

    data: bytes
    trusted_types: list[str]


def export_skops(pipeline: Pipeline) -> SkopsResult:
    """``skops.io.dumps``; records the non-default types so the server can allow them."""
    import skops.io as sio

    data = sio.dumps(pipeline)
    return SkopsResult(data=data, trusted_types=sorted(sio.get_untrusted_types(data=data)))
