"""The operator's API group, the plurals of its kinds, and the names and labels of the
objects that serve one mlops Deployment.

Every layer that names a custom resource (the handlers' watches, the Kubernetes
adapter's URLs, the builders' manifests) takes the name from here, so none of them
depends on another for it.
"""

from __future__ import annotations

#: The API group and version of the operator's kinds (crds/*.yaml).
GROUP = "mlops.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
#: The plurals of the kinds: kopf's resource names and the API's URL paths.
DEPLOYMENTS = "deployments"
TRAINING_JOBS = "trainingjobs"
MODEL_VERSIONS = "modelversions"

DEPLOYMENT_LABEL = "mlops.dev/deployment"
TRACK_LABEL = "mlops.dev/track"
VERSION_LABEL = "mlops.dev/model-version"
TRACKS = ("stable", "canary")
#: On model server pods that copy live requests to a shadow: the version they mirror to.
MIRROR_ANNOTATION = "mlops.dev/mirror-to"
SERVER_PORT = 8080


def workload_name(deployment: str, track: str) -> str:
    return f"{deployment}-{track}"


def service_name(deployment: str, track: str | None = None) -> str:
    """The main Service is named like the Deployment; per-track ones get a suffix."""
    return deployment if track is None else f"{deployment}-{track}"


def selector(deployment: str, tracks: tuple[str, ...] = TRACKS) -> dict[str, str]:
    """Pod labels a Service selects: one track, or the whole deployment."""
    labels = {DEPLOYMENT_LABEL: deployment}
    if len(tracks) == 1:
        labels[TRACK_LABEL] = tracks[0]
    return labels
