"""In-memory views of the objects Deployments depend on, kept by one watch per kind.

kopf indexes hold the model server pods, the ModelVersions and the children
(workloads, Services, HTTPRoutes) of every mlops Deployment, keyed by
(namespace, deployment). A reconcile reads them instead of the API server, and
a change to any of them wakes only the Deployment it belongs to.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import kopf

from mlops_operator import names
from mlops_operator.domain.conditions import FALSE, TRUE
from mlops_operator.domain.pods import PodSummary
from mlops_operator.handlers.context import context_of
from mlops_operator.names import GROUP, VERSION
from mlops_operator.routers.gateway import HTTPROUTE_API

log = logging.getLogger(__name__)
SERVING = {names.DEPLOYMENT_LABEL: kopf.PRESENT}
GATEWAY_GROUP, GATEWAY_VERSION = HTTPROUTE_API.split("/")


def summarize_pod(meta: Mapping[str, Any], status: Mapping[str, Any]) -> PodSummary:
    """The reconcile's view of a pod: track, version, readiness, why it is not running."""
    labels = meta.get("labels") or {}
    ready = any(c.get("type") == "Ready" and c.get("status") == TRUE
                for c in status.get("conditions") or [])
    waiting: Mapping[str, Any] = {}
    terminated: Mapping[str, Any] = {}
    for container in status.get("containerStatuses") or []:
        waiting = (container.get("state") or {}).get("waiting") or waiting
        terminated = ((container.get("state") or {}).get("terminated")
                      or (container.get("lastState") or {}).get("terminated") or terminated)
    unschedulable = next((c.get("message") or "no node fits the pod"
                          for c in status.get("conditions") or []
                          if c.get("type") == "PodScheduled" and c.get("status") == FALSE
                          and c.get("reason") == "Unschedulable"), None)
    return PodSummary(
        name=str(meta.get("name")),
        track=labels.get(names.TRACK_LABEL),
        version=labels.get(names.VERSION_LABEL),
        ready=ready,
        deleting=bool(meta.get("deletionTimestamp")),
        waiting_reason=waiting.get("reason"),
        waiting_message=waiting.get("message"),
        terminated_reason=terminated.get("reason"),
        terminated_message=terminated.get("message"),
        exit_code=terminated.get("exitCode"),
        unschedulable_message=unschedulable,
        mirror_to=(meta.get("annotations") or {}).get(names.MIRROR_ANNOTATION),
    )


def _child(body: Mapping[str, Any]) -> dict[str, Any]:
    """A child as the watch shows it, without status and managedFields (memory)."""
    meta = body.get("metadata") or {}
    return {
        "apiVersion": body.get("apiVersion"),
        "kind": body.get("kind"),
        "metadata": {
            "name": meta.get("name"),
            "namespace": meta.get("namespace"),
            "labels": dict(meta.get("labels") or {}),
            "annotations": dict(meta.get("annotations") or {}),
        },
        "spec": dict(body.get("spec") or {}),
    }


# ---- indexes: what a reconcile reads ------------------------------------------------
@kopf.index("", "v1", "pods", labels=SERVING)
def serving_pods(namespace: str, meta: kopf.Meta, status: kopf.Status, **_: Any) -> dict:
    return {(namespace, meta["labels"][names.DEPLOYMENT_LABEL]): summarize_pod(meta, status)}


@kopf.index(GROUP, VERSION, names.MODEL_VERSIONS)
def model_versions(namespace: str, name: str, body: kopf.Body, **_: Any) -> dict:
    meta = body.get("metadata") or {}
    return {(namespace, name): {
        "metadata": {"name": name, "namespace": namespace, "uid": meta.get("uid"),
                     "labels": dict(meta.get("labels") or {}),
                     "annotations": dict(meta.get("annotations") or {})},
        "spec": dict(body.get("spec") or {}),
        "status": dict(body.get("status") or {}),
    }}


@kopf.index(GROUP, VERSION, names.MODEL_VERSIONS)
def model_versions_by_model(namespace: str, name: str, spec: kopf.Spec, **_: Any) -> dict:
    """Version names by model, for Deployments that follow a model."""
    return {(namespace, spec.get("model")): name}


@kopf.index("apps", "v1", "deployments", labels=SERVING)
def serving_workloads(namespace: str, meta: kopf.Meta, body: kopf.Body, **_: Any) -> dict:
    return {(namespace, meta["labels"][names.DEPLOYMENT_LABEL]): _child(body)}


@kopf.index("", "v1", "services", labels=SERVING)
def serving_services(namespace: str, meta: kopf.Meta, body: kopf.Body, **_: Any) -> dict:
    return {(namespace, meta["labels"][names.DEPLOYMENT_LABEL]): _child(body)}


@kopf.index(GATEWAY_GROUP, GATEWAY_VERSION, "httproutes", labels=SERVING)
def serving_routes(namespace: str, meta: kopf.Meta, body: kopf.Body, **_: Any) -> dict:
    return {(namespace, meta["labels"][names.DEPLOYMENT_LABEL]): _child(body)}


@kopf.index(GROUP, VERSION, names.DEPLOYMENTS)
def deployments_by_target(namespace: str, name: str, spec: kopf.Spec, **_: Any) -> dict:
    return {(namespace, spec.get("modelVersion")): name}


@kopf.index(GROUP, VERSION, names.DEPLOYMENTS)
def deployments_by_model(namespace: str, name: str, spec: kopf.Spec, **_: Any) -> dict:
    """Deployments that follow a model (spec.model) rather than pin a version."""
    return {(namespace, spec["model"]): name} if spec.get("model") else {}


# ---- wake-ups: who must look again --------------------------------------------------
def _wake(memo: kopf.Memo, key: tuple[str, str]) -> None:
    context_of(memo).wakeups.wake(key)


@kopf.on.event("", "v1", "pods", labels=SERVING)
@kopf.on.event("apps", "v1", "deployments", labels=SERVING)
@kopf.on.event("", "v1", "services", labels=SERVING)
@kopf.on.event(GATEWAY_GROUP, GATEWAY_VERSION, "httproutes", labels=SERVING)
async def child_changed(namespace: str, meta: kopf.Meta, memo: kopf.Memo, **_: Any) -> None:
    """A pod got ready or failed, or a child was edited or deleted: its owner looks again."""
    _wake(memo, (namespace, meta["labels"][names.DEPLOYMENT_LABEL]))


@kopf.on.event(GROUP, VERSION, names.MODEL_VERSIONS)
async def model_version_changed(
    namespace: str, name: str, spec: kopf.Spec, memo: kopf.Memo,
    deployments_by_target: kopf.Index, deployments_by_model: kopf.Index, **_: Any
) -> None:
    """A ModelVersion was approved, rejected or deleted: Deployments targeting it, and
    those following its model, look again."""
    followers = deployments_by_model.get((namespace, spec.get("model")), ())
    for deployment in {*deployments_by_target.get((namespace, name), ()), *followers}:
        _wake(memo, (namespace, deployment))


@dataclass
class Snapshot:
    """Copies of what the indexes hold for one Deployment, safe to read from a thread."""

    pods: list[PodSummary] = field(default_factory=list)
    versions: dict[str, dict[str, Any]] = field(default_factory=dict)
    children: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)

    def child(self, kind: str, name: str) -> dict[str, Any] | None:
        return self.children.get((kind, name))


def snapshot(
    indexes: Mapping[str, kopf.Index], namespace: str, deployment: str, versions: set[str]
) -> Snapshot:
    """Take what one reconcile reads from the indexes (on the event loop, before it runs)."""
    key = (namespace, deployment)
    found: dict[str, dict[str, Any]] = {}
    for version in versions:
        for body in indexes["model_versions"].get((namespace, version), ()):
            found[version] = body
    children = {}
    for name in ("serving_workloads", "serving_services", "serving_routes"):
        for child in indexes[name].get(key, ()):
            children[(child["kind"], child["metadata"]["name"])] = child
    return Snapshot(list(indexes["serving_pods"].get(key, ())), found, children)
