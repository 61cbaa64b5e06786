"""Artifact stores: read and write model artifacts by URI.

One small :class:`ArtifactStore` protocol and a registry keyed by URI scheme, so the
model server (reads) and the trainer (writes) share the same resolution rules.
An unknown scheme is a :class:`ValueError` naming it, never a silent fallback.

- ``file:///abs/path``: a local path.
- ``pvc://<claim>/<path>``: ``$MLOPS_PVC_ROOT/<claim>/<path>`` (default root
  ``/mnt/pvc``), where the pod mounts the claim.
- ``s3://bucket/key``: boto3 when installed; endpoint from ``MLOPS_S3_ENDPOINT``,
  credentials from ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY``.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from pathlib import PurePosixPath
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

PVC_ROOT_ENV = "MLOPS_PVC_ROOT"
DEFAULT_PVC_ROOT = "/mnt/pvc"
S3_ENDPOINT_ENV = "MLOPS_S3_ENDPOINT"


class ArtifactStore(Protocol):
    """Where artifacts live; one implementation per URI scheme."""

    def read_bytes(self, uri: str) -> bytes:
        """Return the whole artifact (models are small enough to verify in memory)."""
        ...

    def write_bytes(self, uri: str, data: bytes) -> None:
        """Store ``data`` at ``uri`` atomically where the backend allows it."""
        ...

    def local_path(self, uri: str) -> str | None:
        """Return a path readable by this process, or None when not local."""
        ...


def sha256_hex(data: bytes) -> str:
    """Hex sha256 of ``data``: the checksum recorded in a ModelVersion."""
    return hashlib.sha256(data).hexdigest()


def _scheme(uri: str) -> str:
    return urlsplit(uri).scheme.lower()


def write_atomically(path: str, data: bytes) -> None:
    """Write through a temporary file and rename, so readers never see half a file, and
    sync both, so a file that is there survives a crash of the machine."""
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        # mkstemp creates 0600; artifacts are read by other pods (model servers).
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    folder = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


class FileStore:
    """``file:///abs/path``: a path in the pod (a mounted volume) or on this machine."""

    def local_path(self, uri: str) -> str:
        parts = urlsplit(uri)
        if parts.scheme != "file":
            raise ValueError(f"not a file:// URI: {uri!r}")
        if parts.netloc not in ("", "localhost"):
            raise ValueError(f"file:// URI must not name a host: {uri!r}")
        path = unquote(parts.path)
        if not path.startswith("/"):
            raise ValueError(f"file:// URI needs an absolute path: {uri!r}")
        return path

    def read_bytes(self, uri: str) -> bytes:
        with open(self.local_path(uri), "rb") as handle:
            return handle.read()

    def write_bytes(self, uri: str, data: bytes) -> None:
        write_atomically(self.local_path(uri), data)


class PvcStore:
    """``pvc://<claim>/<path>``: a PersistentVolumeClaim mounted under MLOPS_PVC_ROOT."""

    def local_path(self, uri: str) -> str:
        parts = urlsplit(uri)
        if parts.scheme != "pvc":
            raise ValueError(f"not a pvc:// URI: {uri!r}")
        claim = parts.netloc
        rel = PurePosixPath(unquote(parts.path).lstrip("/"))
        if not claim or not rel.parts:
            raise ValueError(f"pvc:// URI needs a claim and a path: {uri!r}")
        if ".." in rel.parts or "/" in claim:
            raise ValueError(f"pvc:// URI must not leave its claim: {uri!r}")
        root = os.environ.get(PVC_ROOT_ENV, DEFAULT_PVC_ROOT)
        return str(PurePosixPath(root) / claim / rel)

    def read_bytes(self, uri: str) -> bytes:
        with open(self.local_path(uri), "rb") as handle:
            return handle.read()

    def write_bytes(self, uri: str, data: bytes) -> None:
        write_atomically(self.local_path(uri), data)


#: S3 error codes meaning "the object is not there".
_S3_NOT_FOUND = frozenset({"NoSuchKey", "NoSuchBucket", "404", "NotFound"})


class S3Store:
    """``s3://bucket/key`` through boto3, which stays an optional dependency."""

    def local_path(self, uri: str) -> None:
        return None

    @staticmethod
    def _split(uri: str) -> tuple[str, str]:
        parts = urlsplit(uri)
        key = parts.path.lstrip("/")
        if parts.scheme != "s3" or not parts.netloc or not key:
            raise ValueError(f"s3:// URI needs a bucket and a key: {uri!r}")
        return parts.netloc, key

    @staticmethod
    def _client() -> Any:
        try:
            import boto3
        except ImportError as error:
            raise RuntimeError(
                "s3:// artifacts need boto3, which is not installed in this image"
            ) from error
        return boto3.client(
            "s3",
            endpoint_url=os.environ.get(S3_ENDPOINT_ENV) or None,
            aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID") or None,
            aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY") or None,
        )

    def read_bytes(self, uri: str) -> bytes:
        bucket, key = self._split(uri)
        client = self._client()
        try:
            body = client.get_object(Bucket=bucket, Key=key)["Body"]
        except client.exceptions.ClientError as error:
            code = str(error.response.get("Error", {}).get("Code", ""))
            if code in _S3_NOT_FOUND:
                # Like a missing file: FileNotFoundError, naming the URI (botocore does not).
                raise FileNotFoundError(f"no such S3 object: {uri} ({code})") from None
            raise
        return bytes(body.read())

    def write_bytes(self, uri: str, data: bytes) -> None:
        bucket, key = self._split(uri)
        self._client().put_object(Bucket=bucket, Key=key, Body=data)


STORES: dict[str, ArtifactStore] = {
    "file": FileStore(),
    "pvc": PvcStore(),
    "s3": S3Store(),
}


def store_for(uri: str) -> ArtifactStore:
    """Return the store for ``uri``'s scheme; unknown schemes are an error naming it."""
    scheme = _scheme(uri)
    try:
        return STORES[scheme]
    except KeyError:
        known = ", ".join(f"{name}://" for name in sorted(STORES))
        shown = f"{scheme}://" if scheme else "(none)"
        raise ValueError(
            f"unknown artifact URI scheme {shown} in {uri!r}; supported: {known}"
        ) from None


def read_bytes(uri: str) -> bytes:
    """Read an artifact from whichever store ``uri`` names."""
    return store_for(uri).read_bytes(uri)


def write_bytes(uri: str, data: bytes) -> None:
    """Write an artifact to whichever store ``uri`` names."""
    store_for(uri).write_bytes(uri, data)
