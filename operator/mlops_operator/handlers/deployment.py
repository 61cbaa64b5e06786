"""mlops Deployment handlers: observe, decide (domain.rollout), apply, write status once.

Each Deployment has one reconcile loop (a kopf daemon). A reconcile reads the
target ModelVersion, the pods of both tracks and its children from the watch
indexes (``handlers.watches``), measures due analysis checks in Prometheus,
takes the firing alerts, asks ``rollout.decide``, applies traffic first (router),
then the workloads, and writes the status when it changed. Then the loop sleeps
until a watch event or an alert wakes it, or until the decision's next
time-based step is due. An idle Deployment makes no API requests at all.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Mapping
from typing import Any

import kopf

from mlops_operator import builders, metrics, names
from mlops_operator.domain import analysis, conditions, rollout
from mlops_operator.domain.checks import CheckSpec
from mlops_operator.domain.durations import seconds_since
from mlops_operator.domain.errors import SpecError
from mlops_operator.domain.vocabulary import (
    ROLLOUT_OUTCOMES,
    EventType,
    HistoryEvent,
    RolloutReason,
)
from mlops_operator.handlers import now, watches
from mlops_operator.handlers.context import AlertTable, OperatorContext, context_of
from mlops_operator.handlers.wakeups import reconcile_until_stopped
from mlops_operator.names import GROUP, VERSION
from mlops_operator.ports import (
    CanaryTarget,
    CheckUnavailable,
    KubernetesPort,
    MetricObserver,
    ProviderError,
    Reading,
    Refused,
)
from mlops_operator.routers import router_for

PLURAL = names.DEPLOYMENTS
#: While Progressing (waiting for pods), look again at least this often even without an
#: event: the progress deadline passes silently. Every other phase waits for events and
#: for the decision's own next due time.
RECHECK_WHILE_ROLLING = 5.0
INDEXES = ("serving_pods", "model_versions", "serving_workloads", "serving_services",
           "serving_routes")
log = logging.getLogger(__name__)


def _target(view: watches.Snapshot, name: str) -> tuple[dict | None, bool, str]:
    """The target ModelVersion (None: not found), whether it may go live, and why not."""
    version = view.versions.get(name)
    approved, why_not = rollout.target_approval(name, version)
    return version, approved, why_not


def _with_target(body: dict[str, Any], status: Mapping[str, Any],
                 view: watches.Snapshot) -> dict[str, Any]:
    """The body with ``spec.modelVersion`` resolved for a Deployment that follows a model
    (``rollout.followed_version``). Only this copy changes; the Deployment's spec is the
    user's (or GitOps') alone."""
    target = rollout.followed_version(body["spec"], view.versions.values(),
                                      status.get("stableVersion"))
    if target is None:
        return body
    return {**body, "spec": {**body["spec"], "modelVersion": target}}


def _measure(
    observer: MetricObserver,
    checks: tuple[CheckSpec, ...],
    deployment: dict[str, Any],
    target: dict[str, Any] | None,
    at: dt.datetime,
) -> tuple[dict[str, analysis.Measurement], bool, str]:
    """One measurement per due check; whether the provider answered, and its error."""
    meta = deployment["metadata"]
    spec = (target or {}).get("spec") or {}
    canary_target = CanaryTarget(
        deployment=meta["name"],
        namespace=meta["namespace"],
        model=spec.get("model", ""),
        version=deployment["spec"]["modelVersion"],
        model_version_spec=spec,
    )
    measurements: dict[str, analysis.Measurement] = {}
    reachable, error_text = True, ""
    for check in checks:
        try:
            value = observer.observe(check, canary_target)
        except CheckUnavailable as error:
            measurements[check.name] = analysis.Measurement.failed(str(error), at, permanent=True)
        except ProviderError as error:
            reachable, error_text = False, str(error)
            measurements[check.name] = analysis.Measurement.failed(str(error), at)
        else:
            if isinstance(value, Reading):
                measurements[check.name] = analysis.Measurement.of(value.value, at,
                                                                   detail=value.detail)
            else:
                measurements[check.name] = analysis.Measurement.of(value, at)
    return measurements, reachable, error_text


#: What Alertmanager last said about one Deployment: firing alerts, resolved alert names.
Alerts = tuple[list[rollout.FiringAlert], frozenset[str]]


def _alerts(table: AlertTable, namespace: str, name: str) -> Alerts:
    """What Alertmanager last said about this Deployment: firing alerts and resolved names."""
    states = table.get((namespace, name)) or {}
    firing = [
        rollout.FiringAlert(name=alert, message=state.message, started_at=state.starts_at,
                            last_seen=state.received_at)
        for alert, state in states.items() if not state.resolved
    ]
    return firing, frozenset(alert for alert, state in states.items() if state.resolved)


def _apply(
    kube: KubernetesPort,
    deployment: dict[str, Any],
    decision: rollout.Decision,
    view: watches.Snapshot,
    image: str,
) -> int:
    """Traffic first, then workloads (so a rollback never sends traffic to a dying canary).

    Only what differs from the watch's copy is sent. Returns the canary's real share of
    traffic that the router gives (the pod ratio, for the replicas router).
    """
    router = router_for(deployment)
    weight = decision.weights.canary
    replicas = int(deployment["spec"].get("replicas", 1))
    plan = router.plan(weight, replicas, decision.stable_replicas, decision.canary_replicas)
    for manifest in [*builders.build_track_services(deployment),
                     *router.manifests(deployment, weight)]:
        kube.apply_if_changed(manifest, view.child(manifest["kind"], manifest["metadata"]["name"]))
    meta = deployment["metadata"]
    for track, version, count in (
        ("stable", decision.stable_version, plan.stable_replicas),
        ("canary", decision.canary_version, plan.canary_replicas),
    ):
        workload = names.workload_name(meta["name"], track)
        if version is None or (count == 0 and track == "canary"):
            if view.child("Deployment", workload) is not None:
                kube.delete("apps/v1", "Deployment", meta["namespace"], workload)
            continue
        model_version = view.versions.get(version)
        if model_version is None:
            continue
        mirror = decision.mirror if track == "stable" else None
        kube.apply_if_changed(
            builders.build_server_workload(deployment, track, model_version, count, image,
                                           mirror),
            view.child("Deployment", workload),
        )
    return plan.effective_weight


def _observe(
    body: dict[str, Any], status: dict[str, Any], view: watches.Snapshot,
    alerts: Alerts, observer: MetricObserver,
) -> tuple[rollout.Observations, dict[str, Any] | None]:
    """Everything the decision needs: target, tracks, due measurements, alerts."""
    meta, spec = body["metadata"], body["spec"]
    at = now()
    target, approved, target_message = _target(view, spec["modelVersion"])
    tracks = rollout.track_states(view.pods)
    measurements: dict[str, analysis.Measurement] = {}
    reachable, prometheus_error = True, ""
    try:
        parsed = rollout.RolloutSpec.from_dict(spec, generation=meta.get("generation"),
                                               annotations=meta.get("annotations"))
    except SpecError:  # decide says what is wrong
        parsed = None
    if parsed is not None:
        due = rollout.checks_to_measure(parsed, rollout.RolloutStatus.from_dict(status), at)
        if due:
            measurements, reachable, prometheus_error = _measure(observer, due, body, target, at)
    observations = rollout.Observations(
        now=at, target_approved=approved, target_message=target_message,
        target_rejected=rollout.target_rejected(target),
        stable=tracks["stable"], canary=tracks["canary"], measurements=measurements,
        alerts=alerts[0], resolved_alerts=alerts[1], prometheus_reachable=reachable,
        prometheus_error=prometheus_error,
    )
    return observations, target


def _new_status(
    body: dict[str, Any], status: dict[str, Any], decision: rollout.Decision,
    observations: rollout.Observations, effective_weight: int,
) -> dict[str, Any]:
    new_status = decision.status.to_dict()
    new_conditions = status.get("conditions") or []
    for condition in decision.conditions:
        new_conditions = conditions.set_condition(new_conditions, condition, observations.now)
    new_status.update({
        "conditions": new_conditions,
        "observedGeneration": body["metadata"].get("generation"),
        "weights": decision.weights.as_dict(),
        "effectiveWeight": effective_weight,
        "targetVersion": body["spec"].get("modelVersion"),
        "readyReplicas": {"stable": observations.stable.ready_replicas,
                          "canary": observations.canary.ready_replicas},
    })
    return new_status


def _deciding_values(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """What the audit trail keeps beside a rollout Event: where the rollout stood and the
    measurements that moved it (this tick's, or the analysis a rollback just ended)."""
    keys = ("phase", "stableVersion", "canaryVersion", "currentStepIndex", "currentWeight",
            "effectiveWeight", "lastAnalysis", "rollbackReason", "firingAlerts")
    values = {key: new[key] for key in keys if new.get(key) not in (None, [], {})}
    analysis = new.get("analysis") or old.get("analysis")
    if analysis:
        values["analysis"] = analysis
    return values


def _report(kube: KubernetesPort, body: dict[str, Any], old: dict[str, Any], new: dict[str, Any],
            decision: rollout.Decision) -> None:
    """One log line and one Event per decision; rollout outcomes into the metrics."""
    meta = body["metadata"]
    for event in decision.events:
        log.info("%s/%s %s -> %s %s: %s", meta["namespace"], meta["name"], old.get("phase"),
                 new.get("phase"), event.reason, event.message)
        kube.post_event(body, event.type, event.reason, event.message,
                        _deciding_values(old, new))
    seen = {(h.get("version"), h.get("event"), h.get("at")) for h in old.get("history") or []}
    for entry in new.get("history") or []:
        if (entry.get("version"), entry.get("event"), entry.get("at")) in seen:
            continue
        if entry.get("event") in ROLLOUT_OUTCOMES:
            metrics.ROLLOUTS.labels(outcome=entry["event"]).inc()
        started = old.get("canaryStartedAt")
        if entry.get("event") == HistoryEvent.ROLLED_BACK and started:
            metrics.ROLLBACK_SECONDS.observe(max(seconds_since(started, entry["at"]), 0.0))


def _spend_one_shots(kube: KubernetesPort, body: dict[str, Any],
                     status: rollout.RolloutStatus) -> None:
    """Remove the one-shot promote/abort annotations this decision used up, so none
    outlives the rollout it was meant for; one naming another version gets a Warning."""
    meta = body["metadata"]
    spent = rollout.spent_one_shots(meta.get("annotations"), body["spec"]["modelVersion"],
                                    status)
    if not spent:
        return
    kube.remove_custom_annotations(meta["namespace"], PLURAL, meta["name"],
                                   [s.annotation for s in spent])
    for one in spent:
        log.info("%s/%s %s", meta["namespace"], meta["name"], one.message)
        if one.ignored:
            kube.post_event(body, EventType.WARNING, RolloutReason.ONE_SHOT_IGNORED,
                            one.message)


def reconcile(
    body: dict[str, Any], view: watches.Snapshot, alerts: Alerts, ctx: OperatorContext,
) -> float | None:
    """One reconcile of one Deployment; returns seconds until something is due (or None)."""
    meta, kube = body["metadata"], ctx.kube
    status = ctx.deployment_status.get(meta["uid"]) or body.get("status") or {}
    body = _with_target(body, status, view)
    spec = body["spec"]
    observations, target = _observe(body, status, view, alerts, ctx.observer)
    decision = rollout.decide_from_dicts(
        spec, status, observations, generation=meta.get("generation"),
        annotations=meta.get("annotations"))
    try:
        effective_weight = _apply(kube, body, decision, view, ctx.settings.runtime_image)
    except (Refused, builders.SpecConflict) as refused:  # nothing is sent until it changes
        reason = (RolloutReason.CHILD_REFUSED if isinstance(refused, Refused)
                  else RolloutReason.INVALID_SPEC)
        decision = rollout.hold_invalid_spec(
            rollout.RolloutStatus.from_dict(status), str(refused), observations,
            generation=meta.get("generation"), reason=reason)
        effective_weight = int(status.get("effectiveWeight") or 0)
    new_status = _new_status(body, status, decision, observations, effective_weight)
    if any(new_status.get(k) != status.get(k) for k in new_status):
        stored = kube.patch_custom_status(meta["namespace"], PLURAL, meta["name"], new_status)
        ctx.deployment_status[meta["uid"]] = dict(stored.get("status") or new_status)
    _report(kube, body, status, new_status, decision)
    _spend_one_shots(kube, body, decision.status)
    metrics.ROLLOUTS_NOW.update(meta["namespace"], meta["name"], new_status)
    wait = decision.requeue_after
    if new_status.get("phase") == rollout.RolloutPhase.PROGRESSING.value:
        wait = min(wait if wait is not None else RECHECK_WHILE_ROLLING, RECHECK_WHILE_ROLLING)
    return wait


def _plain(body: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy of kopf's live body, safe to read from a worker thread."""
    def copy(value: Any) -> Any:
        if isinstance(value, Mapping):
            return {k: copy(v) for k, v in value.items()}
        if isinstance(value, list):
            return [copy(v) for v in value]
        return value
    return copy(body)


@kopf.daemon(GROUP, VERSION, PLURAL, cancellation_timeout=5.0)
async def rollout_loop(
    body: kopf.Body, memo: kopf.Memo, stopped: kopf.DaemonStopped, **kwargs: Any
) -> None:
    """Reconcile now, then whenever a dependency changes or a step falls due."""
    meta, ctx = body["metadata"], context_of(memo)
    key, uid = (meta["namespace"], meta["name"]), meta["uid"]

    async def once() -> float | None:
        current = _plain(body)
        model = current["spec"].get("model")
        followed = kwargs["model_versions_by_model"].get((key[0], model), ()) if model else ()
        versions = {current["spec"].get("modelVersion"), *followed} | {
            (ctx.deployment_status.get(uid) or current.get("status") or {}).get(f)
            for f in ("stableVersion", "canaryVersion")}
        view = watches.snapshot(kwargs, key[0], key[1], {v for v in versions if v})
        return await asyncio.to_thread(reconcile, current, view, _alerts(ctx.alerts, *key), ctx)

    try:
        await reconcile_until_stopped(key, ctx.wakeups, stopped, "Deployment", once)
    finally:
        if body.get("metadata", {}).get("deletionTimestamp"):
            ctx.deployment_status.pop(uid, None)
            metrics.ROLLOUTS_NOW.forget(*key)


@kopf.on.event(GROUP, VERSION, PLURAL)
async def deployment_changed(
    event: Mapping[str, Any], namespace: str, name: str, meta: kopf.Meta, status: kopf.Status,
    memo: kopf.Memo, **_: Any,
) -> None:
    """A spec change (new generation) or a one-shot annotation wakes the loop; its own
    status writes do not, once the annotation is spent."""
    if event.get("type") == "DELETED":
        return
    annotations = meta.get("annotations") or {}
    if (meta.get("generation") != status.get("observedGeneration")
            or any(key in annotations for key in rollout.ONE_SHOT.values())):
        context_of(memo).wakeups.wake((namespace, name))
