"""Serialise the fitted pipeline: ONNX (preferred) and skops (fallback). Never pickle.

ONNX is data, not code, and runs far faster per row in onnxruntime; skops loads
only allow-listed types. ONNX is preferred only when onnxruntime reproduces
scikit-learn's predictions on the held-out split, so the served model is the
evaluated model; for a model with categorical or nullable features also on copies of
held-out rows with an unseen category in every categorical feature, and with every
nullable feature missing.

A pipeline fitted on a float matrix has one ONNX input, ``input`` (float, ``[n, k]``);
one fitted on a frame has one input per feature, in feature order (skl2onnx may rename
them: the model server matches them by position): ``[n, 1]`` strings for categorical
features, floats for the others (NaN: missing).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from mlops_runtime.trainer.preprocessing import MISSING_CATEGORY

SCHEMA_METADATA_KEY = "mlops.input_schema"
ONNX_INPUT_NAME = "input"
REGRESSION_RTOL = 1e-4
#: Held-out rows copied into each probe (unseen categories, missing values).
PROBE_ROWS = 50
UNSEEN_CATEGORY = "<a category never seen in training>"


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
    nullable: Sequence[bool] | None = None,
) -> dict[str, Any]:
    """The input contract the model server enforces (feature order matters); ``nullable``
    marks the features where the model takes a missing value (JSON null)."""
    flags = list(nullable) if nullable is not None else [False] * len(features)
    schema: dict[str, Any] = {
        "features": [{"name": n, "type": t, **({"nullable": True} if flag else {})}
                     for n, t, flag in zip(features, types, flags, strict=True)],
        "task": task,
        "target": target,
    }
    if task == "classification":
        schema["classes"] = jsonable([] if classes is None else list(classes))
    return schema


@dataclass(frozen=True)
class Parity:
    """How closely onnxruntime reproduced scikit-learn, row by row."""

    rows: int  # all rows compared: held-out + probes
    held_out: int
    unseen_category_rows: int
    missing_value_rows: int
    mismatches: int  # labels (classifiers) or values beyond rtol (regressors) that differ
    max_difference: float | None  # largest |probability| (or |value|) difference

    def as_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "heldOutRows": self.held_out,
                "unseenCategoryRows": self.unseen_category_rows,
                "missingValueRows": self.missing_value_rows, "mismatches": self.mismatches,
                "maxDifference": self.max_difference}


@dataclass(frozen=True)
class OnnxResult:
    """Outcome of the ONNX export: bytes, or why there are none, and whether it agrees."""

    data: bytes | None
    matches: bool
    error: str | None
    parity: Parity | None = None


def _short(error: BaseException) -> str:
    text = str(error).strip()
    first = text.splitlines()[0] if text else ""
    return f"{type(error).__name__}: {first}"[:300]


def initial_types(x: np.ndarray | pd.DataFrame) -> list[tuple[str, Any]]:
    """skl2onnx input types: one float matrix, or one ``[n, 1]`` tensor per column."""
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    if isinstance(x, np.ndarray):
        return [(ONNX_INPUT_NAME, FloatTensorType([None, x.shape[1]]))]
    return [(str(name), StringTensorType([None, 1]) if x[name].dtype == object
             else FloatTensorType([None, 1])) for name in x.columns]


def to_onnx(pipeline: Pipeline, x: np.ndarray | pd.DataFrame, classifier: bool,
            schema: dict[str, Any]) -> bytes:
    """Convert with skl2onnx; classifiers output ``label``/``probabilities``."""
    from skl2onnx import convert_sklearn

    estimator = pipeline.steps[-1][1]
    options = {id(estimator): {"zipmap": False}} if classifier else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # A fixed graph name (skl2onnx's default is a random UUID): the same data and spec
        # give the same bytes, hence the same sha256.
        model = convert_sklearn(pipeline, initial_types=initial_types(x), options=options,
                                name="mlops_pipeline")
    entry = model.metadata_props.add()
    entry.key = SCHEMA_METADATA_KEY
    entry.value = json.dumps(schema, separators=(",", ":"))
    return bytes(model.SerializeToString())


def onnx_feeds(names: Sequence[str], x: np.ndarray | pd.DataFrame) -> dict[str, np.ndarray]:
    """onnxruntime inputs for ``x``: the matrix, or the columns by position."""
    if isinstance(x, np.ndarray):
        return {names[0]: x.astype(np.float32)}
    return {name: (x[column].to_numpy(dtype=object) if x[column].dtype == object
                   else x[column].to_numpy(dtype=np.float32)).reshape(-1, 1)
            for name, column in zip(names, x.columns, strict=True)}


def onnx_predict(data: bytes, x: np.ndarray | pd.DataFrame) -> list[np.ndarray]:
    """Run the ONNX model with onnxruntime on CPU; returns all outputs."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    session = onnxruntime.InferenceSession(
        data, sess_options=options, providers=["CPUExecutionProvider"]
    )
    names = [i.name for i in session.get_inputs()]
    return list(session.run(None, onnx_feeds(names, x)))


def predictions_match(onnx_pred: np.ndarray, sklearn_pred: np.ndarray, classifier: bool) -> bool:
    """Labels equal for classifiers; allclose (rtol 1e-4) for regressors."""
    if classifier:
        return [*np.asarray(onnx_pred).ravel().tolist()] == [
            *np.asarray(sklearn_pred).ravel().tolist()
        ]
    left = np.asarray(onnx_pred, dtype="float64").ravel()
    right = np.asarray(sklearn_pred, dtype="float64").ravel()
    return left.shape == right.shape and bool(np.allclose(left, right, rtol=REGRESSION_RTOL))


def probe_rows(x_test: np.ndarray | pd.DataFrame,
               schema: dict[str, Any]) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    """Copies of the first held-out rows with an unseen category in every string feature,
    and with every nullable feature missing (None where the schema has none of either)."""
    if isinstance(x_test, np.ndarray):
        return None, None
    base = x_test.head(PROBE_ROWS)
    features = schema["features"]
    strings = [f["name"] for f in features if f["type"] == "string"]
    nullable = [f for f in features if f.get("nullable")]
    unseen = base.assign(**{name: UNSEEN_CATEGORY for name in strings}) if strings else None
    missing = base.assign(**{f["name"]: MISSING_CATEGORY if f["type"] == "string" else np.nan
                             for f in nullable}) if nullable else None
    return unseen, missing


def parity_rows(pipeline: Pipeline, x_test: np.ndarray | pd.DataFrame, classifier: bool,
                schema: dict[str, Any]) -> tuple[Any, Parity, np.ndarray, np.ndarray]:
    """The rows to compare (held-out + probes), an empty tally, scikit-learn's predictions
    and scores (probabilities, or the values) on them."""
    unseen, missing = probe_rows(x_test, schema)
    parts = [p for p in (x_test, unseen, missing) if p is not None]
    x = parts[0] if len(parts) == 1 else pd.concat(parts, ignore_index=True)
    values = np.asarray(pipeline.predict(x))
    scores = np.asarray(pipeline.predict_proba(x) if classifier else values, dtype="float64")
    tally = Parity(len(x), len(x_test), 0 if unseen is None else len(unseen),
                   0 if missing is None else len(missing), 0, None)
    return x, tally, values, scores


def compare(outputs: list[np.ndarray], tally: Parity, expected: np.ndarray,
            expected_scores: np.ndarray, classifier: bool) -> Parity:
    """The tally with the mismatches and the largest score difference filled in."""
    labels = np.asarray(outputs[0]).ravel()
    if classifier:
        mismatches = sum(a != b for a, b in zip(labels.tolist(), expected.tolist(), strict=True))
        scores = np.asarray(outputs[1], dtype="float64")
    else:
        scores = labels.astype("float64")
        close = np.isclose(scores, expected.astype("float64"), rtol=REGRESSION_RTOL)
        mismatches = int((~close).sum())
    difference = float(np.abs(scores.reshape(expected_scores.shape) - expected_scores).max())
    return replace(tally, mismatches=int(mismatches),
                   max_difference=difference if np.isfinite(difference) else None)


def export_onnx(
    pipeline: Pipeline,
    x_test: np.ndarray | pd.DataFrame,
    classifier: bool,
    schema: dict[str, Any],
) -> OnnxResult:
    """Convert and check against scikit-learn; a failure is recorded, not raised."""
    try:
        data = to_onnx(pipeline, x_test, classifier, schema)
    except Exception as error:  # skl2onnx raises anything for unsupported models
        return OnnxResult(None, False, f"conversion failed: {_short(error)}")
    try:
        x, tally, expected, scores = parity_rows(pipeline, x_test, classifier, schema)
    except Exception as error:  # the probes: unseen categories, missing values
        return OnnxResult(None, False, f"scikit-learn cannot predict the probe rows: "
                                       f"{_short(error)}")
    try:
        outputs = onnx_predict(data, x)
    except Exception as error:  # an ONNX file onnxruntime cannot run is no use
        return OnnxResult(None, False, f"onnxruntime cannot run the model: {_short(error)}")
    parity = compare(outputs, tally, expected, scores, classifier)
    matches = parity.mismatches == 0
    error = None if matches else (f"onnxruntime predictions differ on {parity.mismatches} of "
                                  f"{parity.rows} rows")
    return OnnxResult(data, matches, error, parity)


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
