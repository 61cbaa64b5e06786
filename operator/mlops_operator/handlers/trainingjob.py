"""TrainingJob handlers: run the training Job, record the ModelVersion, gate it.

Every step is derived from what exists in the cluster (the Job, its pods, the
ModelVersions labelled with this TrainingJob's UID), so a crash at any line
and a re-run converge on the same end state: one Job, one ModelVersion.
"""

from __future__ import annotations

import logging
from typing import Any

import kopf

from mlops_operator import builders, names
from mlops_operator.config import Settings
from mlops_operator.domain import conditions, gates, health, training, versions
from mlops_operator.domain.vocabulary import (
    TRAINING_FINISHED,
    ConditionType,
    EventType,
    TrainingPhase,
    TrainingReason,
    VersionPhase,
    VersionReason,
)
from mlops_operator.handlers import modelcard, now, stamp
from mlops_operator.handlers.context import context_of
from mlops_operator.k8s.api import termination_message
from mlops_operator.names import GROUP, VERSION
from mlops_operator.ports import Conflict, KubernetesPort, Refused

PLURAL = names.TRAINING_JOBS
#: The conditions this handler writes (Retraining is the retrain loop's).
TRAINING_CONDITIONS = (ConditionType.SUCCEEDED, ConditionType.READY,
                       ConditionType.RECONCILING, ConditionType.STALLED)
log = logging.getLogger(__name__)


def _job_facts(
    kube: KubernetesPort, namespace: str, job: dict[str, Any] | None
) -> training.JobFacts:
    if job is None:
        return training.JobFacts(exists=False)
    spec, status = job.get("spec") or {}, job.get("status") or {}
    job_conditions = {
        c["type"]: c for c in status.get("conditions") or [] if c.get("status") == conditions.TRUE
    }
    # FailureTarget (Kubernetes >= 1.31) carries the reason before Failed is set.
    failed = job_conditions.get("Failed") or job_conditions.get("FailureTarget") or {}
    pods = kube.job_pods(namespace, job["metadata"]["name"])
    latest = pods[-1] if pods else None
    waiting: dict[str, Any] = {}
    message = None
    log_tail: list[str] = []
    if latest is not None:
        for container in (latest.get("status") or {}).get("containerStatuses") or []:
            waiting = (container.get("state") or {}).get("waiting") or {}
        message = termination_message(latest, builders.TRAINER_CONTAINER)
        phase = (latest.get("status") or {}).get("phase")
        if phase == "Failed" and not message:
            log_tail = kube.pod_log_tail(
                namespace, latest["metadata"]["name"], builders.TRAINER_CONTAINER
            )
    return training.JobFacts(
        exists=True,
        active=int(status.get("active") or 0),
        succeeded=int(status.get("succeeded") or 0),
        failed=int(status.get("failed") or 0),
        backoff_limit=int(spec.get("backoffLimit", 6)),
        active_deadline_seconds=spec.get("activeDeadlineSeconds"),
        complete="Complete" in job_conditions,
        failed_condition=bool(failed),
        failed_reason=failed.get("reason"),
        failed_message=failed.get("message"),
        pod_phase=(latest.get("status") or {}).get("phase") if latest else None,
        waiting_reason=waiting.get("reason"),
        waiting_message=waiting.get("message"),
        termination_message=message,
        log_tail=tuple(log_tail),
    )


def record_version(
    kube: KubernetesPort, body: dict[str, Any], result: dict[str, Any], image: str
) -> tuple[dict[str, Any], bool]:
    """Find or create this job's ModelVersion; returns (version, created_now)."""
    namespace, model = body["metadata"]["namespace"], body["spec"]["model"]
    for _attempt in range(5):  # a concurrent creation may take the name we picked
        existing = kube.list_custom(namespace, names.MODEL_VERSIONS,
                                    f"{versions.MODEL_LABEL}={model}")
        plan = versions.plan_version_for_job(model, body["metadata"]["uid"], existing)
        if plan.exists:
            found = next(v for v in existing if v["metadata"]["name"] == plan.name)
            return found, False
        manifest = builders.build_model_version(body, plan.name, plan.number, result, image)
        try:
            return kube.create_custom(namespace, names.MODEL_VERSIONS, manifest), True
        except Conflict:
            continue
    raise kopf.TemporaryError("could not pick a free ModelVersion name", delay=2)


def gate_version(
    kube: KubernetesPort, body: dict[str, Any], version: dict[str, Any]
) -> dict[str, Any]:
    """Judge a fresh version by the TrainingJob's quality gate; write its status once."""
    status = version.get("status") or {}
    if status.get("phase"):
        return status
    namespace, model = body["metadata"]["namespace"], body["spec"]["model"]
    gate = body["spec"].get("qualityGate")
    best = None
    if gate and gate.get("maxRegression"):
        listed = kube.list_custom(namespace, names.MODEL_VERSIONS,
                                  f"{versions.MODEL_LABEL}={model}")
        approved = [
            v
            for v in listed
            if (v.get("status") or {}).get("phase") == VersionPhase.APPROVED
            and v["metadata"]["name"] != version["metadata"]["name"]
        ]
        best = gates.best_previous(
            [v["spec"].get("metrics") or {} for v in approved], gate["maxRegression"]["metric"]
        )
    result = gates.evaluate_gate(gate, version["spec"].get("metrics"), best,
                                 version["spec"].get("evaluation"), version["spec"].get("fairness"))
    phase = VersionPhase.APPROVED if result.approved else VersionPhase.REJECTED
    headline = training.headline_metric(version["spec"].get("metrics"))
    reason = (VersionReason.QUALITY_GATE_PASSED if result.approved
              else VersionReason.QUALITY_GATE_FAILED)
    generation = version["metadata"].get("generation")
    new_status = {
        "phase": phase,
        "observedGeneration": generation,
        "headlineMetric": headline,
        "gate": result.reason_dicts(),
        "conditions": conditions.set_conditions(
            [],
            (conditions.make_condition(ConditionType.APPROVED, result.approved, reason,
                                       result.message, observed_generation=generation),
             *health.health_conditions(health.VERSION_HEALTH[phase], reason, result.message,
                                       generation)),
            now(),
        ),
    }
    kube.patch_custom_status(namespace, names.MODEL_VERSIONS, version["metadata"]["name"],
                             new_status)
    kube.post_event(version, EventType.NORMAL if result.approved else EventType.WARNING,
                    phase, result.message,
                    {"trainingJob": body["metadata"]["name"], "gate": new_status["gate"],
                     "metrics": version["spec"].get("metrics") or {},
                     "champion": best})
    return new_status


def reconcile(body: dict[str, Any], settings: Settings, kube: KubernetesPort) -> None:
    """Bring one TrainingJob one step closer to done; safe to call any number of times."""
    meta, spec, status = body["metadata"], body["spec"], dict(body.get("status") or {})
    if status.get("phase") in TRAINING_FINISHED:
        if status.get("observedGeneration") != meta.get("generation"):
            _observe_generation(kube, body)
        return
    try:
        gates.validate_gate(spec.get("qualityGate"))
    except gates.GateError as error:
        _write(
            kube,
            body,
            status,
            training.TrainingOutcome(
                TrainingPhase.FAILED, TrainingReason.INVALID_QUALITY_GATE, str(error)
            ),
        )
        return
    try:
        _advance(kube, body, status, settings)
    except Refused as refused:
        reason = (TrainingReason.VERSION_REFUSED if refused.kind == "ModelVersion"
                  else TrainingReason.JOB_REFUSED)
        _write(kube, body, status,
               training.TrainingOutcome(TrainingPhase.FAILED, reason, str(refused)))


def _advance(kube: KubernetesPort, body: dict[str, Any], status: dict[str, Any],
             settings: Settings) -> None:
    """Create the Job, or read its result into a gated ModelVersion; write the phase."""
    namespace, name = body["metadata"]["namespace"], body["metadata"]["name"]
    job = kube.get_job(namespace, builders.training_job_name(name))
    outcome = training.training_phase(_job_facts(kube, namespace, job))
    if outcome.create_job:
        kube.ensure_claim(namespace, settings.artifact_claim)
        manifest = builders.build_training_job(
            body, settings.runtime_image, settings.artifact_claim, _champion(kube, body)
        )
        try:
            kube.create_job(namespace, manifest)
        except Conflict:
            pass  # created by an earlier run of this handler
        else:
            created = manifest["metadata"]["name"]
            kube.post_event(body, EventType.NORMAL, TrainingReason.JOB_CREATED,
                            f"created Job {created}")
        status.setdefault("startTime", stamp())
    if outcome.phase is TrainingPhase.SUCCEEDED and outcome.result is not None:
        version, created = record_version(kube, body, dict(outcome.result), settings.runtime_image)
        version_status = gate_version(kube, body, version)
        modelcard.request_card(kube, {**version, "status": version_status},
                               settings.runtime_image)
        version_name = version["metadata"]["name"]
        if created:
            kube.post_event(body, EventType.NORMAL, TrainingReason.MODEL_VERSION_CREATED,
                            f"recorded {version_name}")
            _warn_data_checks(kube, body, version)
        status["modelVersion"] = version_name
        status["modelVersionPhase"] = version_status.get("phase")
        status["metrics"] = version["spec"].get("metrics") or {}
        status["headlineMetric"] = training.headline_metric(status["metrics"])
    _write(kube, body, status, outcome)


def _champion(kube: KubernetesPort, body: dict[str, Any]) -> dict[str, Any] | None:
    """The version this training is compared with: the newest Approved one a Deployment
    serves as stable, else the newest Approved one (read once, when the Job is made)."""
    namespace, model = body["metadata"]["namespace"], body["spec"]["model"]
    listed = kube.list_custom(namespace, names.MODEL_VERSIONS, f"{versions.MODEL_LABEL}={model}")
    served = [str((d.get("status") or {}).get("stableVersion") or "")
              for d in kube.list_custom(namespace, names.DEPLOYMENTS)]
    chosen = versions.champion(listed, model, served)
    return builders.champion_reference(dict(chosen)) if chosen is not None else None


def _warn_data_checks(kube: KubernetesPort, body: dict[str, Any],
                      version: dict[str, Any]) -> None:
    """Data checks that only warn still deserve an Event a person sees."""
    checks = version["spec"].get("dataChecks") or {}
    if checks.get("findings"):
        shown = "; ".join(checks.get("warnings") or [])
        kube.post_event(body, EventType.WARNING, TrainingReason.DATA_CHECK_WARNINGS,
                        f"{checks['findings']} data check finding(s) against "
                        f"{checks.get('baseline')}: {shown}")


def _observe_generation(kube: KubernetesPort, body: dict[str, Any]) -> None:
    """A finished TrainingJob's new generation changed only what may change (retrain, TTL:
    the rest is immutable at admission): say it was seen, and train nothing."""
    meta, status = body["metadata"], body.get("status") or {}
    generation = meta.get("generation")
    restamped = [c | {"observedGeneration": generation}
                 if c.get("type") in TRAINING_CONDITIONS else c
                 for c in status.get("conditions") or []]
    try:
        kube.patch_custom_status(meta["namespace"], PLURAL, meta["name"],
                                 {"observedGeneration": generation, "conditions": restamped},
                                 resource_version=meta.get("resourceVersion"))
    except Conflict:  # the retrain loop wrote meanwhile: read again
        raise kopf.TemporaryError("status changed while observing the generation",
                                  delay=1) from None


def _write(
    kube: KubernetesPort,
    body: dict[str, Any],
    status: dict[str, Any],
    outcome: training.TrainingOutcome,
) -> None:
    meta = body["metadata"]
    previous_phase = (body.get("status") or {}).get("phase")
    status["phase"] = outcome.phase.value
    status["observedGeneration"] = meta.get("generation")
    if outcome.terminal:
        status.setdefault("completionTime", stamp())
    succeeded = conditions.make_condition(
        ConditionType.SUCCEEDED,
        outcome.phase is TrainingPhase.SUCCEEDED if outcome.terminal else conditions.UNKNOWN,
        outcome.reason,
        outcome.message,
        observed_generation=meta.get("generation"),
    )
    tools = health.health_conditions(health.TRAINING_HEALTH[outcome.phase], outcome.reason,
                                     outcome.message, meta.get("generation"))
    status["conditions"] = conditions.set_conditions(status.get("conditions"),
                                                     (succeeded, *tools), now())
    status["message"] = outcome.message
    # status.retrain is the retrain loop's (handlers.retrain): a copy read here may be stale.
    status.pop("retrain", None)
    if status == {k: v for k, v in (body.get("status") or {}).items() if k != "retrain"}:
        return
    kube.patch_custom_status(meta["namespace"], PLURAL, meta["name"], status)
    if previous_phase != outcome.phase.value:
        if outcome.phase is TrainingPhase.FAILED:
            kube.post_event(body, EventType.WARNING, outcome.reason, outcome.message)
        else:  # Pending, Running, Succeeded: the Event is named after the phase
            kube.post_event(body, EventType.NORMAL, outcome.phase, outcome.message)


@kopf.on.create(GROUP, VERSION, PLURAL)
@kopf.on.resume(GROUP, VERSION, PLURAL)
@kopf.on.update(GROUP, VERSION, PLURAL)
def on_training_job(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    ctx = context_of(memo)
    reconcile(dict(body), ctx.settings, ctx.kube)


@kopf.on.event("batch", "v1", "jobs", labels={builders.TRAINING_JOB_LABEL: kopf.PRESENT})
@kopf.on.event("", "v1", "pods", labels={builders.TRAINING_JOB_LABEL: kopf.PRESENT})
def on_training_child(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """A training Job or its pod changed (started, failed, finished): reconcile its owner.

    Watch events are the only trigger besides creation; nothing polls.
    """
    namespace = body["metadata"]["namespace"]
    owner = body["metadata"]["labels"][builders.TRAINING_JOB_LABEL]
    ctx = context_of(memo)
    parent = ctx.kube.get_custom(namespace, PLURAL, owner)
    if parent is not None:
        reconcile(parent, ctx.settings, ctx.kube)
