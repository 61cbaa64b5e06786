"""The Jobs that train a TrainingJob and verify a ModelVersion, and the ModelVersion a
training records."""

from __future__ import annotations

import json
import re
from typing import Any

from mlops_operator.builders.common import (
    PVC_ROOT,
    RESTRICTED_CONTAINER,
    RESTRICTED_POD,
    artifact_claim_mount,
    owner_reference,
)
from mlops_operator.domain.retrain import run_name
from mlops_operator.domain.versions import MODEL_LABEL, TRAINING_JOB_UID_LABEL, metadata_uri
from mlops_operator.domain.vocabulary import TriggerType
from mlops_operator.names import API_VERSION

TRAINER_CONTAINER = "trainer"


def owned_job(
    owner: dict[str, Any], name: str, labels: dict[str, str], spec: dict[str, Any]
) -> dict[str, Any]:
    """A batch Job in the owner's namespace that is deleted with it."""
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "namespace": owner["metadata"]["namespace"],
            "labels": labels,
            "ownerReferences": [owner_reference(owner)],
        },
        "spec": spec,
    }


TRAINING_JOB_LABEL = "mlops.dev/training-job"


#: On a retrain run (a child TrainingJob): the TrainingJob whose spec.retrain started it.
RETRAIN_OF_LABEL = "mlops.dev/retrain-of"
#: On a retrain run: what started it, as JSON (schedule tick or alert, its labels).
TRIGGER_ANNOTATION = "mlops.dev/retrain-trigger"

#: On verification Jobs (and their pods): the ModelVersion they verify.
VERIFY_JOB_LABEL = "mlops.dev/verifies"

#: What a model card quotes (owner, intended use, limitations): copied from a TrainingJob to
#: its versions and its retrain runs.
CARD_ANNOTATIONS = ("mlops.dev/owner", "mlops.dev/intended-use", "mlops.dev/limitations")


def card_annotations(meta: dict[str, Any]) -> dict[str, str]:
    """The model-card annotations of an object's metadata."""
    return {key: str(value) for key, value in (meta.get("annotations") or {}).items()
            if key in CARD_ANNOTATIONS}


def training_job_name(training_job: str) -> str:
    """The batch Job's name: deterministic, so a re-run finds the same Job."""
    return f"{training_job}-train"[:63].rstrip("-")


def artifact_dir_uri(claim: str, namespace: str, model: str, training_job: str, uid: str) -> str:
    return f"pvc://{claim}/{namespace}/{model}/{training_job}-{uid[:8]}"


def trainer_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """The part of a TrainingJob spec the built-in trainer reads."""
    keys = ("model", "dataset", "estimator", "task", "preprocessing", "evaluation", "dataChecks",
            "crossValidation", "qualityGate")
    return {key: spec[key] for key in keys if key in spec}


_PLOT_NAME = re.compile(r"^[a-z][a-z0-9-]{0,62}$")


def plot_uris(result: dict[str, Any]) -> dict[str, str] | None:
    """The trainer's pictures by name: it reports names, and writes each one as
    ``plots/<name>.png`` in the folder of its ``metadataUri``."""
    names, metadata = result.get("plots"), result.get("metadataUri")
    if not isinstance(names, list) or not isinstance(metadata, str) or "/" not in metadata:
        return None
    folder = metadata.rsplit("/", 1)[0]
    uris = {name: f"{folder}/plots/{name}.png" for name in names
            if isinstance(name, str) and _PLOT_NAME.match(name)}
    return uris or None


def champion_reference(version: dict[str, Any]) -> dict[str, Any]:
    """What the trainer needs to re-score a champion and read its data profile
    (``MLOPS_CHAMPION``): its name, artifact, input schema and metadata."""
    spec = version.get("spec") or {}
    return {"name": version["metadata"]["name"], "artifact": spec.get("artifact") or {},
            "inputSchema": spec.get("inputSchema") or {}, "metadataUri": metadata_uri(version)}


def build_training_job(training_job: dict[str, Any], image: str, claim: str,
                       champion: dict[str, Any] | None = None) -> dict[str, Any]:
    """The batch/v1 Job that trains one TrainingJob, owned by it; ``champion`` is the
    version it is compared with (see :func:`champion_reference`), if any."""
    meta, spec = training_job["metadata"], training_job["spec"]
    output = artifact_dir_uri(claim, meta["namespace"], spec["model"], meta["name"], meta["uid"])
    container = _trainer_container(spec, image, claim, output)
    if champion is not None:
        container["env"].append({"name": "MLOPS_CHAMPION",
                                 "value": json.dumps(champion, sort_keys=True)})
    labels = {
        TRAINING_JOB_LABEL: meta["name"],
        MODEL_LABEL: spec["model"],
        "app.kubernetes.io/managed-by": "mlops-operator",
    }
    job_spec: dict[str, Any] = {
        "backoffLimit": spec.get("backoffLimit", 1),
        "activeDeadlineSeconds": spec.get("activeDeadlineSeconds", 600),
        "template": restricted_pod_template(labels, container, [
            {"name": "artifacts", "persistentVolumeClaim": {"claimName": claim}},
            {"name": "tmp", "emptyDir": {}},
        ]),
    }
    if spec.get("ttlSecondsAfterFinished") is not None:
        job_spec["ttlSecondsAfterFinished"] = spec["ttlSecondsAfterFinished"]
    return owned_job(training_job, training_job_name(meta["name"]), labels, job_spec)


def hold_out_evaluation(result: dict[str, Any]) -> Any:
    """The result's ``evaluation``; on the hold-out the trainer leaves its metrics out (they
    are ``metrics``, and the termination message is short), so they are put back here."""
    evaluation = result.get("evaluation")
    if (isinstance(evaluation, dict) and evaluation.get("data") == "hold-out"
            and "metrics" not in evaluation and isinstance(result.get("metrics"), dict)):
        return {**evaluation, "metrics": result["metrics"]}
    return evaluation


def build_model_version(
    training_job: dict[str, Any], name: str, number: int, result: dict[str, Any], image: str
) -> dict[str, Any]:
    """The ModelVersion recording a successful training run's result."""
    meta, spec = training_job["metadata"], training_job["spec"]
    artifacts = result.get("artifacts") or {}
    preferred = result.get("preferredFormat") or ("onnx" if artifacts.get("onnx") else "skops")
    main = artifacts[preferred]
    alternates = [
        {"uri": a["uri"], "sha256": a["sha256"], "format": fmt}
        for fmt, a in artifacts.items()
        if a and fmt != preferred
    ]
    lineage = {
        "trainingJob": meta["name"],
        "trainingJobUID": meta["uid"],
        "image": spec.get("image") or image,
    }
    if spec.get("gitRevision"):
        lineage["gitRevision"] = spec["gitRevision"]
    lineage.update(retrain_lineage(meta))
    version_spec: dict[str, Any] = {
        "model": spec["model"],
        "version": number,
        "task": result.get("task"),
        "artifact": {"uri": main["uri"], "sha256": main["sha256"], "format": preferred},
        "alternateArtifacts": alternates,
        "framework": {k: str(v) for k, v in (result.get("framework") or {}).items()},
        "onnxMatches": bool(result.get("onnxMatches")),
        "inputSchema": result.get("inputSchema") or {},
        "metrics": {
            k: float(v)
            for k, v in (result.get("metrics") or {}).items()
            if isinstance(v, int | float)
        },
        "params": result.get("params") or {},
        "dataset": result.get("dataset") or {},
        "referenceStats": result.get("referenceStats") or {},
        "predictionStats": result.get("predictionStats") or {},
        "metadataUri": result.get("metadataUri"),
        "evaluation": hold_out_evaluation(result),
        "dataChecks": result.get("dataChecks"),
        "crossValidation": result.get("crossValidation"),
        "fairness": result.get("fairness"),
        "importance": result.get("importance"),
        "diagnostics": result.get("diagnostics"),
        "plots": plot_uris(result),
        "lineage": lineage,
    }
    return {
        "apiVersion": API_VERSION,
        "kind": "ModelVersion",
        "metadata": {
            "name": name,
            "labels": {
                MODEL_LABEL: spec["model"],
                TRAINING_JOB_UID_LABEL: meta["uid"],
                TRAINING_JOB_LABEL: meta["name"],
            },
            **({"annotations": card_annotations(meta)} if card_annotations(meta) else {}),
        },
        "spec": {k: v for k, v in version_spec.items() if v is not None},
    }


def build_retrain_run(
    parent: dict[str, Any], number: int, trigger: dict[str, Any]
) -> dict[str, Any]:
    """Run N of a TrainingJob's retraining: its spec without ``retrain``, owned by it.

    The name is deterministic (a re-run after a crash hits Conflict, never a twin);
    the label and the trigger annotation become the version's lineage.
    """
    meta = parent["metadata"]
    spec = {k: v for k, v in parent["spec"].items() if k != "retrain"}
    return {
        "apiVersion": parent.get("apiVersion", API_VERSION),
        "kind": parent.get("kind", "TrainingJob"),
        "metadata": {
            "name": run_name(meta["name"], number),
            "namespace": meta["namespace"],
            "labels": {
                RETRAIN_OF_LABEL: meta["name"],
                MODEL_LABEL: spec["model"],
                "app.kubernetes.io/managed-by": "mlops-operator",
            },
            "annotations": {TRIGGER_ANNOTATION: json.dumps(trigger, sort_keys=True),
                            **card_annotations(parent["metadata"])},
            "ownerReferences": [owner_reference(parent)],
        },
        "spec": spec,
    }


def retrain_lineage(meta: dict[str, Any]) -> dict[str, Any]:
    """``retrainOf`` and ``trigger`` for a retrain run's version ({} for other jobs).

    The annotation is read defensively: a hand-edited one must not block the version.
    """
    parent = (meta.get("labels") or {}).get(RETRAIN_OF_LABEL)
    if not parent:
        return {}
    lineage: dict[str, Any] = {"retrainOf": parent}
    try:
        trigger = json.loads((meta.get("annotations") or {}).get(TRIGGER_ANNOTATION) or "{}")
    except ValueError:
        trigger = {}
    if isinstance(trigger, dict) and trigger.get("type") in tuple(TriggerType):
        kept = {k: str(trigger[k]) for k in ("type", "scheduledTime", "alert", "startsAt")
                if trigger.get(k)}
        if isinstance(trigger.get("labels"), dict):
            kept["labels"] = {str(k): str(v) for k, v in trigger["labels"].items()}
        lineage["trigger"] = kept
    return lineage


def verify_job_name(model_version: str) -> str:
    return f"{model_version}-verify"[:63].rstrip("-")


def short_job(owner: dict[str, Any], name: str, labels: dict[str, str],
              container: dict[str, Any], volumes: list[dict[str, Any]]) -> dict[str, Any]:
    """A one-pod task of the runtime image (verify an artifact, write a model card): no
    retry, five minutes at most, gone ten minutes after it ends, restricted, no token."""
    return owned_job(owner, name, labels, {
        "backoffLimit": 0,
        "activeDeadlineSeconds": 300,
        "ttlSecondsAfterFinished": 600,
        "template": restricted_pod_template(labels, {
            **container, "terminationMessagePolicy": "FallbackToLogsOnError",
            "securityContext": RESTRICTED_CONTAINER}, volumes),
    })


def restricted_pod_template(labels: dict[str, str], container: dict[str, Any],
                            volumes: list[dict[str, Any]]) -> dict[str, Any]:
    """A Job's pod: one container, run once, restricted Pod Security, no API token."""
    return {
        "metadata": {"labels": labels},
        "spec": {
            "restartPolicy": "Never",
            "securityContext": RESTRICTED_POD,
            "automountServiceAccountToken": False,
            "containers": [container],
            "volumes": volumes,
        },
    }


def build_verify_job(model_version: dict[str, Any], image: str) -> dict[str, Any]:
    """A short Job that checks a hand-registered artifact's sha256 where pods can read it."""
    meta, artifact = model_version["metadata"], model_version["spec"]["artifact"]
    mounts, volumes = artifact_claim_mount(artifact["uri"])
    labels = {
        VERIFY_JOB_LABEL: meta["name"],
        "app.kubernetes.io/managed-by": "mlops-operator",
    }
    return short_job(model_version, verify_job_name(meta["name"]), labels, {
        "name": "verify",
        "image": image,
        "command": ["mlops-runtime", "verify", "--uri", artifact["uri"],
                    "--sha256", artifact["sha256"]],
        "env": [
            {"name": "MLOPS_PVC_ROOT", "value": PVC_ROOT},
            {"name": "HOME", "value": "/tmp"},
        ],
        "volumeMounts": mounts,
        "resources": {"requests": {"cpu": "50m", "memory": "64Mi"},
                      "limits": {"memory": "512Mi"}},
    }, volumes)


def _trainer_container(
    spec: dict[str, Any], image: str, claim: str, output: str
) -> dict[str, Any]:
    """The trainer: the built-in one, or the user's ``spec.container``, restricted."""
    env = [
        {"name": "MLOPS_TRAINING_SPEC", "value": json.dumps(trainer_spec(spec), sort_keys=True)},
        {"name": "MLOPS_OUTPUT_URI", "value": output},
        {"name": "MLOPS_PVC_ROOT", "value": PVC_ROOT},
        {"name": "MLOPS_IMAGE", "value": image},
        {"name": "MLOPS_GIT_REVISION", "value": spec.get("gitRevision", "")},
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "HOME", "value": "/tmp"},  # the root filesystem is read-only
    ]
    secret = ((spec.get("dataset") or {}).get("s3") or {}).get("secretRef")
    env_from = [{"secretRef": {"name": secret["name"]}}] if secret else []
    custom = spec.get("container")
    container: dict[str, Any] = {
        "name": TRAINER_CONTAINER,
        "image": custom["image"] if custom else spec.get("image") or image,
        "command": custom.get("command") if custom else ["mlops-runtime", "train"],
        "env": env + list((custom or {}).get("env") or []),
        "envFrom": env_from,
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "securityContext": RESTRICTED_CONTAINER,
        "volumeMounts": [
            {"name": "artifacts", "mountPath": f"{PVC_ROOT}/{claim}"},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
        "resources": spec.get("resources")
        or {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "2Gi"}},
    }
    if custom and custom.get("args"):
        container["args"] = custom["args"]
    if not container["command"]:
        del container["command"]
    return container
