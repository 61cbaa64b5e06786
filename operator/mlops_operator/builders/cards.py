"""The model-card Job: ``mlops-runtime model-card`` renders a judged ModelVersion as
Markdown beside its artifact (pure builders, no I/O).

The card sits in the training's folder (beside ``metadata.json`` and ``plots/``, so its
pictures are relative links), or for a registered version beside its artifact as
``<version>.model-card.md``. Only ``pvc://`` folders can be written by a pod the operator
makes without credentials; for other stores :func:`card_uri` is None and the status says so.
"""

from __future__ import annotations

import json
import posixpath
from typing import Any

from mlops_operator.builders.common import PVC_ROOT, claim_of
from mlops_operator.builders.training import short_job

#: On model-card Jobs (and their pods): the ModelVersion they describe.
MODEL_CARD_LABEL = "mlops.dev/model-card"
CARD_CONTAINER = "card"
CARD_FILE = "model-card.md"


def card_uri(version: dict[str, Any]) -> str | None:
    """Where the version's card goes, or None when its folder is not on a claim."""
    spec = version["spec"]
    if spec.get("metadataUri"):
        folder = posixpath.dirname(str(spec["metadataUri"]))
        file_name = CARD_FILE
    else:
        folder = posixpath.dirname(str((spec.get("artifact") or {}).get("uri") or ""))
        file_name = f"{version['metadata']['name']}.{CARD_FILE}"
    if claim_of(folder + "/") is None:
        return None
    return f"{folder}/{file_name}"


def card_job_name(model_version: str) -> str:
    return f"{model_version}-card"[:63].rstrip("-")


#: Linux refuses one environment string over 128 KiB (MAX_ARG_STRLEN); stay below it.
MAX_INPUT_BYTES = 100_000
#: Dropped in this order when a wide version's record is too long for the environment;
#: the card then takes them from the trainer's metadata.json.
_DROPPABLE = ("referenceStats", "predictionStats", "diagnostics", "dataChecks", "params")


def card_input(version: dict[str, Any]) -> str:
    """What the card shows, as JSON: the version's name, annotations, spec and verdict."""
    meta, status = version["metadata"], version.get("status") or {}
    record = {
        "metadata": {"name": meta["name"], "namespace": meta.get("namespace"),
                     "annotations": meta.get("annotations") or {}},
        "spec": dict(version["spec"]),
        "status": {key: status.get(key) for key in ("phase", "gate", "conditions", "message")
                   if status.get(key) is not None},
    }
    text = json.dumps(record, sort_keys=True, separators=(",", ":"))
    for key in _DROPPABLE:
        if len(text.encode("utf-8")) <= MAX_INPUT_BYTES:
            break
        record["spec"].pop(key, None)
        text = json.dumps(record, sort_keys=True, separators=(",", ":"))
    return text


def build_card_job(version: dict[str, Any], image: str, uri: str) -> dict[str, Any]:
    """A short Job that writes the card to ``uri`` (on a claim it mounts read-write)."""
    name = version["metadata"]["name"]
    claim = claim_of(uri)
    labels = {MODEL_CARD_LABEL: name, "app.kubernetes.io/managed-by": "mlops-operator"}
    return short_job(version, card_job_name(name), labels, {
        "name": CARD_CONTAINER,
        "image": image,
        "command": ["mlops-runtime", "model-card"],
        "env": [
            {"name": "MLOPS_MODEL_VERSION", "value": card_input(version)},
            {"name": "MLOPS_OUTPUT_URI", "value": uri},
            {"name": "MLOPS_PVC_ROOT", "value": PVC_ROOT},
            {"name": "HOME", "value": "/tmp"},
        ],
        "volumeMounts": [{"name": "artifacts", "mountPath": f"{PVC_ROOT}/{claim}"}],
        "resources": {"requests": {"cpu": "50m", "memory": "64Mi"},
                      "limits": {"memory": "256Mi"}},
    }, [{"name": "artifacts", "persistentVolumeClaim": {"claimName": claim}}])
