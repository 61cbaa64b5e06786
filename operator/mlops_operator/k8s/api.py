"""The Kubernetes adapter: ``ports.KubernetesPort`` over the kubernetes client, on plain dicts."""

from __future__ import annotations

import atexit
import base64
import contextlib
import datetime as dt
import json
import logging
import os
import tempfile
from collections.abc import Callable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from kubernetes import client, config
from kubernetes.client.rest import ApiException

from mlops_operator.domain.durations import to_rfc3339
from mlops_operator.k8s import changes
from mlops_operator.metrics import count_api_request
from mlops_operator.names import GROUP, VERSION
from mlops_operator.ports import Conflict, Refused

log = logging.getLogger(__name__)


@lru_cache(maxsize=1)
def api_client() -> client.ApiClient:
    """One client per process: in-cluster credentials in a pod, else the kubeconfig."""
    try:
        config.load_incluster_config()
    except config.ConfigException:
        config.load_kube_config()
    return client.ApiClient()


def _plain(obj: Any) -> Any:
    return api_client().sanitize_for_serialization(obj)


FIELD_MANAGER = "mlops-operator"
#: (object, type, reason, message, details, time) of each Event posted.
EventHook = Callable[[dict[str, Any], str, str, str, Mapping[str, Any] | None, str], None]


@lru_cache(maxsize=1)
def _dynamic() -> Any:
    """The dynamic client, with a discovery cache of this process's own: the library's
    default file is keyed by server address only and shared by every process, so a
    cluster recreated on the same address would be read through the old one's cache."""
    from kubernetes.dynamic import DynamicClient

    folder = Path(tempfile.gettempdir()) / "mlops-operator-discovery"
    folder.mkdir(mode=0o700, exist_ok=True)
    _remove_caches_of_ended_processes(folder)
    cache = folder / f"{os.getpid()}.json"
    atexit.register(cache.unlink, missing_ok=True)
    return DynamicClient(api_client(), cache_file=str(cache))


def _remove_caches_of_ended_processes(folder: Path) -> None:
    """A killed process never runs its atexit hook: its file is removed by the next one."""
    for cache in folder.glob("*.json"):
        if cache.stem.isdigit() and not _process_exists(int(cache.stem)):
            cache.unlink(missing_ok=True)


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Kube(changes.AppliesOnChange):
    """The cluster operations the handlers need, returning plain dicts.

    Every request is counted by verb in the operator's metrics. Reads that the
    watches already answer (pods, ModelVersions, children) are not made here:
    handlers pass what the watch shows, and unchanged children are not re-sent.
    """

    def __init__(self, on_event: EventHook | None = None) -> None:
        """``on_event`` sees every Event this process posts (the audit trail)."""
        self.on_event = on_event
        api = api_client()
        self.core = client.CoreV1Api(api)
        self.batch = client.BatchV1Api(api)
        self.apps = client.AppsV1Api(api)
        self.custom = client.CustomObjectsApi(api)

    # ---- declarative -----------------------------------------------------------
    def apply(self, body: dict[str, Any]) -> None:
        """Server-side apply ``body`` (any kind); the operator owns the fields it sets."""
        body = changes.with_hash(body)
        dynamic = _dynamic()
        resource = dynamic.resources.get(api_version=body["apiVersion"], kind=body["kind"])
        count_api_request("apply")
        try:
            dynamic.server_side_apply(
                resource, body=body, namespace=body["metadata"].get("namespace"),
                field_manager=FIELD_MANAGER, force_conflicts=True)
        except ApiException as error:
            raise _refused(error, body) or error from error

    def get(self, api_version: str, kind: str, namespace: str, name: str) -> dict | None:
        dynamic = _dynamic()
        resource = dynamic.resources.get(api_version=api_version, kind=kind)
        count_api_request("get")
        try:
            return resource.get(name=name, namespace=namespace).to_dict()
        except ApiException as error:
            if error.status == 404:
                return None
            raise

    def delete(self, api_version: str, kind: str, namespace: str, name: str) -> None:
        """Delete if present (a 404 is success)."""
        dynamic = _dynamic()
        resource = dynamic.resources.get(api_version=api_version, kind=kind)
        count_api_request("delete")
        try:
            resource.delete(name=name, namespace=namespace,
                            body={"propagationPolicy": "Background"})
        except ApiException as error:
            if error.status != 404:
                raise

    # ---- generic -------------------------------------------------------------
    def _create(self, call, *args: Any) -> dict[str, Any]:
        """``call(*args)``, whose last argument is the object to create, as this field
        manager (what ``managedFields`` and the audit trail then name)."""
        count_api_request("create")
        body = args[-1]
        try:
            return _plain(call(*args, field_manager=FIELD_MANAGER))
        except ApiException as error:
            if error.status == 409:
                raise Conflict(str(error.reason)) from error
            raise _refused(error, body) or error from error

    @staticmethod
    def _get(call, *args: Any) -> dict[str, Any] | None:
        count_api_request("get")
        try:
            return _plain(call(*args))
        except ApiException as error:
            if error.status == 404:
                return None
            raise

    # ---- custom resources ---------------------------------------------------
    def list_custom(self, namespace: str, plural: str, labels: str = "") -> list[dict[str, Any]]:
        count_api_request("list")
        result = self.custom.list_namespaced_custom_object(
            GROUP, VERSION, namespace, plural, label_selector=labels
        )
        return list(result.get("items", []))

    def get_custom(self, namespace: str, plural: str, name: str) -> dict[str, Any] | None:
        return self._get(
            self.custom.get_namespaced_custom_object, GROUP, VERSION, namespace, plural, name
        )

    def create_custom(self, namespace: str, plural: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._create(
            self.custom.create_namespaced_custom_object, GROUP, VERSION, namespace, plural, body
        )

    def patch_custom_status(
        self, namespace: str, plural: str, name: str, status: dict[str, Any],
        resource_version: str | None = None,
    ) -> dict[str, Any]:
        """Merge-patch the status subresource; returns the object as the server stored it.

        With ``resource_version`` the server refuses (:class:`Conflict`) if the object moved on.
        """
        body: dict[str, Any] = {"status": status}
        if resource_version:
            body["metadata"] = {"resourceVersion": resource_version}
        count_api_request("patch")
        try:
            return dict(self.custom.patch_namespaced_custom_object_status(
                GROUP, VERSION, namespace, plural, name, body))
        except ApiException as error:
            if error.status == 409:
                raise Conflict(str(error.reason)) from error
            raise

    def remove_custom_annotations(
        self, namespace: str, plural: str, name: str, keys: list[str]
    ) -> None:
        """A JSON merge patch setting each key to null (the API server drops it)."""
        count_api_request("patch")
        body = {"metadata": {"annotations": dict.fromkeys(keys)}}
        try:
            self.custom.patch_namespaced_custom_object(GROUP, VERSION, namespace, plural,
                                                       name, body)
        except ApiException as error:
            if error.status != 404:
                raise

    # ---- jobs, pods, claims ----------------------------------------------------
    def get_job(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self._get(self.batch.read_namespaced_job, name, namespace)

    def create_job(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._create(self.batch.create_namespaced_job, namespace, body)

    def job_pods(self, namespace: str, job_name: str) -> list[dict[str, Any]]:
        count_api_request("list")
        pods = self.core.list_namespaced_pod(namespace, label_selector=f"job-name={job_name}")
        items = [_plain(p) for p in pods.items]
        return sorted(items, key=lambda p: p["metadata"].get("creationTimestamp") or "")

    def pod_log_tail(self, namespace: str, pod: str, container: str, lines: int = 20) -> list[str]:
        count_api_request("get")
        try:
            text = self.core.read_namespaced_pod_log(
                pod, namespace, container=container, tail_lines=lines
            )
        except ApiException:
            return []
        return str(text).splitlines()

    def post_event(self, obj: dict[str, Any], type_: str, reason: str, message: str,
                   details: Mapping[str, Any] | None = None) -> None:
        """A core/v1 Event about ``obj``, as ``kubectl describe`` shows it; ``details``
        (the values behind the decision) go only to the ``on_event`` hook.

        Best effort: an Event that cannot be written is logged, never raised, so a
        reconcile's real work is not undone by its report.
        """
        meta = obj["metadata"]
        at = dt.datetime.now(dt.UTC).replace(microsecond=0)
        if self.on_event is not None:
            self.on_event(obj, type_, reason, message, details, to_rfc3339(at))
        event = {
            "metadata": {"generateName": f"{meta['name']}.", "namespace": meta["namespace"]},
            "involvedObject": {
                "apiVersion": obj.get("apiVersion"), "kind": obj.get("kind"),
                "name": meta["name"], "namespace": meta["namespace"], "uid": meta.get("uid"),
            },
            "type": type_, "reason": reason, "message": message[:1024],
            "source": {"component": FIELD_MANAGER},
            "reportingComponent": FIELD_MANAGER,
            "firstTimestamp": at, "lastTimestamp": at, "count": 1,
        }
        count_api_request("create")
        try:
            self.core.create_namespaced_event(meta["namespace"], event)
        except ApiException as error:
            log.warning("could not post Event %s on %s/%s: %s", reason, meta["namespace"],
                        meta["name"], error.reason)

    def service_address(self, namespace: str, name: str, port_name: str) -> str | None:
        """``http://<cluster IP>:<port>`` of a Service's named port; None if absent."""
        service = self._get(self.core.read_namespaced_service, name, namespace) or {}
        spec = service.get("spec") or {}
        address = spec.get("clusterIP")
        ports = [p["port"] for p in spec.get("ports") or () if p.get("name") == port_name]
        if not address or address == "None" or not ports:
            return None
        return f"http://{address}:{ports[0]}"

    def secret_value(self, namespace: str, name: str, key: str) -> str | None:
        """One key of a Secret, decoded; None if the Secret or the key is absent."""
        secret = self._get(self.core.read_namespaced_secret, name, namespace) or {}
        value = (secret.get("data") or {}).get(key)
        return base64.b64decode(value).decode().strip() if value else None

    def ensure_claim(self, namespace: str, name: str, size: str = "1Gi") -> None:
        body = {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {
                "name": name,
                "labels": {"app.kubernetes.io/managed-by": "mlops-operator"},
            },
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": size}},
            },
        }
        with contextlib.suppress(Conflict):  # it exists: the usual case
            self._create(self.core.create_namespaced_persistent_volume_claim, namespace, body)


#: What the API server answers when the object itself is at fault: 422 Invalid (schema,
#: validation), 400 BadRequest (undecodable), 403 Forbidden by an admission policy or a
#: quota. The operator's own missing rights are 403 too, but those are not the user's to
#: fix: they raise as before, so they show in the log.
_REFUSALS = {400, 403, 422}


def _refused(error: ApiException, body: dict[str, Any]) -> Refused | None:
    """The refusal of ``body`` as :class:`Refused`, or None when ``error`` is not one."""
    if error.status not in _REFUSALS:
        return None
    try:
        message = json.loads(error.body or "{}").get("message") or str(error.reason)
    except (ValueError, AttributeError):
        message = str(error.reason)
    if error.status == 403 and " cannot " in message:  # RBAC: "... cannot create ..."
        return None
    return Refused(body.get("kind", "object"), body["metadata"].get("name", ""), message)


def termination_message(pod: dict[str, Any], container: str) -> dict[str, Any] | None:
    """The JSON termination message of ``container`` in ``pod`` (current or last state)."""
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        if status.get("name") != container:
            continue
        for state in (status.get("state") or {}, status.get("lastState") or {}):
            message = (state.get("terminated") or {}).get("message")
            if message:
                try:
                    parsed = json.loads(message)
                except ValueError:
                    return None
                return parsed if isinstance(parsed, dict) else None
    return None
