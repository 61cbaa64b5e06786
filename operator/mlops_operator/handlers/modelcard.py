"""Model cards: once a version is judged, a short Job writes its card beside the artifact
and the version's ``status.modelCard`` links it.

Requested where a version's phase is written (the TrainingJob's gate, the verification of
a registered version) and on resume for versions judged while the operator was down; the
Job's watch events bring the result back (one status write when requested, one when done).
"""

from __future__ import annotations

from typing import Any

import kopf

from mlops_operator import builders, names
from mlops_operator.domain import versions
from mlops_operator.domain.vocabulary import CardReason, EventType
from mlops_operator.handlers.context import context_of
from mlops_operator.k8s.api import termination_message
from mlops_operator.ports import Conflict, KubernetesPort, Refused

PLURAL = names.MODEL_VERSIONS


def _record(kube: KubernetesPort, version: dict[str, Any], card: dict[str, Any]) -> None:
    meta = version["metadata"]
    kube.patch_custom_status(meta["namespace"], PLURAL, meta["name"], {"modelCard": card})


def request_card(kube: KubernetesPort, version: dict[str, Any], image: str) -> None:
    """Start the card Job of a judged version that has none; safe to call again."""
    if not versions.needs_card(version.get("status")):
        return
    meta = version["metadata"]
    uri = builders.card_uri(version)
    job = builders.card_job_name(meta["name"])
    if uri is None:
        message = ("model cards are written beside pvc:// artifacts; "
                   f"{version['spec'].get('artifact', {}).get('uri')} is not on a claim")
        _record(kube, version, {"job": None, "error": message})
        kube.post_event(version, EventType.WARNING, CardReason.FAILED, message)
        return
    try:
        kube.create_job(meta["namespace"], builders.build_card_job(version, image, uri))
    except Conflict:
        pass  # requested before
    except Refused as refused:
        message = f"the model-card Job was refused: {refused}"
        _record(kube, version, {"job": job, "error": message})
        kube.post_event(version, EventType.WARNING, CardReason.FAILED, message)
        return
    _record(kube, version, {"job": job, "uri": None, "error": None})


def collect_card(kube: KubernetesPort, job: dict[str, Any]) -> None:
    """A finished card Job: its result into the version's ``status.modelCard``."""
    meta = job["metadata"]
    state = job.get("status") or {}
    if not (state.get("succeeded") or state.get("failed")):
        return
    version = kube.get_custom(meta["namespace"], PLURAL, meta["labels"][builders.MODEL_CARD_LABEL])
    if version is None:
        return
    current = (version.get("status") or {}).get("modelCard") or {}
    if current.get("uri") or current.get("error"):
        return  # already recorded
    pods = kube.job_pods(meta["namespace"], meta["name"])
    result = termination_message(pods[-1], builders.CARD_CONTAINER) if pods else None
    card = versions.card_result(result, not state.get("succeeded"), meta["name"])
    if card is None:
        return
    _record(kube, version, card)
    if card.get("error"):
        kube.post_event(version, EventType.WARNING, CardReason.FAILED, card["error"])
    else:
        kube.post_event(version, EventType.NORMAL, CardReason.WRITTEN,
                        f"model card {card['uri']} ({card['bytes']} bytes)")


@kopf.on.event("batch", "v1", "jobs", labels={builders.MODEL_CARD_LABEL: kopf.PRESENT})
def on_card_job(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    collect_card(context_of(memo).kube, dict(body))
