"""Names and labels of the objects that serve one mlops Deployment."""

from __future__ import annotations

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
