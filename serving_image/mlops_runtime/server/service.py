"""The data plane: the served model and everything one inference needs, built once.

Endpoints (``endpoints.py``) and the ASGI fast path (``fastpath.py``) call
:meth:`ModelService.handle_predict` and :meth:`ModelService.handle_infer`, which
answer ``(status, body)``; errors go through the one mapper in ``errors.py``.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from functools import partial
from time import perf_counter
from typing import Any

import numpy as np
import orjson
from prometheus_client import CollectorRegistry

from mlops_runtime.server import request_ids
from mlops_runtime.server.batching import AdaptiveBatcher
from mlops_runtime.server.column_payloads import ColumnDecoder
from mlops_runtime.server.columns import Inputs
from mlops_runtime.server.errors import InjectedFault, status_of
from mlops_runtime.server.metrics import ServerMetrics
from mlops_runtime.server.mirror import Mirror, MirrorMetrics
from mlops_runtime.server.payloads import ONNX_INPUT_NAME, Decoder, InputError
from mlops_runtime.server.prediction_log import LogMetrics, PredictionLog
from mlops_runtime.server.runtime import (
    LABEL_OUTPUT,
    PROBABILITIES_OUTPUT,
    LoadedModel,
    Prediction,
)
from mlops_runtime.server.settings import Settings, SettingsError

_NUMPY = orjson.OPT_SERIALIZE_NUMPY
# Batches above this many rows run in a worker thread so health checks stay answered.
OFFLOAD_ROWS = 2048
_V2_DATATYPES = {
    "f": {2: "FP16", 4: "FP32", 8: "FP64"},
    "i": {1: "INT8", 2: "INT16", 4: "INT32", 8: "INT64"},
    "u": {1: "UINT8", 2: "UINT16", 4: "UINT32", 8: "UINT64"},
    "b": {1: "BOOL"},
}

#: Reads a request's whole body (size-limited by the caller).
Reader = Callable[[], Awaitable[bytes]]


def jsonable(array: np.ndarray) -> Any:
    """Numeric contiguous arrays go to orjson as-is; others (strings) as lists."""
    if array.dtype.kind in "biuf" and array.flags.c_contiguous:
        return array
    return array.tolist()


def v2_datatype(array: np.ndarray) -> str:
    """Open Inference Protocol datatype of a numpy array."""
    return _V2_DATATYPES.get(array.dtype.kind, {}).get(array.dtype.itemsize, "BYTES")


class ModelService:
    """The served model plus everything requests need, built once."""

    def __init__(self, settings: Settings, loaded: LoadedModel) -> None:
        self.settings = settings
        self.loaded = loaded
        self.name = settings.model_name
        self.version = settings.model_version
        self.schema = loaded.schema
        # Numbers only: the float-matrix decoder (the fast path); else one array per feature.
        decoder = ColumnDecoder if loaded.schema.columnar else Decoder
        self.decoder = decoder(loaded.schema, settings.max_rows)
        self.output_names = loaded.output_names
        self.metrics = (
            ServerMetrics(loaded, self.name, self.version, settings.track,
                          settings.reference_stats, namespace=settings.namespace,
                          deployment=settings.deployment)
            if settings.metrics
            else None
        )
        self.registry = self.metrics.registry if self.metrics else CollectorRegistry()
        on_batch = self.metrics.observe_batch if self.metrics else None
        self.batcher = (
            AdaptiveBatcher(
                loaded.model.predict, on_batch, settings.batch_max_rows, settings.batch_max_delay
            )
            if settings.batching
            else None
        )
        self.mirror = self._mirror(settings, loaded)
        self.prediction_log = self._prediction_log(settings, loaded)
        self.fault_rate = settings.fault_error_rate
        self.fault_latency = settings.fault_latency
        self._random = random.Random()
        self.ready = True

    def _mirror(self, settings: Settings, loaded: LoadedModel) -> Mirror | None:
        """Copies of sampled requests to the shadow in ``settings.mirror``, if any."""
        if settings.mirror is None:
            return None
        classifier = loaded.schema.is_classifier
        metrics = (MirrorMetrics(self.registry, self.metrics.label_values,
                                 settings.mirror.version, regressor=not classifier)
                   if self.metrics is not None else None)
        return Mirror(settings.mirror, classifier, metrics)

    def _prediction_log(self, settings: Settings, loaded: LoadedModel) -> PredictionLog | None:
        """Sampled predictions to the monitor in ``settings.prediction_log``, if any."""
        if settings.prediction_log is None:
            return None
        unknown = sorted(settings.prediction_log.exclude - set(loaded.schema.feature_names))
        if unknown:
            raise SettingsError(f"--prediction-log-exclude: unknown features "
                                f"{', '.join(map(repr, unknown))}; the model's features are "
                                f"{', '.join(map(repr, loaded.schema.feature_names))}")
        metrics = (LogMetrics(self.registry, self.metrics.label_values)
                   if self.metrics is not None else None)
        return PredictionLog(settings.prediction_log, loaded.schema,
                             (self.name, self.version, settings.track), metrics)

    def fault(self) -> bool:
        """Demo/test fault injection: True for the configured fraction of requests."""
        return self.fault_rate > 0.0 and self._random.random() < self.fault_rate

    async def predict(self, x: Inputs) -> Prediction:
        """Run the model (batched if enabled) and record input/prediction metrics."""
        if self.fault_latency:
            await asyncio.sleep(self.fault_latency)  # demo/test fault: a slow canary
        if self.batcher is not None and x.shape[0] < self.batcher.max_rows:
            prediction = await self.batcher.predict(x)  # big requests are batches already
        else:
            if x.shape[0] > OFFLOAD_ROWS:
                prediction = await asyncio.to_thread(self.loaded.model.predict, x)
            else:
                prediction = self.loaded.model.predict(x)
            if self.metrics is not None:
                self.metrics.observe_batch(x, prediction)
        return prediction

    def is_served(self, model: str, version: str | None) -> bool:
        """Does a URL's model name (and optional version) name this server's model?"""
        return model == self.name and (version is None or version == self.version)

    def not_found(self, model: str, version: str | None) -> str:
        """404 message naming what was asked for and what is served."""
        wanted = model if version is None else f"{model} version {version}"
        return (
            f"model {wanted!r} not found; this server serves {self.name!r} version {self.version!r}"
        )

    def _finish(self, status: int, content: bytes, start: float, rows: int) -> tuple[int, bytes]:
        if self.metrics is not None:
            self.metrics.observe_request(status, perf_counter() - start, rows)
        return status, content

    async def handle_predict(self, read: Reader, header_id: str | None = None
                             ) -> tuple[int, bytes]:
        """``POST /predict``: records, rows or columns in; predictions and their IDs out
        (``header_id``: the request's ``X-Request-Id``, if any)."""
        return await self._answer(partial(self._predict_payload, header_id), read, "/predict")

    async def handle_infer(
        self, read: Reader, model: str, version: str | None, header_id: str | None = None
    ) -> tuple[int, bytes]:
        """``POST /v2/models/{model}[/versions/{version}]/infer`` (Open Inference Protocol)."""
        return await self._answer(partial(self._infer_payload, model, version, header_id),
                                  read, "/v2 infer")

    async def _answer(
        self, work: Callable[[Reader, list[int]], Awaitable[bytes]], read: Reader, where: str
    ) -> tuple[int, bytes]:
        """Run one inference; every outcome is counted, every error mapped by status_of."""
        start = perf_counter()
        rows = [0]
        try:
            return self._finish(200, await work(read, rows), start, rows[0])
        except Exception as error:  # noqa: BLE001 - status_of maps every error to its answer
            status, body = status_of(error, where)
            return self._finish(status, body, start, rows[0])

    async def _predict_payload(self, header_id: str | None, read: Reader,
                               rows: list[int]) -> bytes:
        start = perf_counter()
        parsed = self.decoder.predict_body(await read())
        x = parsed.x
        rows[0] = x.shape[0]
        request = request_ids.request_id(parsed.request_id, header_id)
        ids = request_ids.row_ids(request, rows[0], parsed.row_ids, "ids")
        if self.fault():
            raise InjectedFault
        prediction = await self.predict(x)
        self._log(request, ids, x, prediction, start)
        payload: dict[str, Any] = {"predictions": jsonable(prediction.values)}
        if prediction.probabilities is not None:
            payload["probabilities"] = prediction.probabilities
        payload["model"] = self.name
        payload["version"] = self.version
        payload["id"] = request
        payload["ids"] = ids
        return orjson.dumps(payload, option=_NUMPY)

    async def _infer_payload(
        self, model: str, version: str | None, header_id: str | None, read: Reader,
        rows: list[int],
    ) -> bytes:
        if not self.is_served(model, version):
            raise InputError(self.not_found(model, version), 404)
        start = perf_counter()
        parsed = self.decoder.infer_body(await read(), self.output_names)
        rows[0] = parsed.x.shape[0]
        request = request_ids.request_id(parsed.request_id, header_id)
        ids = request_ids.row_ids(request, rows[0], parsed.row_ids, "parameters.ids")
        if self.fault():
            raise InjectedFault
        prediction = await self.predict(parsed.x)
        self._log(request, ids, parsed.x, prediction, start)
        payload: dict[str, Any] = {
            "model_name": self.name,
            "model_version": self.version,
            "id": request,
            "parameters": {"ids": ids},
            "outputs": self._outputs(prediction, parsed.outputs or self.output_names),
        }
        return orjson.dumps(payload, option=_NUMPY)

    def _log(self, request: str, ids: list[str], x: Inputs, prediction: Prediction,
             start: float) -> None:
        """An answered request to the shadow (with its IDs) and to the prediction log."""
        if self.mirror is not None:
            self.mirror.offer(x, prediction, ids)
        if self.prediction_log is not None:
            self.prediction_log.offer(request, ids, x, prediction,
                                      (perf_counter() - start) * 1000.0)

    @staticmethod
    def _outputs(prediction: Prediction, wanted: tuple[str, ...]) -> list[dict[str, Any]]:
        values = prediction.values
        outputs: list[dict[str, Any]] = []
        for output in wanted:
            if output == PROBABILITIES_OUTPUT:
                proba = prediction.probabilities
                if proba is not None:
                    outputs.append(
                        {
                            "name": output,
                            "datatype": v2_datatype(proba),
                            "shape": list(proba.shape),
                            "data": jsonable(proba.reshape(-1)),
                        }
                    )
                continue
            data = jsonable(values)
            datatype = v2_datatype(values) if isinstance(data, np.ndarray) else "BYTES"
            shape = [values.shape[0]]
            outputs.append({"name": output, "datatype": datatype, "shape": shape, "data": data})
        return outputs

    def model_metadata(self) -> dict[str, Any]:
        """Open Inference Protocol model metadata."""
        schema = self.schema
        outputs: list[dict[str, Any]]
        if schema.is_classifier:
            n_classes = len(schema.classes) if schema.classes is not None else -1
            outputs = [
                {"name": LABEL_OUTPUT, "datatype": self._label_datatype(), "shape": [-1]},
                {"name": PROBABILITIES_OUTPUT, "datatype": "FP32", "shape": [-1, n_classes]},
            ]
        else:
            outputs = [{"name": self.output_names[0], "datatype": "FP32", "shape": [-1]}]
        return {
            "name": self.name,
            "versions": [self.version],
            "platform": self.loaded.model.platform,
            "inputs": self._inputs_metadata(),
            "outputs": outputs,
            "parameters": {
                "track": self.settings.track,
                "format": self.loaded.model_format,
                "sha256": self.loaded.sha256,
                "schema": schema.to_json(),
            },
        }

    def _inputs_metadata(self) -> list[dict[str, Any]]:
        """One FP32 matrix, or one tensor per feature (BYTES, BOOL or FP32)."""
        schema = self.schema
        if not schema.columnar:
            return [{"name": ONNX_INPUT_NAME, "datatype": "FP32", "shape": [-1, schema.n_features]}]
        datatypes = {"string": "BYTES", "bool": "BOOL"}
        return [{"name": name, "datatype": datatypes.get(kind, "FP32"), "shape": [-1, 1]}
                for name, kind in zip(schema.feature_names, schema.feature_types, strict=True)]

    def _label_datatype(self) -> str:
        classes = self.schema.classes or ()
        if classes and all(isinstance(c, int) and not isinstance(c, bool) for c in classes):
            return "INT64"
        return "BYTES"
