"""Change detection for children: apply a manifest only when the cluster differs from it.

A child the operator applied carries the hash of the manifest it was built from
(``mlops.dev/applied-hash``). It is sent again only when the desired manifest
changed (another hash) or the object drifted: someone deleted it, or edited a
field the operator sets (the desired manifest is no longer a subset of what the
watch shows). Fields the API server adds (defaults, status, managedFields) are
not drift.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

HASH_ANNOTATION = "mlops.dev/applied-hash"


def manifest_hash(manifest: Mapping[str, Any]) -> str:
    """A short, stable digest of a manifest (its key order does not matter)."""
    text = json.dumps(manifest, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def with_hash(manifest: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``manifest`` whose metadata carries its own hash."""
    metadata = dict(manifest.get("metadata") or {})
    annotations = dict(metadata.get("annotations") or {})
    annotations.pop(HASH_ANNOTATION, None)
    metadata["annotations"] = annotations
    digest = manifest_hash({**manifest, "metadata": metadata})
    metadata["annotations"] = {**annotations, HASH_ANNOTATION: digest}
    return {**manifest, "metadata": metadata}


def is_subset(desired: Any, observed: Any) -> bool:
    """Every field of ``desired`` has the same value in ``observed`` (lists item by item)."""
    if isinstance(desired, Mapping):
        return isinstance(observed, Mapping) and all(
            key in observed and is_subset(value, observed[key]) for key, value in desired.items()
        )
    if isinstance(desired, list):
        return (
            isinstance(observed, list)
            and len(desired) == len(observed)
            and all(is_subset(d, o) for d, o in zip(desired, observed, strict=True))
        )
    if isinstance(desired, bool) or isinstance(observed, bool):
        return desired is observed
    if isinstance(desired, int | float) and isinstance(observed, int | float):
        return desired == observed
    return desired == observed


def needs_apply(desired: dict[str, Any], observed: Mapping[str, Any] | None) -> bool:
    """Whether ``desired`` (as :func:`with_hash` returns it) must be sent to the cluster."""
    if observed is None:
        return True
    wanted = (desired.get("metadata") or {}).get("annotations", {}).get(HASH_ANNOTATION)
    seen = ((observed.get("metadata") or {}).get("annotations") or {}).get(HASH_ANNOTATION)
    if wanted is None or wanted != seen:
        return True
    return not is_subset(desired.get("spec") or {}, observed.get("spec") or {})


class AppliesOnChange:
    """``apply_if_changed`` for any client with an ``apply``: the adapter and test fakes
    share this one decision of when a child is sent."""

    def apply(self, body: dict[str, Any]) -> None:
        """Server-side apply ``body`` (it already carries its hash)."""
        raise NotImplementedError

    def apply_if_changed(self, body: dict[str, Any], observed: dict[str, Any] | None) -> bool:
        """Apply ``body`` unless ``observed`` (the watch's copy; None: absent) matches it.

        Returns whether a request was sent.
        """
        desired = with_hash(body)
        if not needs_apply(desired, observed):
            return False
        self.apply(desired)
        return True
