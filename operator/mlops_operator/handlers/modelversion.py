"""ModelVersion handlers: verify hand-registered versions.

Versions created by a TrainingJob are gated by that TrainingJob's handler. A
version applied by hand gets a short verification Job (the artifact must exist
and match its sha256 where pods can read it) and ends Approved or Invalid.
"""

from __future__ import annotations

from typing import Any

import kopf

from mlops_operator import builders, names
from mlops_operator.domain import conditions, health, training, versions
from mlops_operator.domain.vocabulary import (
    VERSION_JUDGED,
    ConditionType,
    EventType,
    VersionPhase,
    VersionReason,
)
from mlops_operator.handlers import modelcard, now
from mlops_operator.handlers.context import context_of
from mlops_operator.k8s.api import termination_message
from mlops_operator.names import GROUP, VERSION
from mlops_operator.ports import Conflict, KubernetesPort, Refused

PLURAL = names.MODEL_VERSIONS
VERIFY_LABEL = builders.VERIFY_JOB_LABEL


def _status(phase: VersionPhase, ok: bool | None, reason: str, message: str,
            body: dict[str, Any]) -> dict:
    generation = body["metadata"].get("generation")
    verified = conditions.make_condition(ConditionType.VERIFIED, ok, reason, message,
                                         observed_generation=generation)
    tools = health.health_conditions(health.VERSION_HEALTH[phase], reason, message, generation)
    return {
        "phase": phase,
        "observedGeneration": generation,
        "headlineMetric": training.headline_metric(body["spec"].get("metrics")),
        "conditions": conditions.set_conditions(
            (body.get("status") or {}).get("conditions"), (verified, *tools), now()),
        "message": message,
    }


def reconcile(body: dict[str, Any], image: str, kube: KubernetesPort) -> None:
    meta, spec = body["metadata"], body["spec"]
    if (body.get("status") or {}).get("phase") in VERSION_JUDGED:
        modelcard.request_card(kube, body, image)  # judged while the operator was away
        return
    if (meta.get("labels") or {}).get(versions.TRAINING_JOB_UID_LABEL):
        return  # its TrainingJob gates it
    namespace, name = meta["namespace"], meta["name"]
    expected = versions.version_name(spec["model"], int(spec["version"]))
    if name != expected:
        message = (
            f"a ModelVersion of model {spec['model']} version {spec['version']} "
            f"must be named {expected}, not {name}"
        )
        kube.patch_custom_status(
            namespace, PLURAL, name,
            _status(VersionPhase.INVALID, False, VersionReason.BAD_NAME, message, body),
        )
        kube.post_event(body, EventType.WARNING, VersionPhase.INVALID, message)
        return
    job = kube.get_job(namespace, builders.verify_job_name(name))
    if job is None:
        try:
            kube.create_job(namespace, builders.build_verify_job(body, image))
        except Conflict:
            pass  # created by an earlier attempt
        except Refused as refused:
            status = _status(VersionPhase.INVALID, False, VersionReason.JOB_REFUSED,
                             str(refused), body)
            kube.patch_custom_status(namespace, PLURAL, name, status)
            kube.post_event(body, EventType.WARNING, VersionPhase.INVALID, status["message"])
            return
        message = f"checking {spec['artifact']['uri']} against its sha256"
        kube.patch_custom_status(
            namespace, PLURAL, name,
            _status(VersionPhase.VERIFYING, None, VersionReason.VERIFYING, message, body))
        return  # the Job's watch events bring the result (on_verify_job)
    pods = kube.job_pods(namespace, job["metadata"]["name"])
    result = termination_message(pods[-1], "verify") if pods else None
    if result is None:
        if not (job.get("status") or {}).get("failed"):
            return  # still running; the Job's next event comes back here
        why = next((c.get("message") or c.get("reason") for c in
                    (job.get("status") or {}).get("conditions") or []
                    if c.get("type") == "Failed" and c.get("status") == conditions.TRUE),
                   None)
        result = {"ok": False, "reason": VersionReason.VERIFICATION_FAILED,
                  "message": f"verification Job {job['metadata']['name']} failed without a "
                             f"result: {why or 'its pod never reported one'}"}
    if result.get("ok"):
        status = _status(
            VersionPhase.APPROVED,
            True,
            VersionReason.CHECKSUM_VERIFIED,
            f"artifact found and sha256 matches ({result.get('bytes')} bytes)",
            body,
        )
        kube.patch_custom_status(namespace, PLURAL, name, status)
        kube.post_event(body, EventType.NORMAL, VersionPhase.APPROVED, status["message"])
        modelcard.request_card(kube, {**body, "status": status}, image)
    else:
        reason = conditions.sanitize_reason(result.get("reason"),
                                            VersionReason.VERIFICATION_FAILED)
        status = _status(VersionPhase.INVALID, False, reason, str(result.get("message")), body)
        kube.patch_custom_status(namespace, PLURAL, name, status)
        kube.post_event(body, EventType.WARNING, VersionPhase.INVALID, status["message"])


@kopf.on.create(GROUP, VERSION, PLURAL)
@kopf.on.resume(GROUP, VERSION, PLURAL)
def on_model_version(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    ctx = context_of(memo)
    reconcile(dict(body), ctx.settings.runtime_image, ctx.kube)


@kopf.on.event("batch", "v1", "jobs", labels={VERIFY_LABEL: kopf.PRESENT})
def on_verify_job(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """A verification Job changed (finished): read its result into the ModelVersion."""
    status = body.get("status") or {}
    if not (status.get("succeeded") or status.get("failed")):
        return
    namespace = body["metadata"]["namespace"]
    ctx = context_of(memo)
    version = ctx.kube.get_custom(namespace, PLURAL, body["metadata"]["labels"][VERIFY_LABEL])
    if version is not None:
        reconcile(version, ctx.settings.runtime_image, ctx.kube)
