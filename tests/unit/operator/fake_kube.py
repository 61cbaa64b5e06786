"""An in-memory KubernetesPort for handler unit tests, in the spirit of client-go's fake
clientset: it stores what handlers write and records every request, in order.

It decides when to apply with the adapter's own code (``k8s.changes.AppliesOnChange``),
so a test of "writes only on change" exercises the real decision. The cluster suite
keeps proving the real API server. :func:`fake_context` gives the handlers a fresh
operator context over it, so no state of one test reaches the next.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from mlops_operator.config import Settings
from mlops_operator.domain.checks import CheckSpec
from mlops_operator.handlers.context import OperatorContext
from mlops_operator.k8s.changes import AppliesOnChange
from mlops_operator.ports import CanaryTarget, Conflict, MetricObserver, Refused

Key = tuple[str, str, str]  # (kind or custom plural, namespace, name)


class FakeKube(AppliesOnChange):
    """Objects by (kind, namespace, name); ``actions`` as (verb, kind, name)."""

    def __init__(self) -> None:
        self.objects: dict[Key, dict[str, Any]] = {}
        self.actions: list[tuple[str, str, str]] = []
        self.event_details: list[dict[str, Any]] = []  # what each Event told the audit trail
        self.events: list[tuple[str, str, str]] = []  # (type, reason, message)
        self.pods: dict[str, list[dict[str, Any]]] = {}  # by Job name
        #: kind -> the API server's message: applying or creating one is refused
        self.refuse: dict[str, str] = {}

    def add(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        """Put an object in the store as if someone else had created it."""
        meta = body["metadata"]
        self.objects[(kind, meta.get("namespace", ""), meta["name"])] = copy.deepcopy(body)
        return body

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [copy.deepcopy(o) for (k, _, _), o in self.objects.items() if k == kind]

    def requests(self) -> list[tuple[str, str, str]]:
        """The actions so far, then forget them (each step of a test starts clean)."""
        done, self.actions = self.actions, []
        return done

    # ---- the port -------------------------------------------------------------
    def apply(self, body: dict[str, Any]) -> None:
        self.actions.append(("apply", body["kind"], body["metadata"]["name"]))
        self._maybe_refuse(body["kind"], body)
        self.add(body["kind"], body)

    def _maybe_refuse(self, kind: str, body: dict[str, Any]) -> None:
        if kind in self.refuse:
            raise Refused(body.get("kind", kind), body["metadata"]["name"], self.refuse[kind])

    def delete(self, api_version: str, kind: str, namespace: str, name: str) -> None:
        self.actions.append(("delete", kind, name))
        self.objects.pop((kind, namespace, name), None)

    def get_custom(self, namespace: str, plural: str, name: str) -> dict[str, Any] | None:
        self.actions.append(("get", plural, name))
        found = self.objects.get((plural, namespace, name))
        return copy.deepcopy(found) if found else None

    def list_custom(self, namespace: str, plural: str, labels: str = "") -> list[dict[str, Any]]:
        self.actions.append(("list", plural, labels))
        wanted = dict(pair.split("=", 1) for pair in labels.split(",") if pair)
        return [o for o in self.of_kind(plural) if o["metadata"].get("namespace") == namespace
                and wanted.items() <= (o["metadata"].get("labels") or {}).items()]

    def create_custom(self, namespace: str, plural: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._create(plural, namespace, body)

    def remove_custom_annotations(
        self, namespace: str, plural: str, name: str, keys: list[str]
    ) -> None:
        self.actions.append(("remove-annotations", plural, name))
        stored = self.objects.get((plural, namespace, name))
        if stored is not None:
            annotations = stored["metadata"].get("annotations") or {}
            for key in keys:
                annotations.pop(key, None)

    def patch_custom_status(
        self, namespace: str, plural: str, name: str, status: dict[str, Any],
        resource_version: str | None = None,
    ) -> dict[str, Any]:
        self.actions.append(("patch-status", plural, name))
        stored = self.objects[(plural, namespace, name)]
        meta = stored["metadata"]
        if resource_version and resource_version != meta.get("resourceVersion"):
            raise Conflict(f"{plural} {name} is at {meta.get('resourceVersion')}")
        stored["status"] = {**(stored.get("status") or {}), **copy.deepcopy(status)}
        if meta.get("resourceVersion"):
            meta["resourceVersion"] = str(int(meta["resourceVersion"]) + 1)
        return copy.deepcopy(stored)

    def get_job(self, namespace: str, name: str) -> dict[str, Any] | None:
        self.actions.append(("get", "Job", name))
        found = self.objects.get(("Job", namespace, name))
        return copy.deepcopy(found) if found else None

    def create_job(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._create("Job", namespace, body)

    def job_pods(self, namespace: str, job_name: str) -> list[dict[str, Any]]:
        self.actions.append(("list", "Pod", job_name))
        return copy.deepcopy(self.pods.get(job_name, []))

    def pod_log_tail(self, namespace: str, pod: str, container: str, lines: int = 20) -> list[str]:
        self.actions.append(("log", "Pod", pod))
        return []

    def ensure_claim(self, namespace: str, name: str, size: str = "1Gi") -> None:
        self.actions.append(("ensure", "PersistentVolumeClaim", name))
        self.objects.setdefault(("PersistentVolumeClaim", namespace, name),
                                {"metadata": {"name": name, "namespace": namespace}})

    def secret_value(self, namespace: str, name: str, key: str) -> str | None:
        """No Secrets here (the outboxes' lookups, when main is started on this fake)."""
        return None

    def service_address(self, namespace: str, name: str, port_name: str) -> str | None:
        return None

    def post_event(self, obj: dict[str, Any], type_: str, reason: str, message: str,
                   details: Mapping[str, Any] | None = None) -> None:
        self.events.append((type_, reason, message))
        self.event_details.append(dict(details or {}))

    def _create(self, kind: str, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        name = body["metadata"]["name"]
        self.actions.append(("create", kind, name))
        if (kind, namespace, name) in self.objects:
            raise Conflict(f"{kind} {name} already exists")
        self._maybe_refuse(kind, body)
        body = copy.deepcopy(body)
        body["metadata"].setdefault("namespace", namespace)
        body["metadata"].setdefault("uid", f"uid-{kind.lower()}-{name}")  # as the server does
        return copy.deepcopy(self.add(kind, body))


class NoChecksDue:
    """An observer for tests without analysis steps: measuring anything is a bug."""

    def observe(self, check: CheckSpec, target: CanaryTarget) -> float | None:
        raise AssertionError(f"measured {check.name} with no analysis step")


def fake_context(kube: FakeKube, settings: Settings | None = None,
                 observer: MetricObserver | None = None) -> OperatorContext:
    """The handlers' shared state over ``kube``, empty: what a fresh operator starts with."""
    return OperatorContext(settings=settings or Settings(), kube=kube,
                           observer=observer or NoChecksDue())
