"""ModelVersion handlers: verify hand-registered versions.

Versions created by a TrainingJob are gated by that TrainingJob's handler. A
version applied by hand gets a short verification Job (the artifact must exist
and match its sha256 where pods can read it) and ends Approved or Invalid.
"""

from __future__ import annotations

import contextlib
from typing import Any

import kopf

from mlops_operator import builders
from mlops_operator.domain import conditions, training, versions
from mlops_operator.handlers import KUBE_KEY, SETTINGS_KEY, now
from mlops_operator.k8s.api import GROUP, VERSION, termination_message
from mlops_operator.ports import Conflict, KubernetesPort

PLURAL = "modelversions"
VERIFY_LABEL = builders.VERIFY_JOB_LABEL


def _status(phase: str, ok: bool, reason: str, message: str, spec: dict[str, Any]) -> dict:
    return {
        "phase": phase,
        "headlineMetric": training.headline_metric(spec.get("metrics")),
        "conditions": conditions.set_condition(
            [], conditions.make_condition("Verified", ok, reason, message), now()
        ),
        "message": message,
    }


def reconcile(body: dict[str, Any], image: str, kube: KubernetesPort) -> None:
    meta, spec = body["metadata"], body["spec"]
    if (body.get("status") or {}).get("phase") in ("Approved", "Rejected", "Invalid"):
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
            namespace, PLURAL, name, _status("Invalid", False, "BadName", message, spec)
        )
        kube.post_event(body, "Warning", "Invalid", message)
        return
    job = kube.get_job(namespace, builders.verify_job_name(name))
    if job is None:
        with contextlib.suppress(Conflict):  # created by an earlier attempt
            kube.create_job(namespace, builders.build_verify_job(body, image))
        kube.patch_custom_status(
            namespace,
            PLURAL,
            name,
            {"phase": "Verifying"}
            | {"message": f"checking {spec['artifact']['uri']} against its sha256"},
        )
        return  # the Job's watch events bring the result (on_verify_job)
    pods = kube.job_pods(namespace, job["metadata"]["name"])
    result = termination_message(pods[-1], "verify") if pods else None
    if result is None:
        if not (job.get("status") or {}).get("failed"):
            return  # still running; the Job's next event comes back here
        why = next((c.get("message") or c.get("reason") for c in
                    (job.get("status") or {}).get("conditions") or []
                    if c.get("type") == "Failed" and c.get("status") == "True"), None)
        result = {"ok": False, "reason": "VerificationFailed",
                  "message": f"verification Job {job['metadata']['name']} failed without a "
                             f"result: {why or 'its pod never reported one'}"}
    if result.get("ok"):
        status = _status(
            "Approved",
            True,
            "ChecksumVerified",
            f"artifact found and sha256 matches ({result.get('bytes')} bytes)",
            spec,
        )
        kube.patch_custom_status(namespace, PLURAL, name, status)
        kube.post_event(body, "Normal", "Approved", status["message"])
    else:
        reason = conditions.sanitize_reason(result.get("reason"), "VerificationFailed")
        status = _status("Invalid", False, reason, str(result.get("message")), spec)
        kube.patch_custom_status(namespace, PLURAL, name, status)
        kube.post_event(body, "Warning", "Invalid", status["message"])


@kopf.on.create(GROUP, VERSION, PLURAL)
@kopf.on.resume(GROUP, VERSION, PLURAL)
def on_model_version(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    reconcile(dict(body), memo[SETTINGS_KEY].runtime_image, memo[KUBE_KEY])


@kopf.on.event("batch", "v1", "jobs", labels={VERIFY_LABEL: kopf.PRESENT})
def on_verify_job(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """A verification Job changed (finished): read its result into the ModelVersion."""
    status = body.get("status") or {}
    if not (status.get("succeeded") or status.get("failed")):
        return
    namespace = body["metadata"]["namespace"]
    kube = memo[KUBE_KEY]
    version = kube.get_custom(namespace, PLURAL, body["metadata"]["labels"][VERIFY_LABEL])
    if version is not None:
        reconcile(version, memo[SETTINGS_KEY].runtime_image, kube)
