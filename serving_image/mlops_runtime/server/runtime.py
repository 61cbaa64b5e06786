"""Fetch, verify and load a model; run predictions on float32 matrices.

Order matters for safety: the artifact's sha256 is checked against the
ModelVersion *before* any bytes reach a parser. ONNX (data, not code) is run by
onnxruntime; skops is the fallback, loading only types that skops reports as
untrusted *and* that are scikit-learn/numpy classes. Pickle is never loaded.

Inputs: a float32 matrix for an all-numeric schema (ONNX input ``input``), or a
:class:`~.columns.ColumnBatch` for a columnar one (one ONNX input per feature, matched by
name, else by position: skl2onnx renames inputs such as ``loan amount``; a skops
pipeline gets a frame with the feature names).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from mlops_runtime import stores
from mlops_runtime.server.columns import ColumnBatch, Inputs, Layout
from mlops_runtime.server.payloads import ONNX_INPUT_NAME
from mlops_runtime.server.schema import (
    SCHEMA_METADATA_KEY,
    InputSchema,
    SchemaError,
    parse_schema,
)

FORMATS = ("onnx", "skops")
EXTENSIONS = {".onnx": "onnx", ".skops": "skops"}
TRUSTED_TOP_PACKAGES = ("sklearn", "numpy")
#: Functions (not classes) a fitted scikit-learn object may hold, each exactly by name:
#: HistGradientBoosting* with categorical features keeps a ColumnTransformer whose
#: passthrough validates with ``partial(check_array, ...)``. skops lists the function a
#: ``partial`` wraps as a type of its own, so ``partial`` only ever wraps a trusted one.
TRUSTED_FUNCTIONS = frozenset({"functools.partial", "sklearn.utils.validation.check_array"})
LABEL_OUTPUT = "label"
PROBABILITIES_OUTPUT = "probabilities"
PREDICTION_OUTPUT = "prediction"


class ModelLoadError(Exception):
    """The model cannot be served; the process must exit non-zero with this message."""


@dataclass(frozen=True)
class Prediction:
    """Model outputs for a batch: labels or values, and class probabilities if any."""

    values: np.ndarray
    probabilities: np.ndarray | None = None

    def rows(self, start: int, stop: int) -> Prediction:
        """Slice of the batch (views, no copies) for one request of a merged batch."""
        proba = None if self.probabilities is None else self.probabilities[start:stop]
        return Prediction(self.values[start:stop], proba)


class Model(Protocol):
    """A loaded model backend."""

    platform: str
    n_features: int | None

    def predict(self, x: Inputs) -> Prediction:
        """Predict for an (n, n_features) C-contiguous float32 matrix or a column batch."""
        ...


@dataclass(frozen=True)
class LoadedModel:
    """Everything the app needs about the model it serves."""

    model: Model
    schema: InputSchema
    model_format: str
    sha256: str
    uri: str

    @property
    def output_names(self) -> tuple[str, ...]:
        """Open Inference Protocol output tensor names."""
        if self.schema.is_classifier:
            return (LABEL_OUTPUT, PROBABILITIES_OUTPUT)
        return (PREDICTION_OUTPUT,)


class OnnxModel:
    """onnxruntime session: one thread, sequential, so one pod = one predictable core."""

    platform = "onnxruntime_onnx"

    def __init__(self, data: bytes) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        self.session = ort.InferenceSession(
            data, sess_options=options, providers=["CPUExecutionProvider"]
        )
        self.inputs = [(i.name, i.type) for i in self.session.get_inputs()]
        self.n_features: int | None = None
        self.output_names = [o.name for o in self.session.get_outputs()]
        self.metadata: dict[str, str] = dict(self.session.get_modelmeta().custom_metadata_map)
        # Bind the C++ run method once; the Python wrapper re-validates names every call.
        self._run = self.session._sess.run
        self._feed_name = ONNX_INPUT_NAME
        self._feeds: list[str] = []
        self._classifier = False
        self._outputs: list[str] = self.output_names[:1]

    def configure(self, schema: InputSchema) -> None:
        """Check the inputs against the schema's layout; pick the outputs for the task."""
        if schema.columnar:
            self._feeds = self._column_feeds(schema)
            self.n_features = len(self._feeds)
        else:
            names = [name for name, _ in self.inputs]
            if names != [ONNX_INPUT_NAME]:
                raise ModelLoadError(
                    f"ONNX model must have one input named {ONNX_INPUT_NAME!r}, has {names}"
                )
            shape = self.session.get_inputs()[0].shape
            self.n_features = shape[1] if len(shape) == 2 and isinstance(shape[1], int) else None
        self._configure_outputs(schema.is_classifier)

    def _column_feeds(self, schema: InputSchema) -> list[str]:
        """ONNX input names in feature order: by name when they are the feature names,
        else by position; one per feature, strings for string features, floats else."""
        names = [name for name, _ in self.inputs]
        if len(names) != schema.n_features:
            raise ModelLoadError(
                f"input schema lists {schema.n_features} features, of which some are not "
                f"plain numbers, so the ONNX model needs one input per feature; it has "
                f"{len(names)}: {names}")
        by_name = sorted(names) == sorted(schema.feature_names)
        types = dict(self.inputs)
        feeds = list(schema.feature_names) if by_name else names
        for feed, feature, kind in zip(feeds, schema.feature_names, schema.feature_types,
                                       strict=True):
            wanted = "tensor(string)" if kind == "string" else "tensor(float)"
            if types[feed] != wanted:
                raise ModelLoadError(f"ONNX input {feed!r} for feature {feature!r} ({kind}) "
                                     f"is {types[feed]}, expected {wanted}")
        return feeds

    def _configure_outputs(self, classifier: bool) -> None:
        """Classifiers need zipmap=False ``label`` and ``probabilities`` tensors."""
        if classifier:
            missing = {LABEL_OUTPUT, PROBABILITIES_OUTPUT} - set(self.output_names)
            if missing:
                raise ModelLoadError(
                    "ONNX classifier must output 'label' and 'probabilities' tensors "
                    f"(convert with options={{'zipmap': False}}); outputs: {self.output_names}"
                )
            self._outputs = [LABEL_OUTPUT, PROBABILITIES_OUTPUT]
        else:
            self._outputs = [self.output_names[0]]
        self._classifier = classifier

    def predict(self, x: Inputs) -> Prediction:
        if self._feeds:  # a column batch: one input per feature
            feeds = dict(zip(self._feeds, x.columns, strict=True))  # type: ignore[union-attr]
        else:
            feeds = {self._feed_name: x}
        result = self._run(self._outputs, feeds, None)
        if self._classifier:
            return Prediction(result[0].reshape(-1), result[1])
        return Prediction(result[0].reshape(-1))


class SkopsModel:
    """scikit-learn estimator loaded with skops and an explicit trusted-type list."""

    platform = "sklearn_skops"

    def __init__(self, estimator: Any, classifier: bool) -> None:
        if not hasattr(estimator, "predict"):
            raise ModelLoadError(f"skops object {type(estimator).__name__} has no predict()")
        self.estimator = estimator
        self.classifier = classifier and hasattr(estimator, "predict_proba")
        self.n_features: int | None = getattr(estimator, "n_features_in_", None)

    def predict(self, x: Inputs) -> Prediction:
        if isinstance(x, ColumnBatch):
            x = x.frame()  # a pipeline fitted on a frame selects its columns by name
        values = np.asarray(self.estimator.predict(x))
        if self.classifier:
            proba = np.ascontiguousarray(self.estimator.predict_proba(x), dtype=np.float32)
            return Prediction(values, proba)
        return Prediction(values)


def resolve_format(uri: str, explicit: str | None) -> str:
    """Format from --format, else from the file extension; anything else is refused."""
    if explicit is not None:
        if explicit not in FORMATS:
            raise ModelLoadError(
                f"unsupported model format {explicit!r}; expected one of {', '.join(FORMATS)}"
            )
        return explicit
    path = uri.split("?", 1)[0].rstrip("/")
    name = path.rsplit("/", 1)[-1]
    extension = "." + name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if extension in EXTENSIONS:
        return EXTENSIONS[extension]
    raise ModelLoadError(
        f"unsupported model format for {uri!r} (extension {extension or 'none'!r}); "
        "expected .onnx or .skops, or pass --format (pickle is never loaded)"
    )


def looks_like_pickle(data: bytes) -> bool:
    """Pickle protocol 2+ starts with PROTO (0x80) and ends with STOP ('.')."""
    return len(data) >= 2 and data[0] == 0x80 and data[1] <= 5 and data.endswith(b".")


def is_allowed_type(name: str) -> bool:
    """Allow only classes (not functions) defined in scikit-learn or numpy, and the few
    functions of :data:`TRUSTED_FUNCTIONS`."""
    if name in TRUSTED_FUNCTIONS:
        return True
    parts = name.split(".")
    if len(parts) < 2 or parts[0] not in TRUSTED_TOP_PACKAGES:
        return False
    for split in range(len(parts) - 1, 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        try:
            for attr in parts[split:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return False
        return isinstance(obj, type)
    return False


def trusted_skops_types(data: bytes, uri: str) -> list[str]:
    """Exactly the untrusted types skops reports, if every one is on the allowlist."""
    import skops.io as sio

    untrusted = list(sio.get_untrusted_types(data=data))
    refused = [name for name in untrusted if not is_allowed_type(name)]
    if refused:
        raise ModelLoadError(
            f"refusing to load skops model {uri}: types not on the allowlist: {', '.join(refused)}"
        )
    return untrusted


def load_skops(data: bytes, uri: str, classifier: bool) -> SkopsModel:
    """Load a skops file, never falling back to pickle."""
    import skops.io as sio

    trusted = trusted_skops_types(data, uri)
    try:
        estimator = sio.loads(data, trusted=trusted)
    except Exception as error:  # skops raises many types on corrupt files
        raise ModelLoadError(f"cannot load skops model {uri}: {_first_line(error)}") from None
    return SkopsModel(estimator, classifier)


def _first_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0][:300]


def normalise_sha256(value: str) -> str:
    """Accept ``<hex>`` or ``sha256:<hex>`` in any case."""
    value = value.strip().lower()
    return value.removeprefix("sha256:")


def fetch_verified(uri: str, expected_sha256: str) -> bytes:
    """Read the artifact and check its checksum before anything parses it."""
    try:
        store = stores.store_for(uri)
    except ValueError as error:
        raise ModelLoadError(str(error)) from None
    try:
        data = store.read_bytes(uri)
    except Exception as error:  # OSError, missing boto3, botocore errors: one clear line
        raise ModelLoadError(f"cannot read model artifact {uri}: {_first_line(error)}") from None
    expected = normalise_sha256(expected_sha256)
    actual = stores.sha256_hex(data)
    if actual != expected:
        raise ModelLoadError(
            f"model checksum mismatch for {uri}: expected sha256 {expected}, got sha256 {actual}"
        )
    return data


def _load_onnx(data: bytes, uri: str) -> OnnxModel:
    try:
        return OnnxModel(data)
    except ModelLoadError:
        raise
    except Exception as error:  # onnxruntime raises its own exception types
        raise ModelLoadError(f"cannot load ONNX model {uri}: {_first_line(error)}") from None


def _parse_schema(schema: dict[str, Any] | str) -> InputSchema:
    try:
        return parse_schema(schema)
    except SchemaError as error:
        raise ModelLoadError(str(error)) from None


def load_model(
    uri: str,
    sha256: str,
    model_format: str | None = None,
    schema: dict[str, Any] | str | None = None,
) -> LoadedModel:
    """Fetch, verify, load, check against the schema and run one test prediction."""
    fmt = resolve_format(uri, model_format)
    data = fetch_verified(uri, sha256)
    if looks_like_pickle(data):
        raise ModelLoadError(
            f"refusing to load {uri}: it is a pickle file, which can run arbitrary code; "
            "export the model as ONNX or skops"
        )
    model: Model
    if fmt == "onnx":
        onnx_model = _load_onnx(data, uri)
        if schema is None:
            schema = onnx_model.metadata.get(SCHEMA_METADATA_KEY)
            if schema is None:
                raise ModelLoadError(
                    f"no input schema: pass --input-schema or embed {SCHEMA_METADATA_KEY!r} "
                    "in the ONNX metadata"
                )
        parsed = _parse_schema(schema)
        onnx_model.configure(parsed)
        model = onnx_model
    else:
        if schema is None:
            raise ModelLoadError("no input schema: skops models need --input-schema")
        parsed = _parse_schema(schema)
        model = load_skops(data, uri, parsed.is_classifier)
    if model.n_features is not None and model.n_features != parsed.n_features:
        raise ModelLoadError(
            f"input schema lists {parsed.n_features} features but the model expects "
            f"{model.n_features}"
        )
    probe_row: Inputs = (Layout.of(parsed).probe() if parsed.columnar
                         else np.zeros((1, parsed.n_features), dtype=np.float32))
    try:
        probe = model.predict(probe_row)
    except Exception as error:
        raise ModelLoadError(f"model failed a test prediction: {_first_line(error)}") from None
    if len(probe.values) != 1:
        raise ModelLoadError("model returned the wrong number of predictions for one row")
    return LoadedModel(
        model=model, schema=parsed, model_format=fmt, sha256=normalise_sha256(sha256), uri=uri
    )
