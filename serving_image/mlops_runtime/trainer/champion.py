"""The champion: the version a new one must beat, re-scored on the new one's evaluation rows.

Each version's hold-out metric is measured on its own split of its own data, so comparing
two of them says little once the data moved. The operator names the champion
(``MLOPS_CHAMPION``: its name, artifact, input schema and metadata); the trainer loads it
exactly as the model server does (checksum first; ONNX, or skops on its allowlist) and
sends it the raw evaluation rows as a client would (JSON records through the server's own
decoder), so both versions are scored on identical rows with the same metric code.

A champion that cannot be read or scored is not a training failure: the result says why,
and the quality gate decides what that means.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
import pandas as pd

from mlops_runtime.server.column_payloads import ColumnDecoder
from mlops_runtime.server.jsontypes import InputError
from mlops_runtime.server.payloads import Decoder
from mlops_runtime.server.runtime import LoadedModel, ModelLoadError, load_model
from mlops_runtime.trainer import evaluate
from mlops_runtime.trainer.artifacts import read_uri
from mlops_runtime.trainer.errors import TrainerError
from mlops_runtime.trainer.preprocessing import MISSING_CATEGORY, convert

CHAMPION_ENV = "MLOPS_CHAMPION"
#: How the server's feature types map to the trainer's column kinds.
_KINDS = {"float": "numeric", "int": "numeric", "bool": "boolean", "string": "categorical"}


@dataclass(frozen=True)
class ChampionRef:
    """What the operator says about the champion."""

    name: str
    uri: str
    sha256: str
    format: str | None
    input_schema: Mapping[str, Any]
    metadata_uri: str | None = None


def parse_champion(text: str | None) -> ChampionRef | None:
    """The champion from ``MLOPS_CHAMPION`` (JSON); empty means there is none."""
    if not text or not text.strip():
        return None
    try:
        raw = json.loads(text)
        artifact = raw["artifact"]
        return ChampionRef(
            name=str(raw["name"]), uri=str(artifact["uri"]), sha256=str(artifact["sha256"]),
            format=artifact.get("format"), input_schema=dict(raw.get("inputSchema") or {}),
            metadata_uri=raw.get("metadataUri") or None)
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise TrainerError("InvalidParams", f"{CHAMPION_ENV} is not a champion reference "
                           f"(name, artifact.uri, artifact.sha256): {error}") from None


def read_metadata(ref: ChampionRef) -> tuple[dict[str, Any] | None, str | None]:
    """The champion's metadata.json (its data profile is the data checks' baseline), or
    why it cannot be had."""
    if not ref.metadata_uri:
        return None, f"{ref.name} has no metadata (it was registered, not trained here)"
    try:
        document = json.loads(read_uri(ref.metadata_uri))
    except Exception as error:  # a missing file, a store error, bad JSON: all one answer
        return None, f"cannot read {ref.name}'s metadata {ref.metadata_uri}: {error}"
    if not isinstance(document, dict):
        return None, f"{ref.name}'s metadata {ref.metadata_uri} is not a JSON object"
    return document, None


def score(ref: ChampionRef, rows: pd.DataFrame, y: np.ndarray, classifier: bool
          ) -> dict[str, Any]:
    """``{"name", "metrics"}``: the champion's metrics on ``rows`` (raw columns) against
    ``y``; ``{"name", "error"}`` when it cannot be loaded or cannot take these rows."""
    try:
        loaded = load_model(ref.uri, ref.sha256, ref.format, dict(ref.input_schema))
        prediction = loaded.model.predict(_inputs(loaded, rows))
    except (ModelLoadError, InputError) as error:
        return {"name": ref.name, "error": str(error)[:500]}
    except Exception as error:  # a model that fails on real rows: say so, never crash
        return {"name": ref.name,
                "error": f"prediction failed: {type(error).__name__}: {str(error)[:400]}"}
    schema = loaded.schema
    if classifier != schema.is_classifier:
        return {"name": ref.name, "error": f"{ref.name} is a {schema.task} model"}
    if classifier:
        classes = list(schema.classes or np.unique(prediction.values))
        values = _like(prediction.values, y)
        metrics = evaluate.classification_metrics(y, values, prediction.probabilities, classes)
    else:
        metrics = evaluate.regression_metrics(y, np.asarray(prediction.values, dtype="float64"))
    return {"name": ref.name, "metrics": evaluate.round_metrics(metrics)}


def _like(values: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Predicted labels in the target's spelling (ONNX says 1 where the frame says "1")."""
    if y.dtype == object:
        return np.asarray([str(v) for v in values.tolist()], dtype=object)
    return values


def _inputs(loaded: LoadedModel, rows: pd.DataFrame) -> Any:
    """The rows as the champion's clients would send them, through the server's decoder."""
    schema = loaded.schema
    lacking = [name for name in schema.feature_names if name not in rows.columns]
    if lacking:
        raise InputError(f"the evaluation rows lack column(s) {', '.join(map(repr, lacking))}, "
                         f"which the champion takes")
    columns = [_json_values(rows[name], kind) for name, kind in
               zip(schema.feature_names, schema.feature_types, strict=True)]
    body = orjson.dumps({"columns": dict(zip(schema.feature_names, columns, strict=True))})
    decoder = (ColumnDecoder if schema.columnar else Decoder)(schema, max_rows=len(rows))
    return decoder.predict_body(body).x


def _json_values(series: pd.Series, feature_type: str) -> list[Any]:
    """A column as JSON values of the feature's type; missing values as null."""
    kind = _KINDS.get(feature_type, "numeric")
    converted = convert(series, kind)
    if kind == "categorical":
        return [None if v == MISSING_CATEGORY else v for v in converted.tolist()]
    values = []
    for number in converted.tolist():
        if not math.isfinite(number):
            values.append(None)
        elif kind == "boolean":
            values.append(bool(number))
        elif feature_type == "int" and float(number).is_integer():
            values.append(int(number))
        else:
            values.append(float(number))
    return values
