"""The model servers of an mlops Deployment: one workload per track, and its Services."""

from __future__ import annotations

import json
from typing import Any

from mlops_operator import names
from mlops_operator.builders.common import (
    PVC_ROOT,
    RESTRICTED_CONTAINER,
    RESTRICTED_POD,
    artifact_claim_mount,
    owner_reference,
)
from mlops_operator.domain.rollout.decision import Mirror

#: Demo/test-only faults a ModelVersion annotation injects into its model servers: the
#: canary checks must then catch them (annotation -> the server's environment variable).
FAULT_ANNOTATIONS = {
    "mlops.dev/fault-error-rate": "MLOPS_FAULT_ERROR_RATE",  # share of requests answered 500
    "mlops.dev/fault-latency": "MLOPS_FAULT_LATENCY",  # seconds added to every inference
}


def build_server_workload(
    deployment: dict[str, Any], track: str, model_version: dict[str, Any], replicas: int,
    image: str, mirror: Mirror | None = None,
) -> dict[str, Any]:
    """The apps/v1 Deployment running one track's model servers; with ``mirror`` (a shadow
    step, stable track) they copy sampled requests to the canary track's Service."""
    meta, spec = deployment["metadata"], deployment["spec"]
    mv_meta, mv_spec = model_version["metadata"], model_version["spec"]
    artifact = mv_spec["artifact"]
    labels = {
        names.DEPLOYMENT_LABEL: meta["name"],
        names.TRACK_LABEL: track,
        names.VERSION_LABEL: mv_meta["name"],
        "app.kubernetes.io/name": "model-server",
        "app.kubernetes.io/managed-by": "mlops-operator",
    }
    env = _server_env(meta["name"], track, model_version)
    if mirror is not None:
        env.extend(_mirror_env(deployment, mirror))
    mounts, volumes = artifact_claim_mount(artifact["uri"])
    mounts.append({"name": "tmp", "mountPath": "/tmp"})
    volumes.append({"name": "tmp", "emptyDir": {}})
    if spec.get("predictionLog") is not None:
        env.extend(_prediction_log_env(deployment, model_version))
        mounts.append({"name": "monitor-token", "mountPath": TOKEN_FOLDER, "readOnly": True})
        volumes.append(_token_volume(spec["predictionLog"]))
    container = _server_container(spec, env, mounts, image)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": names.workload_name(meta["name"], track),
            "namespace": meta["namespace"],
            "labels": labels,
            "ownerReferences": [owner_reference(deployment)],
        },
        "spec": {
            "replicas": replicas,
            "selector": {
                "matchLabels": {names.DEPLOYMENT_LABEL: meta["name"], names.TRACK_LABEL: track}
            },
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
            },
            "template": {
                "metadata": {
                    "labels": labels,
                    "annotations": {
                        "prometheus.io/scrape": "true",
                        "prometheus.io/port": str(names.SERVER_PORT),
                        "prometheus.io/path": "/metrics",
                        **({names.MIRROR_ANNOTATION: mirror.version} if mirror else {}),
                    },
                },
                "spec": {
                    **_placement(spec),
                    "securityContext": RESTRICTED_POD,
                    "automountServiceAccountToken": False,
                    "terminationGracePeriodSeconds": 10,
                    "containers": [container],
                    "volumes": volumes,
                },
            },
        },
    }


class SpecConflict(ValueError):
    """The Deployment's spec does not fit the version it serves (the message names the
    field); the rollout holds instead of starting servers that would refuse to run."""


#: Where the monitor's token Secret is mounted in a model server.
TOKEN_FOLDER = "/var/run/secrets/mlops-monitor"


def _prediction_log_env(deployment: dict[str, Any],
                        model_version: dict[str, Any]) -> list[dict[str, Any]]:
    """spec.predictionLog as the model server's settings (defaults from the CRD schema)."""
    log = deployment["spec"]["predictionLog"]
    exclude = list(log.get("exclude") or [])
    schema = model_version["spec"].get("inputSchema") or {}
    features = [f.get("name") for f in schema.get("features") or []]
    unknown = [name for name in exclude if features and name not in features]
    if unknown:
        raise SpecConflict(
            f"spec.predictionLog.exclude: {', '.join(map(repr, unknown))} is not a feature of "
            f"{model_version['metadata']['name']} (its features: {', '.join(features)})")
    return [
        {"name": "MLOPS_PREDICTION_LOG_URL", "value": log.get("url", DEFAULT_MONITOR_URL)},
        {"name": "MLOPS_PREDICTION_LOG_TOKEN_FILE", "value": f"{TOKEN_FOLDER}/token"},
        {"name": "MLOPS_PREDICTION_LOG_PERCENT", "value": str(log.get("percent", 100))},
        {"name": "MLOPS_PREDICTION_LOG_EXCLUDE", "value": ",".join(exclude)},
        {"name": "MLOPS_PREDICTION_LOG_FLUSH_INTERVAL",
         "value": str(log.get("flushIntervalSeconds", 1))},
    ]


DEFAULT_MONITOR_URL = "http://mlops-monitor:8090"


def _token_volume(log: dict[str, Any]) -> dict[str, Any]:
    secret = log.get("tokenSecret") or {"name": "mlops-monitor-token"}
    return {"name": "monitor-token", "secret": {
        "secretName": secret["name"], "defaultMode": 0o440,  # fsGroup reads it
        "items": [{"key": secret.get("key", "token"), "path": "token"}]}}


def _placement(spec: dict[str, Any]) -> dict[str, Any]:
    """spec.nodeSelector and spec.tolerations, passed to the server pods as given."""
    return {key: spec[key] for key in ("nodeSelector", "tolerations") if spec.get(key)}


def _service(deployment: dict[str, Any], name: str, tracks: tuple[str, ...]) -> dict[str, Any]:
    meta = deployment["metadata"]
    port = int(deployment["spec"].get("port", 80))
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": name,
            "namespace": meta["namespace"],
            "labels": {names.DEPLOYMENT_LABEL: meta["name"]},
            "ownerReferences": [owner_reference(deployment)],
        },
        "spec": {
            "selector": names.selector(meta["name"], tracks),
            "ports": [{"name": "http", "port": port, "targetPort": "http"}],
        },
    }


def build_track_services(deployment: dict[str, Any]) -> list[dict[str, Any]]:
    """One Service per track (the Gateway API router's backends; handy for debugging)."""
    name = deployment["metadata"]["name"]
    return [_service(deployment, names.service_name(name, t), (t,)) for t in names.TRACKS]


def build_main_service(deployment: dict[str, Any], tracks: tuple[str, ...]) -> dict[str, Any]:
    """The Service clients call, named like the Deployment, selecting ``tracks``."""
    return _service(deployment, deployment["metadata"]["name"], tracks)


def _server_env(deployment: str, track: str,
                model_version: dict[str, Any]) -> list[dict[str, Any]]:
    """What the model server reads: the artifact and its checksum, names, demo faults."""
    mv_meta, mv_spec = model_version["metadata"], model_version["spec"]
    artifact = mv_spec["artifact"]
    env = [
        {"name": "MLOPS_MODEL_URI", "value": artifact["uri"]},
        {"name": "MLOPS_MODEL_SHA256", "value": artifact["sha256"]},
        {"name": "MLOPS_MODEL_NAME", "value": mv_spec["model"]},
        {"name": "MLOPS_MODEL_VERSION", "value": mv_meta["name"]},
        {"name": "MLOPS_TRACK", "value": track},
        # The metrics' namespace and deployment labels, so no scrape needs relabelling.
        {"name": "MLOPS_DEPLOYMENT", "value": deployment},
        {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        {"name": "MLOPS_PORT", "value": str(names.SERVER_PORT)},
        {"name": "MLOPS_PVC_ROOT", "value": PVC_ROOT},
        {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        {"name": "HOME", "value": "/tmp"},
    ]
    if mv_spec.get("referenceStats"):
        env.append({"name": "MLOPS_REFERENCE_STATS",
                    "value": json.dumps(mv_spec["referenceStats"], sort_keys=True)})
    if mv_spec.get("inputSchema"):
        env.append(
            {
                "name": "MLOPS_INPUT_SCHEMA",
                "value": json.dumps(mv_spec["inputSchema"], sort_keys=True),
            }
        )
    annotations = mv_meta.get("annotations") or {}
    env.extend({"name": variable, "value": str(annotations[annotation])}
               for annotation, variable in FAULT_ANNOTATIONS.items() if annotations.get(annotation))
    return env


def mirror_url(deployment: dict[str, Any]) -> str:
    """The canary track's Service by its cluster DNS name (namespace-qualified, so it
    resolves with any cluster domain through the pod's DNS search path)."""
    meta = deployment["metadata"]
    port = int(deployment["spec"].get("port", 80))
    service = names.service_name(meta["name"], "canary")
    return f"http://{service}.{meta['namespace']}.svc:{port}"


def _mirror_env(deployment: dict[str, Any], mirror: Mirror) -> list[dict[str, Any]]:
    return [
        {"name": "MLOPS_MIRROR_URL", "value": mirror_url(deployment)},
        {"name": "MLOPS_MIRROR_VERSION", "value": mirror.version},
        {"name": "MLOPS_MIRROR_PERCENT", "value": str(mirror.percent)},
    ]


def _server_container(
    spec: dict[str, Any], env: list[dict[str, Any]], mounts: list[dict[str, Any]], image: str
) -> dict[str, Any]:
    """The server container: probes, restricted security, a preStop drain."""
    probe = {
        "httpGet": {"path": "/readyz", "port": "http"},
        "periodSeconds": 1,
        "failureThreshold": 2,
    }
    container = {
        "name": "server",
        "image": spec.get("image") or image,
        "command": ["mlops-runtime", "serve"],
        "env": env,
        "ports": [{"name": "http", "containerPort": names.SERVER_PORT}],
        "readinessProbe": probe,
        "livenessProbe": {
            "httpGet": {"path": "/healthz", "port": "http"},
            "periodSeconds": 10,
            "failureThreshold": 3,
        },
        "resources": spec.get("resources")
        or {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}},
        "securityContext": RESTRICTED_CONTAINER,
        "volumeMounts": mounts,
        "terminationMessagePolicy": "FallbackToLogsOnError",
        # Keep serving while Services stop sending traffic here, then drain gracefully.
        "lifecycle": {"preStop": {"sleep": {"seconds": 2}}},
    }
    return container
