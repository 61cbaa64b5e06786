"""The spec changes the operator sees, into the audit trail (its decisions get there with
their Events: ``main`` hooks the trail into ``Kube.post_event``).

One watch-event handler per kind keeps the last generation and spec of each object in
memory; a new generation is a ``SpecChanged`` record with the changed paths and the field
manager that wrote the spec, a first generation a ``Created`` one, a deletion ``Deleted``.
"""

from __future__ import annotations

import copy
from typing import Any

import kopf

from mlops_operator import names
from mlops_operator.domain import audit
from mlops_operator.handlers import stamp
from mlops_operator.handlers.context import context_of
from mlops_operator.names import GROUP, VERSION


@kopf.on.event(GROUP, VERSION, names.DEPLOYMENTS)
@kopf.on.event(GROUP, VERSION, names.TRAINING_JOBS)
@kopf.on.event(GROUP, VERSION, names.MODEL_VERSIONS)
async def spec_seen(type: str | None, body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """Record what changed in the spec since this process last saw it, and by whom."""
    ctx = context_of(memo)
    obj = dict(body)
    uid = str(obj.get("metadata", {}).get("uid", ""))
    if type == "DELETED":
        ctx.audit_seen.pop(uid, None)
        ctx.audit(audit.deletion_record(obj, stamp()))
        return
    seen = ctx.audit_seen.get(uid)
    record = audit.spec_record(obj, seen, stamp(), ctx.watching_since)
    generation = int(obj.get("metadata", {}).get("generation") or 0)
    if seen is None or generation > seen.generation:
        ctx.audit_seen[uid] = audit.Seen(generation, copy.deepcopy(dict(obj.get("spec") or {})))
    if record is not None:
        ctx.audit(record)
