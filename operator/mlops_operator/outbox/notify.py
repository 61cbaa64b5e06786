"""Notifications: a Deployment's decisions as CloudEvents to the webhooks it names.

``spec.notifications`` lists receivers (``url``, optional ``events`` to pick Event
reasons, optional ``tokenKey``: a key of the Secret ``mlops-notifications`` in the
Deployment's namespace, sent as a bearer token). Each decision the operator reports on the
Deployment becomes one CloudEvents 1.0 event in structured JSON mode, its ``data`` the
audit record (the deciding values included), posted alone, retried until a 2xx.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from mlops_operator import metrics
from mlops_operator.names import GROUP, VERSION
from mlops_operator.outbox.queue import Destination, Outbox, OutboxMetrics

#: The one Secret whose keys notification tokens are read from (RBAC names it alone).
TOKEN_SECRET = "mlops-notifications"
CONTENT_TYPE = "application/cloudevents+json"
#: (namespace, secret, key) -> the value, or None
SecretReader = Callable[[str, str, str], str | None]


def cloud_event(record: Mapping[str, Any]) -> dict[str, Any]:
    """The CloudEvent of one decision record (a random ``id``: unique per source)."""
    namespace, name = record.get("namespace", ""), record.get("name", "")
    return {
        "specversion": "1.0",
        "id": uuid.uuid4().hex,
        "source": f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/deployments/{name}",
        "type": f"dev.mlops.deployment.{record.get('action', '')}",
        "subject": name,
        "time": record.get("time"),
        "datacontenttype": "application/json",
        "data": dict(record),
    }


def _encode(events: Sequence[dict[str, Any]]) -> tuple[bytes, str]:
    return json.dumps(events[0], default=str, sort_keys=True).encode(), CONTENT_TYPE


class Notifier:
    """One queue per (namespace, url, token key); ``notify`` picks a Deployment's sinks."""

    def __init__(self, read_secret: SecretReader, **options: Any) -> None:
        self._read_secret = read_secret
        self.outbox = Outbox("notifications", self._destination, _encode,
                             OutboxMetrics(metrics.NOTIFICATIONS, metrics.NOTIFICATIONS_PENDING),
                             batch=1, **options)

    @staticmethod
    def key(namespace: str, sink: Mapping[str, Any]) -> str:
        return json.dumps([namespace, sink.get("url"), sink.get("tokenKey")])

    def _destination(self, key: str) -> Destination | None:
        namespace, url, token_key = json.loads(key)
        if not token_key:
            return Destination(url)
        token = self._read_secret(namespace, TOKEN_SECRET, token_key)
        return Destination(url, {"Authorization": f"Bearer {token}"}) if token else None

    def notify(self, obj: Mapping[str, Any], record: Mapping[str, Any]) -> None:
        """Queue ``record`` for each of the Deployment's sinks that wants its reason."""
        if obj.get("kind") != "Deployment" or not str(obj.get("apiVersion", "")).startswith(
                f"{GROUP}/"):
            return
        sinks = (obj.get("spec") or {}).get("notifications") or ()
        namespace = str(record.get("namespace") or "")
        for sink in sinks:
            wanted = sink.get("events") or ()
            if sink.get("url") and (not wanted or record.get("action") in wanted):
                self.outbox.put(self.key(namespace, sink), cloud_event(record))

    def pending(self, namespace: str, sink: Mapping[str, Any]) -> int:
        return self.outbox.pending(self.key(namespace, sink))

    def start(self) -> None:
        self.outbox.start()

    def stop(self, timeout: float = 5.0) -> None:
        self.outbox.stop(timeout)
