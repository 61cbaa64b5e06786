"""Retraining: TrainingJobs with ``spec.retrain`` start runs on a schedule or an alert.

Each such TrainingJob has one loop (a kopf daemon; a TrainingJob without
``retrain`` gets none) that reconciles, then sleeps until a run of it changes,
an alert for it arrives or its next schedule tick is due. A reconcile reads its
runs (child TrainingJobs ``<name>-r<N>``) from a watch index, takes the alerts
queued for it, asks ``domain.retrain.decide`` and applies the decision: create
the run (a deterministic name, so a re-run after a crash hits Conflict), write
``status.retrain`` and the ``Retraining`` condition, delete runs beyond the
history limits (their ModelVersions have no owner and stay), post Events.
The runs are ordinary TrainingJobs: ``handlers.trainingjob`` trains, records and
gates them.
"""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import logging
from collections.abc import Iterable, Mapping
from typing import Any

import kopf

from mlops_operator import builders, names
from mlops_operator.config import Settings
from mlops_operator.domain import conditions, retrain
from mlops_operator.domain.cron import CronError, zone_named
from mlops_operator.domain.durations import as_datetime, seconds_since, to_rfc3339
from mlops_operator.domain.vocabulary import ConditionType, EventType, RetrainReason
from mlops_operator.handlers import now
from mlops_operator.handlers.context import OperatorContext, context_of
from mlops_operator.handlers.wakeups import reconcile_until_stopped
from mlops_operator.names import API_VERSION, GROUP, VERSION
from mlops_operator.ports import Conflict, KubernetesPort
from mlops_operator.receivers.alertmanager import ModelAlert

PLURAL = names.TRAINING_JOBS
CONDITION = ConditionType.RETRAINING
#: A run this process created is trusted to exist this long before the watch shows it.
RECENT_SECONDS = 60.0
RUNS = {builders.RETRAIN_OF_LABEL: kopf.PRESENT}
log = logging.getLogger(__name__)


# ---- indexes: where alerts go, which runs exist --------------------------------------
@kopf.index(GROUP, VERSION, PLURAL, field="spec.retrain", value=kopf.PRESENT)
def retrain_targets(namespace: str, name: str, spec: kopf.Spec, **_: Any) -> dict:
    """TrainingJobs by the alerts that retrain them: (namespace, model, alertname) -> name."""
    alerts = (spec.get("retrain") or {}).get("onAlerts") or ()
    return {(namespace, spec.get("model"), str(alert)): name for alert in alerts}


@kopf.index(GROUP, VERSION, PLURAL, labels=RUNS)
def retrain_runs(namespace: str, name: str, meta: kopf.Meta, status: kopf.Status,
                 **_: Any) -> dict:
    """Retrain runs by parent: (namespace, parent) -> name, phase, creation, trigger."""
    trigger = builders.retrain_lineage(dict(meta)).get("trigger")
    return {(namespace, meta["labels"][builders.RETRAIN_OF_LABEL]): {
        "name": name, "phase": status.get("phase"),
        "created": meta.get("creationTimestamp"), "trigger": trigger}}


# ---- wake-ups: who must look again ---------------------------------------------------
@kopf.on.event(GROUP, VERSION, PLURAL, labels=RUNS)
async def retrain_run_changed(namespace: str, meta: kopf.Meta, memo: kopf.Memo,
                              **_: Any) -> None:
    """A run was created, progressed, finished or was deleted: its parent looks again."""
    parent = meta["labels"][builders.RETRAIN_OF_LABEL]
    context_of(memo).retrain_wakeups.wake((namespace, parent))


@kopf.on.event(GROUP, VERSION, PLURAL, field="spec.retrain", value=kopf.PRESENT)
async def retrain_parent_changed(event: Mapping[str, Any], namespace: str, name: str,
                                 memo: kopf.Memo, **_: Any) -> None:
    """Its spec changed, or another writer replaced its condition: look again (cheap: a
    reconcile with nothing new to do makes no request)."""
    if event.get("type") != "DELETED":
        context_of(memo).retrain_wakeups.wake((namespace, name))


def queue_model_alerts(ctx: OperatorContext, targets: Mapping[Any, Iterable[str]],
                       alerts: Iterable[ModelAlert]) -> None:
    """Hand firing model alerts to the TrainingJobs whose ``onAlerts`` list them.

    They wait in memory until that TrainingJob's loop takes them (it may not run yet);
    an alert no TrainingJob lists does nothing. Alertmanager re-sends firing alerts, so
    one lost with a restart comes back.
    """
    received = now()
    for alert in alerts:
        for name in sorted(set(targets.get((alert.namespace, alert.model, alert.alertname), ()))):
            key = (alert.namespace, name)
            try:
                starts_at = as_datetime(alert.starts_at) if alert.starts_at else received
            except ValueError:
                starts_at = received
            trigger = retrain.Trigger.firing(alert.alertname, alert.labels, starts_at)
            pending = ctx.retrain_pending.setdefault(key, {})
            pending[(alert.alertname, to_rfc3339(starts_at))] = trigger
            log.info("%s/%s: alert %s received for retraining", *key, alert.alertname)
            ctx.retrain_wakeups.wake(key)


# ---- one reconcile -------------------------------------------------------------------
def default_zone(settings: Settings) -> dt.tzinfo:
    """The zone of schedules without ``timeZone``: the configured one, else local time."""
    if settings.time_zone:
        try:
            return zone_named(settings.time_zone.lstrip(":"))
        except CronError:
            log.warning("time zone %r unknown; schedules use the local offset",
                        settings.time_zone)
    return dt.datetime.now().astimezone().tzinfo or dt.UTC


def _runs(ctx: OperatorContext, key: tuple[str, str], indexed: Iterable[Mapping[str, Any]],
          at: dt.datetime) -> list[retrain.Run]:
    """The parent's runs: what the watch shows, plus those just created that it does not
    show yet (they exist: the create call returned them)."""
    found: dict[str, retrain.Run] = {}
    for run in indexed:
        number = retrain.run_number(key[1], str(run["name"]))
        if number is not None:
            created = as_datetime(run["created"]) if run.get("created") else at
            found[run["name"]] = retrain.Run(run["name"], number, run.get("phase"), created,
                                             run.get("trigger"))
    recent = ctx.retrain_recent.get(key, {})
    for name, run in list(recent.items()):
        if name in found or seconds_since(run.created, at) > RECENT_SECONDS:
            del recent[name]
        else:
            found[name] = run
    return sorted(found.values(), key=lambda r: r.number)


def _start(ctx: OperatorContext, body: dict[str, Any], number: int,
           trigger: retrain.Trigger, at: dt.datetime) -> str:
    """Create run ``number``; one that exists already (a re-run) is success."""
    manifest = builders.build_retrain_run(body, number, trigger.to_dict())
    name, key = manifest["metadata"]["name"], (body["metadata"]["namespace"],
                                               body["metadata"]["name"])
    try:
        ctx.kube.create_custom(key[0], PLURAL, manifest)
    except Conflict:
        log.info("%s/%s: run %s exists already", *key, name)
        return name
    run = retrain.Run(name, number, None, at, trigger.to_dict())
    ctx.retrain_recent.setdefault(key, {})[name] = run
    message = f"started {name} for {trigger.describe()}"
    log.info("%s/%s %s: %s", *key, RetrainReason.RETRAIN_STARTED, message)
    ctx.kube.post_event(body, EventType.NORMAL, RetrainReason.RETRAIN_STARTED, message)
    return name


def _write(ctx: OperatorContext, body: dict[str, Any], retrain_status: dict[str, Any],
           condition: dict[str, Any], at: dt.datetime) -> dict[str, Any] | None:
    """Write ``status.retrain`` and the condition unless they are already so.

    ``status.conditions`` is shared with the training handler, so the write is
    conditional on the version read, re-read on Conflict; returns the old condition.
    """
    meta, kube = body["metadata"], ctx.kube
    current: dict[str, Any] | None = body
    for _attempt in range(3):
        if current is None:
            return None
        status = current.get("status") or {}
        old = conditions.get_condition(status.get("conditions"), CONDITION)
        new_conditions = conditions.set_condition(status.get("conditions"), condition, at)
        stored = {k: v for k, v in (status.get("retrain") or {}).items() if v is not None}
        wanted = {k: v for k, v in retrain_status.items() if v is not None}
        if stored == wanted and new_conditions == (status.get("conditions") or []):
            return old
        try:
            kube.patch_custom_status(
                meta["namespace"], PLURAL, meta["name"],
                {"retrain": retrain_status, "conditions": new_conditions},
                resource_version=(current.get("metadata") or {}).get("resourceVersion"))
        except Conflict:
            current = kube.get_custom(meta["namespace"], PLURAL, meta["name"])
            continue
        ctx.retrain_status[meta["uid"]] = wanted
        return old
    raise kopf.TemporaryError("status kept changing under the retrain loop", delay=2)


def _report_invalid(ctx: OperatorContext, body: dict[str, Any], error: Exception,
                    at: dt.datetime) -> None:
    condition = conditions.make_condition(CONDITION, False, RetrainReason.INVALID_SPEC, str(error))
    status = dict((body.get("status") or {}).get("retrain") or {})
    old = _write(ctx, body, {**status, "active": None, "nextScheduleTime": None}, condition, at)
    if (old or {}).get("message") != str(error):
        log.info("%s/%s %s: %s", body["metadata"]["namespace"], body["metadata"]["name"],
                 RetrainReason.INVALID_SPEC, error)
        ctx.kube.post_event(body, EventType.WARNING, RetrainReason.INVALID_RETRAIN_SPEC, str(error))


def reconcile(body: dict[str, Any], indexed: list[Mapping[str, Any]],
              alerts: list[retrain.Trigger], ctx: OperatorContext) -> float | None:
    """One reconcile of one TrainingJob's retraining; seconds until the next tick (or None)."""
    meta = body["metadata"]
    key, at = (meta["namespace"], meta["name"]), now()
    try:
        spec = retrain.RetrainSpec.from_dict(body["spec"]["retrain"],
                                             default_zone(ctx.settings))
    except retrain.RetrainSpecError as error:
        _report_invalid(ctx, body, error, at)
        return None
    remembered = ctx.retrain_status.get(meta["uid"]) or (body.get("status") or {}).get("retrain")
    created = as_datetime(meta.get("creationTimestamp") or at)
    decision = retrain.decide(spec, retrain.RetrainState.from_dict(remembered),
                              _runs(ctx, key, indexed, at), alerts, at, parent=key[1],
                              created=created)
    if decision.start is not None:
        _start(ctx, body, *decision.start, at)
    armed, reason, message = retrain.summary(spec, decision)
    retrain_status = {
        **decision.state.to_dict(),
        "active": decision.active,
        "nextScheduleTime": (to_rfc3339(decision.next_schedule_time)
                             if decision.next_schedule_time else None),
    }
    condition = conditions.make_condition(CONDITION, armed, reason, message,
                                          observed_generation=meta.get("generation"))
    old = _write(ctx, body, retrain_status, condition, at)
    _report(ctx.kube, body, decision, (old or {}).get("reason"), reason, message)
    if decision.wake_at is None:
        return None
    return max(seconds_since(at, decision.wake_at), 0.0)


def _report(kube: KubernetesPort, body: dict[str, Any], decision: retrain.Decision,
            old_reason: str | None, reason: str, message: str) -> None:
    """Skips and the limit as Events and log lines; old runs deleted (never versions)."""
    meta = body["metadata"]
    key = (meta["namespace"], meta["name"])
    for skip in decision.skipped:
        if not skip.quiet:
            text = f"{skip.trigger.describe()} skipped: {skip.reason}"
            log.info("%s/%s %s: %s", *key, RetrainReason.RETRAIN_SKIPPED, text)
            kube.post_event(body, EventType.NORMAL, RetrainReason.RETRAIN_SKIPPED, text)
    if reason == RetrainReason.MAX_RUNS_REACHED and old_reason != reason:
        log.info("%s/%s %s: %s", *key, RetrainReason.MAX_RUNS_REACHED, message)
        kube.post_event(body, EventType.NORMAL, RetrainReason.RETRAIN_LIMIT_REACHED, message)
    for name in decision.delete:
        log.info("%s/%s: deleting run %s (history limit; its ModelVersion stays)", *key, name)
        kube.delete(API_VERSION, "TrainingJob", key[0], name)


# ---- the loop ------------------------------------------------------------------------
@kopf.daemon(GROUP, VERSION, PLURAL, field="spec.retrain", value=kopf.PRESENT,
             cancellation_timeout=5.0)
async def retrain_loop(body: kopf.Body, memo: kopf.Memo, stopped: kopf.DaemonStopped,
                       retrain_runs: kopf.Index, **_: Any) -> None:
    """Reconcile now, then whenever a run changes, an alert arrives or a tick is due."""
    meta, ctx = body["metadata"], context_of(memo)
    key, uid = (meta["namespace"], meta["name"]), meta["uid"]

    async def once() -> float | None:
        pending = dict(ctx.retrain_pending.get(key) or {})
        runs = [dict(run) for run in retrain_runs.get(key, ())]
        wait = await asyncio.to_thread(
            reconcile, copy.deepcopy(dict(body)), runs, list(pending.values()), ctx)
        queued = ctx.retrain_pending.get(key) or {}
        for alert_key, trigger in pending.items():
            if queued.get(alert_key) is trigger:  # judged; newer ones stay
                del queued[alert_key]
        return wait

    try:
        await reconcile_until_stopped(key, ctx.retrain_wakeups, stopped, "TrainingJob", once)
    finally:
        if body.get("metadata", {}).get("deletionTimestamp") or "retrain" not in body["spec"]:
            ctx.retrain_status.pop(uid, None)
            ctx.retrain_recent.pop(key, None)
            ctx.retrain_pending.pop(key, None)
        if not body.get("metadata", {}).get("deletionTimestamp") \
                and "retrain" not in body["spec"]:
            await asyncio.to_thread(forget, ctx.kube, copy.deepcopy(dict(body)))


def forget(kube: KubernetesPort, body: dict[str, Any] | None) -> None:
    """``spec.retrain`` was removed: drop its status and condition (the runs stay)."""
    for _attempt in range(3):
        if body is None or "retrain" in body["spec"]:
            return
        meta, status = body["metadata"], body.get("status") or {}
        if "retrain" not in status and conditions.get_condition(
                status.get("conditions"), CONDITION) is None:
            return
        try:
            kube.patch_custom_status(
                meta["namespace"], PLURAL, meta["name"],
                {"retrain": None,
                 "conditions": conditions.remove_condition(status.get("conditions"), CONDITION)},
                resource_version=meta.get("resourceVersion"))
            return
        except Conflict:  # the training handler wrote meanwhile: read again
            body = kube.get_custom(meta["namespace"], PLURAL, meta["name"])
