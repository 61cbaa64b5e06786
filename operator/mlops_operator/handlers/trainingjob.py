"""TrainingJob handlers."""

from __future__ import annotations

import datetime as dt
from typing import Any

import kopf

GROUP, VERSION = "mlops.dev", "v1alpha1"


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@kopf.on.create(GROUP, VERSION, "trainingjobs")
def accepted(meta: kopf.Meta, patch: kopf.Patch, **_: Any) -> None:
    """Acknowledge a new TrainingJob so `kubectl get tj` shows it was seen."""
    patch.status["phase"] = "Pending"
    patch.status["observedGeneration"] = meta.get("generation")
    patch.status["conditions"] = [
        {
            "type": "Accepted",
            "status": "True",
            "reason": "Observed",
            "message": "the operator has seen this TrainingJob",
            "lastTransitionTime": _now(),
        }
    ]
