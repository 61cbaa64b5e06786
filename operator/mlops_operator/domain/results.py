"""Whether a trainer's result can become a ModelVersion.

The built-in trainer always writes a well-formed result, but a custom container
(``spec.container``) writes its own. A result that lacks an artifact or puts a
string where the version needs an object must fail the TrainingJob with a message
naming the field, not break the handler that records the version. Deeper shapes
are the ModelVersion schema's job (a refusal is ``VersionRefused``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

ARTIFACT_FORMATS = ("onnx", "skops")

#: Result keys the version copies as objects.
OBJECT_KEYS = ("metrics", "params", "dataset", "inputSchema", "referenceStats",
               "predictionStats", "framework", "evaluation", "dataChecks", "crossValidation",
               "diagnostics", "fairness", "importance")


def result_problem(result: Mapping[str, Any]) -> str | None:
    """The first field of ``result`` a ModelVersion cannot be built from, described;
    None when it can."""
    artifacts = result.get("artifacts")
    if not isinstance(artifacts, Mapping) or not any(
            artifacts.get(fmt) for fmt in ARTIFACT_FORMATS):
        return "result.artifacts must name an onnx or skops artifact with uri and sha256"
    for fmt, artifact in artifacts.items():
        if fmt not in ARTIFACT_FORMATS:
            return (f"result.artifacts.{fmt}: unknown format "
                    f"(expected one of {', '.join(ARTIFACT_FORMATS)})")
        if artifact is None:
            continue
        if not isinstance(artifact, Mapping) or not all(
                isinstance(artifact.get(key), str) and artifact.get(key)
                for key in ("uri", "sha256")):
            return f"result.artifacts.{fmt} must be an object with string uri and sha256"
    preferred = result.get("preferredFormat")
    if preferred is not None and not artifacts.get(preferred):
        return f"result.preferredFormat {preferred!r} is not among result.artifacts"
    for key in OBJECT_KEYS:
        if result.get(key) is not None and not isinstance(result[key], Mapping):
            return f"result.{key} must be an object, got {type(result[key]).__name__}"
    plots = result.get("plots")
    if plots is not None and not (isinstance(plots, list)
                                  and all(isinstance(name, str) for name in plots)):
        return "result.plots must be a list of names"
    if result.get("metadataUri") is not None and not isinstance(result["metadataUri"], str):
        return "result.metadataUri must be a string"
    return None
