"""mlops Deployment handlers: observe, decide (domain.canary), apply, write status once.

One tick: read the target ModelVersion, the ready pods of both tracks, the
due analysis measurements from Prometheus and the firing alerts; ask
``canary.decide``; apply traffic first (router), then the workloads; write
the status and post the decision's Events. State lives in the status, so a
restarted operator resumes mid-step.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from typing import Any

import kopf

from mlops_operator import builders
from mlops_operator.config import Settings
from mlops_operator.domain import analysis, canary, conditions
from mlops_operator.handlers import ALERTS_KEY, SETTINGS_KEY, now
from mlops_operator.k8s.api import GROUP, VERSION, Kube
from mlops_operator.ports import MetricProvider, ProviderError
from mlops_operator.providers import provider_for
from mlops_operator.routers import names, router_for

PLURAL = "deployments"
TICK_SECONDS = 1.0
log = logging.getLogger(__name__)
# One tick at a time per Deployment: the timer, spec changes and alerts all call reconcile.
_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


def _lock(uid: str) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(uid, threading.Lock())


def _target(kube: Kube, namespace: str, name: str) -> tuple[dict | None, bool, str]:
    version = kube.get_custom(namespace, "modelversions", name)
    if version is None:
        return None, False, f"ModelVersion {name} not found"
    phase = (version.get("status") or {}).get("phase")
    if phase != "Approved":
        why = (version.get("status") or {}).get("message") or ""
        return (
            version,
            False,
            f"ModelVersion {name} is {phase or 'not yet judged'}" + (f": {why}" if why else ""),
        )
    return version, True, ""


def _track_states(kube: Kube, namespace: str, deployment: str) -> dict[str, canary.TrackState]:
    """Per track: the version its ready pods run (the majority) and how many are ready."""
    pods = kube.pods(namespace, f"{names.DEPLOYMENT_LABEL}={deployment}")
    counts: dict[str, dict[str, int]] = {t: {} for t in names.TRACKS}
    for pod in pods:
        labels = pod["metadata"].get("labels") or {}
        track, version = labels.get(names.TRACK_LABEL), labels.get(names.VERSION_LABEL)
        if track not in counts or pod["metadata"].get("deletionTimestamp"):
            continue
        ready = any(c["type"] == "Ready" and c["status"] == "True"
                    for c in (pod.get("status") or {}).get("conditions") or [])
        counts[track].setdefault(version, 0)
        counts[track][version] += int(ready)
    states = {}
    for track, by_version in counts.items():
        if not by_version:
            states[track] = canary.TrackState()
            continue
        version = max(by_version, key=lambda v: by_version[v])
        states[track] = canary.TrackState(version=version, ready_replicas=by_version[version])
    return states


def _measure(
    provider: MetricProvider,
    checks: tuple[analysis.CheckSpec, ...],
    deployment: dict[str, Any],
    target: dict[str, Any] | None,
    at: dt.datetime,
) -> tuple[dict[str, analysis.Measurement], bool, str]:
    meta = deployment["metadata"]
    spec = (target or {}).get("spec") or {}
    context = analysis.QueryContext(
        deployment=meta["name"],
        namespace=meta["namespace"],
        model=spec.get("model", ""),
        version=deployment["spec"]["modelVersion"],
    )
    reference = analysis.ReferenceStats.from_model_version_spec(spec)
    measurements: dict[str, analysis.Measurement] = {}
    reachable, error_text = True, ""
    for check in checks:
        try:
            query = analysis.build_query(check, context, reference)
        except analysis.AnalysisSpecError as error:
            measurements[check.name] = analysis.Measurement.failed(str(error), at)
            continue
        try:
            vector = provider.query(query)
        except ProviderError as error:
            reachable, error_text = False, str(error)
            measurements[check.name] = analysis.Measurement.failed(str(error), at)
            continue
        measurements[check.name] = analysis.measure(check, vector, at, reference)
    return measurements, reachable, error_text


def _alerts(memo: kopf.Memo, namespace: str, name: str) -> list[canary.FiringAlert]:
    firing = (memo.get(ALERTS_KEY) or {}).get((namespace, name)) or {}
    return [
        canary.FiringAlert(name=alert, message=message, started_at=started)
        for alert, (message, started) in firing.items()
    ]


def _apply(
    kube: Kube,
    deployment: dict[str, Any],
    decision: canary.Decision,
    versions: dict[str, dict[str, Any]],
    image: str,
) -> None:
    """Traffic first, then workloads (so a rollback never sends traffic to a dying canary)."""
    router = router_for(deployment, kube)
    weight = decision.weights.canary
    replicas = int(deployment["spec"].get("replicas", 1))
    plan = router.plan(weight, replicas, decision.stable_replicas, decision.canary_replicas)
    for service in builders.build_track_services(deployment):
        kube.apply(service)
    router.apply(deployment, weight)
    meta = deployment["metadata"]
    for track, version, count in (
        ("stable", decision.stable_version, plan.stable_replicas),
        ("canary", decision.canary_version, plan.canary_replicas),
    ):
        workload = names.workload_name(meta["name"], track)
        if version is None or (count == 0 and track == "canary"):
            kube.delete("apps/v1", "Deployment", meta["namespace"], workload)
            continue
        model_version = versions.get(version) or kube.get_custom(
            meta["namespace"], "modelversions", version
        )
        if model_version is None:
            continue
        kube.apply(builders.build_server_workload(deployment, track, model_version, count, image))


def reconcile(body: dict[str, Any], memo: kopf.Memo, kube: Kube | None = None) -> float | None:
    """One tick of one Deployment; returns seconds until something is due (or None)."""
    kube = kube or Kube()
    settings: Settings = memo[SETTINGS_KEY]
    meta, spec = body["metadata"], body["spec"]
    namespace, name = meta["namespace"], meta["name"]
    with _lock(meta["uid"]):
        fresh = kube.get_custom(namespace, PLURAL, name)  # the newest status, not kopf's copy
        if fresh is None:
            return None
        body, spec = fresh, fresh["spec"]
        status = body.get("status") or {}
        at = now()
        target, approved, target_message = _target(kube, namespace, spec["modelVersion"])
        tracks = _track_states(kube, namespace, name)
        measurements: dict[str, analysis.Measurement] = {}
        reachable, prometheus_error = True, ""
        try:
            parsed = canary.RolloutSpec.from_dict(spec, generation=meta.get("generation"))
        except (canary.SpecError, analysis.AnalysisSpecError):
            parsed = None
        if parsed is not None:
            due = canary.checks_to_measure(parsed, canary.RolloutStatus.from_dict(status), at)
            if due:
                provider = provider_for("prometheus", settings.prometheus_url)
                measurements, reachable, prometheus_error = _measure(
                    provider, due, body, target, at
                )
        observations = canary.Observations(
            now=at,
            target_approved=approved,
            target_message=target_message,
            stable=tracks["stable"],
            canary=tracks["canary"],
            measurements=measurements,
            alerts=_alerts(memo, namespace, name),
            prometheus_reachable=reachable,
            prometheus_error=prometheus_error,
        )
        decision = canary.decide_from_dicts(
            spec, status, observations, generation=meta.get("generation")
        )
        versions = {target["metadata"]["name"]: target} if target else {}
        _apply(kube, body, decision, versions, settings.runtime_image)
        new_status = decision.status.to_dict()
        new_conditions = status.get("conditions") or []
        for condition in decision.conditions:
            new_conditions = conditions.set_condition(new_conditions, condition, at)
        new_status.update(
            {
                "conditions": new_conditions,
                "observedGeneration": meta.get("generation"),
                "weights": decision.weights.as_dict(),
                "readyReplicas": {
                    "stable": tracks["stable"].ready_replicas,
                    "canary": tracks["canary"].ready_replicas,
                },
            }
        )
        if any(new_status.get(k) != status.get(k) for k in new_status):
            kube.patch_custom_status(namespace, PLURAL, name, new_status)
        for event in decision.events:
            (kopf.warn if event.type == "Warning" else kopf.info)(
                body, reason=event.reason, message=event.message
            )
        return decision.requeue_after


@kopf.on.create(GROUP, VERSION, PLURAL)
@kopf.on.update(GROUP, VERSION, PLURAL, field="spec")
@kopf.on.resume(GROUP, VERSION, PLURAL)
def on_deployment(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    reconcile(dict(body), memo)


@kopf.timer(GROUP, VERSION, PLURAL, interval=TICK_SECONDS)
def tick(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """The state machine's clock: pauses end, measurements fall due, pods get ready."""
    reconcile(dict(body), memo)


def on_alerts_changed(memo: kopf.Memo, namespace: str, name: str) -> None:
    """Called by the alert receiver: act on a firing alert without waiting for the tick."""
    kube = Kube()
    body = kube.get_custom(namespace, PLURAL, name)
    if body is not None:
        reconcile(body, memo, kube)
