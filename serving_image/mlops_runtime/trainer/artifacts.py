"""Artifact I/O through the shared store registry (``mlops_runtime.stores``).

The trainer and the model server resolve URIs with the same code, so a model
written to ``pvc://claim/x`` here is the one the server finds there.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlops_runtime import stores
from mlops_runtime.trainer.errors import TrainerError


@dataclass(frozen=True)
class Written:
    """Where an artifact went and its checksum."""

    uri: str
    sha256: str

    def as_dict(self) -> dict[str, str]:
        """The shape used in the termination message and metadata."""
        return {"uri": self.uri, "sha256": self.sha256}


def join_uri(directory: str, name: str) -> str:
    """``<directory>/<name>`` with exactly one slash between them."""
    return f"{directory.rstrip('/')}/{name}"


def check_output_uri(uri: str) -> None:
    """Fail before training when the output URI has no store (a wasted fit otherwise)."""
    try:
        stores.store_for(uri).local_path(join_uri(uri, "metadata.json"))  # validates the URI
    except ValueError as error:
        raise TrainerError("ArtifactWriteFailed", str(error)) from None


def read_uri(uri: str) -> bytes:
    """Read a file://, pvc:// or s3:// object."""
    return stores.read_bytes(uri)


def write_artifact(directory: str, name: str, data: bytes) -> Written:
    """Write ``data`` as ``name`` under ``directory``; any store failure is ArtifactWriteFailed."""
    uri = join_uri(directory, name)
    try:
        stores.write_bytes(uri, data)
    except Exception as error:  # OSError, botocore errors, bad URIs: all one reason
        raise TrainerError("ArtifactWriteFailed", f"cannot write {uri}: {error}") from None
    return Written(uri=uri, sha256=stores.sha256_hex(data))
