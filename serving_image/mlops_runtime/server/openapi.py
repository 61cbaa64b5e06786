"""The OpenAPI 3.0 document of this server: the Open Inference Protocol's REST
endpoints (as KServe and MLServer publish them) plus ``/predict``, built from the
route table and this model's own input schema, served at ``/openapi.json``.

Tools such as schemathesis can be pointed at it; the tests do exactly that.
"""

from __future__ import annotations

from typing import Any

from mlops_runtime import __version__
from mlops_runtime.server.request_ids import MAX_LENGTH
from mlops_runtime.server.routes import ROUTES, RouteSpec
from mlops_runtime.server.service import ModelService

DATATYPES = ["BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64",
             "FP16", "FP32", "FP64", "BYTES"]


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _object(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": required}


_JSON_TYPES = {"float": "number", "int": "number", "bool": "boolean", "string": "string"}


def _features(service: ModelService) -> dict[str, dict[str, Any]]:
    """Each feature's JSON type (``nullable`` where the model takes a missing value)."""
    schema = service.schema
    return {name: {"type": _JSON_TYPES[kind], **({"nullable": True}
                                                 if schema.is_nullable(index) else {})}
            for index, (name, kind) in enumerate(zip(schema.feature_names,
                                                     schema.feature_types, strict=True))}


def _schemas(service: ModelService) -> dict[str, Any]:
    """The components' schemas. Longer than a function should be on purpose: a document
    literal reads best whole, and splitting it would only scatter one table."""
    features = _features(service)
    row_item = {} if service.schema.columnar else {"type": "number"}
    tensor = {
        "name": {"type": "string"},
        "shape": {"type": "array", "items": {"type": "integer", "minimum": -1}},
        "datatype": {"type": "string", "enum": DATATYPES},
        "parameters": {"type": "object"},
        "data": {},
    }
    request_id = {"type": "string", "minLength": 1, "maxLength": MAX_LENGTH}
    row_ids = {"type": "array", "items": request_id, "uniqueItems": True,
               "description": "One per row, in order: the client's, else the request's id "
                              "(one row) or '<id>-<row>'."}
    return {
        "Error": _object({"error": {"type": "string", "minLength": 1}}, ["error"]),
        "RequestInput": _object(tensor, ["name", "shape", "datatype", "data"]),
        "RequestOutput": _object({"name": {"type": "string"}, "parameters": {"type": "object"}},
                                 ["name"]),
        "InferenceRequest": _object({
            "id": request_id,
            "parameters": {"type": "object", "properties": {"ids": row_ids}},
            "inputs": {"type": "array", "minItems": 1, "items": _ref("RequestInput")},
            "outputs": {"type": "array", "items": _ref("RequestOutput")},
        }, ["inputs"]),
        "ResponseOutput": _object(tensor, ["name", "shape", "datatype", "data"]),
        "InferenceResponse": _object({
            "model_name": {"type": "string"},
            "model_version": {"type": "string"},
            "id": request_id,
            "parameters": _object({"ids": row_ids}, ["ids"]),
            "outputs": {"type": "array", "items": _ref("ResponseOutput")},
        }, ["model_name", "id", "parameters", "outputs"]),
        "PredictRequest": {
            "type": "object",
            "description": "Exactly one of instances (records or rows) or columns; "
                           "optionally the request's id and one id per row.",
            "properties": {
                "id": request_id,
                "ids": row_ids,
                "instances": {"type": "array", "minItems": 1, "items": {"oneOf": [
                    {"type": "object", "properties": features},
                    {"type": "array", "items": row_item}]}},
                "columns": {"type": "object", "properties": {
                    name: {"type": "array", "items": item} for name, item in features.items()}},
            },
        },
        "PredictResponse": _object({
            "predictions": {"type": "array"},
            "probabilities": {"type": "array", "items": {"type": "array",
                                                         "items": {"type": "number"}}},
            "model": {"type": "string"},
            "version": {"type": "string"},
            "id": request_id,
            "ids": row_ids,
        }, ["predictions", "model", "version", "id", "ids"]),
        "ServerMetadata": _object({"name": {"type": "string"}, "version": {"type": "string"},
                                   "extensions": {"type": "array",
                                                  "items": {"type": "string"}}},
                                  ["name", "version", "extensions"]),
        "ModelMetadata": _object({
            "name": {"type": "string"},
            "versions": {"type": "array", "items": {"type": "string"}},
            "platform": {"type": "string"},
            "inputs": {"type": "array", "items": {"type": "object"}},
            "outputs": {"type": "array", "items": {"type": "object"}},
            "parameters": {"type": "object"},
        }, ["name", "platform", "inputs", "outputs"]),
        "Live": _object({"live": {"type": "boolean"}}, ["live"]),
        "Ready": _object({"ready": {"type": "boolean"}, "error": {"type": "string"}}, ["ready"]),
    }


_OK = {"predict": "PredictResponse", "infer": "InferenceResponse", "live": "Live",
       "ready": "Ready", "model_ready": "Ready", "server_metadata": "ServerMetadata",
       "model_metadata": "ModelMetadata"}
_BODY = {"predict": "PredictRequest", "infer": "InferenceRequest"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _operation(route: RouteSpec) -> dict[str, Any]:
    operation: dict[str, Any] = {"summary": route.summary,
                                 "operationId": f"{route.endpoint}:{route.path}"}
    parameters = [{"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
                  for p in ("model", "version") if f"{{{p}}}" in route.path]
    if parameters:
        operation["parameters"] = parameters
    error = _json(_ref("Error"), "the request names no served model, or is malformed")
    responses: dict[str, Any] = {}
    if route.endpoint in _BODY:
        operation["requestBody"] = {"required": True, "content": {
            "application/json": {"schema": _ref(_BODY[route.endpoint])}}}
        responses["400"] = _json(_ref("Error"), "malformed request; the error names the field")
        responses["413"] = _json(_ref("Error"), "body or batch too large")
    if route.endpoint in _OK:
        responses["200"] = _json(_ref(_OK[route.endpoint]), "OK")
    elif route.endpoint == "metrics":
        responses["200"] = {"description": "Prometheus text exposition",
                            "content": {"text/plain": {"schema": {"type": "string"}}}}
    else:
        responses["200"] = _json({"type": "object"}, "OK")
    if route.endpoint in ("ready", "model_ready"):
        responses["503"] = _json(_ref("Ready"), "not ready (loading or shutting down)")
    if parameters or route.endpoint in _BODY:
        responses["404"] = error
    operation["responses"] = responses
    return operation


def openapi_document(service: ModelService) -> dict[str, Any]:
    """The whole document for this server's model."""
    paths: dict[str, Any] = {}
    for route in ROUTES:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route)
    return {
        "openapi": "3.0.3",
        "info": {"title": "mlops-runtime model server (Open Inference Protocol)",
                 "version": __version__,
                 "description": f"Serves model {service.name} version {service.version}."},
        "paths": paths,
        "components": {"schemas": _schemas(service)},
    }
