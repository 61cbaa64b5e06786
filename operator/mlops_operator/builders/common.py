"""What every child the operator builds shares: restricted security, ownership, claims."""

from __future__ import annotations

from typing import Any

PVC_ROOT = "/mnt/pvc"


#: The restricted Pod Security profile, for every container we run.
RESTRICTED_CONTAINER = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "runAsNonRoot": True,
    "readOnlyRootFilesystem": True,
    "seccompProfile": {"type": "RuntimeDefault"},
}


RESTRICTED_POD = {
    "runAsNonRoot": True,
    "runAsUser": 65532,
    "runAsGroup": 65532,
    "fsGroup": 65532,
    "seccompProfile": {"type": "RuntimeDefault"},
}


def owner_reference(owner: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def claim_of(uri: str) -> str | None:
    """``pvc://<claim>/<path>`` -> ``<claim>``; None for other schemes."""
    if not uri.startswith("pvc://"):
        return None
    return uri[len("pvc://") :].split("/", 1)[0] or None


def artifact_claim_mount(uri: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(volumeMounts, volumes) giving read-only access to a ``pvc://`` artifact's claim."""
    claim = claim_of(uri)
    if claim is None:
        return [], []
    return (
        [{"name": "artifacts", "mountPath": f"{PVC_ROOT}/{claim}", "readOnly": True}],
        [{"name": "artifacts", "persistentVolumeClaim": {"claimName": claim, "readOnly": True}}],
    )
