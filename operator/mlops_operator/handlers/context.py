"""The state the handlers share, typed: one :class:`OperatorContext`, built at startup.

kopf hands every handler the same ``memo``. The operator keeps exactly one thing in
it, this context under :data:`MEMO_KEY` (``main.configure`` stores it before any
watch starts), and handlers read it through :func:`context_of`. Its fields are set
once; what changes is inside them: the alert table, the loops' wake-ups, the alert
triggers waiting for a retrain loop and the statuses this process last wrote (the
watch may not have delivered them yet when the next reconcile starts, and only
this operator writes them). A test builds its own context with fakes, so no state
leaks from one test to the next.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from mlops_operator.config import Settings
from mlops_operator.domain import retrain
from mlops_operator.domain.audit import Seen
from mlops_operator.domain.durations import to_rfc3339
from mlops_operator.handlers.wakeups import Key, Wakeups
from mlops_operator.ports import KubernetesPort, MetricObserver
from mlops_operator.receivers.alertmanager import AlertState

#: The one memo entry the operator uses.
MEMO_KEY = "mlops"
#: What Alertmanager last said, by Deployment (namespace, name), then by alert name.
AlertTable = dict[Key, dict[str, AlertState]]


@dataclass(frozen=True, kw_only=True)
class OperatorContext:
    """Everything the handlers share, for the life of the operator process."""

    settings: Settings
    kube: KubernetesPort
    observer: MetricObserver  # of the configured metric provider
    #: Filled by the Alertmanager receiver, read by each Deployment's reconcile.
    alerts: AlertTable = field(default_factory=dict)
    #: The Deployments' reconcile loops, woken by watch events and alerts.
    wakeups: Wakeups = field(default_factory=Wakeups)
    #: The retrain loops of TrainingJobs: their own keys, as a TrainingJob and a
    #: Deployment may share a name.
    retrain_wakeups: Wakeups = field(default_factory=Wakeups)
    #: Firing alerts waiting for their TrainingJob's loop: by (namespace, name), then by
    #: (alertname, startsAt).
    retrain_pending: dict[Key, dict[tuple[str, str], retrain.Trigger]] = field(
        default_factory=dict)
    #: The Deployment status this operator last wrote, by Deployment UID.
    deployment_status: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: What this operator last wrote to ``status.retrain``, by TrainingJob UID.
    retrain_status: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: The retrain runs this process created, by parent (namespace, name), trusted to
    #: exist until the watch shows them.
    retrain_recent: dict[Key, dict[str, retrain.Run]] = field(default_factory=dict)
    #: Appends one record to the audit trail (``audit.trail.AuditTrail.record``).
    audit: Callable[[dict[str, Any]], None] = field(default=lambda _record: None)
    #: The spec each object had when this process last saw it, by UID (for the trail).
    audit_seen: dict[str, Seen] = field(default_factory=dict)
    #: When this process began watching: an object created since is new to the trail.
    watching_since: str = field(default_factory=lambda: to_rfc3339(datetime.now(UTC)))
    #: What to await at shutdown (the alert receiver's HTTP server), in order.
    cleanups: list[Callable[[], Awaitable[None]]] = field(default_factory=list)


def install(memo: MutableMapping[str, Any], context: OperatorContext) -> OperatorContext:
    """Keep ``context`` in ``memo``; a startup that kopf retries keeps the first one."""
    kept = memo.get(MEMO_KEY)
    if isinstance(kept, OperatorContext):
        return kept
    memo[MEMO_KEY] = context
    return context


def context_of(memo: Mapping[str, Any]) -> OperatorContext:
    """The context of this operator process (a handler without one is a startup bug)."""
    context = memo.get(MEMO_KEY)
    if not isinstance(context, OperatorContext):
        raise RuntimeError(f"no OperatorContext in kopf's memo[{MEMO_KEY!r}]: "
                           "main.configure has not run")
    return context
