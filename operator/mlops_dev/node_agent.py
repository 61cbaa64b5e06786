"""Local node agent: registers a Node and runs its pods as local processes.

It plays the kubelet's part for the local cluster. Only this project's own
images can run: their containers' commands map to the entry points installed
with the project. Each pod gets its own loopback address (``127.1.x.y``),
volumes become folders, and the container's view of paths is passed to the
process through ``MLOPS_LOCAL_MOUNTS`` (see ``mlops_runtime.localpaths``).
Any other image gets an ``ErrImagePull`` waiting reason, never a hang.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime as dt
import ipaddress
import json
import logging
import os
import platform
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

from mlops_dev.kubebuild import KUBE_VERSION

log = logging.getLogger("node-agent")

RUNNABLE_IMAGES: dict[str, dict[str, str]] = {
    # image repository -> {executable name a container may run -> entry point}
    "mlops-operator/runtime": {"mlops-runtime": "mlops-runtime"},
    "mlops-operator/operator": {"mlops-operator": "mlops-operator", "kopf": "kopf"},
}
DEFAULT_ENTRYPOINT = {
    "mlops-operator/runtime": "mlops-runtime",
    "mlops-operator/operator": "mlops-operator",
}
LOCAL_STORAGE_CLASS = "standard"
PROVISIONER = "mlops.dev/local-path"
HEARTBEAT_SECONDS = 10.0
BACKOFF_START, BACKOFF_MAX = 1.0, 30.0
LOG_TAIL_BYTES = 2048


def now_rfc3339() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def image_repository(image: str) -> str:
    """``registry.example/mlops-operator/runtime:1.0@sha256:..`` -> ``mlops-operator/runtime``."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name = name[: len(name) - len(last)] + last.split(":", 1)[0]
    parts = name.split("/")
    return "/".join(parts[-2:])


class ContainerConfigError(Exception):
    """A container cannot be started; carries the waiting reason Kubernetes would show."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass
class Probe:
    """A readiness or liveness probe and its running tally."""

    spec: dict[str, Any]
    next_at: float = 0.0
    successes: int = 0
    failures: int = 0
    passing: bool = False


@dataclass
class Container:
    """One container of a pod: its process and what Kubernetes should see of it."""

    name: str
    spec: dict[str, Any]
    init: bool
    process: subprocess.Popen | None = None
    started_at: str | None = None
    restart_count: int = 0
    state: dict[str, Any] = field(
        default_factory=lambda: {"waiting": {"reason": "ContainerCreating"}}
    )
    last_state: dict[str, Any] = field(default_factory=dict)
    restart_at: float = 0.0
    backoff: float = BACKOFF_START
    readiness: Probe | None = None
    liveness: Probe | None = None
    done: bool = False  # terminated and will not restart

    @property
    def ready(self) -> bool:
        if self.process is None or "running" not in self.state:
            return False
        return self.readiness.passing if self.readiness else True


@dataclass
class Pod:
    """A pod this node runs."""

    uid: str
    namespace: str
    name: str
    ip: str
    directory: Path
    restart_policy: str
    containers: list[Container]
    init_containers: list[Container]
    start_time: str = field(default_factory=now_rfc3339)
    stop_deadline: float | None = None
    term_at: float | None = None  # when SIGTERM is due (after preStop sleep hooks)
    error: ContainerConfigError | None = None
    env_cache: dict[str, dict[str, str]] = field(default_factory=dict)
    mounts: dict[str, dict[str, str]] = field(default_factory=dict)
    last_status: dict[str, Any] | None = None


class NodeAgent:
    def __init__(self, args: argparse.Namespace) -> None:
        self.node_name = args.node_name
        self.root = Path(args.root).resolve()
        self.port = args.port
        self.args = args
        config.load_kube_config(args.kubeconfig)
        api_client = client.ApiClient()
        self.api_host = urllib.parse.urlparse(api_client.configuration.host)
        self.core = client.CoreV1Api(api_client)
        self.coordination = client.CoordinationV1Api(api_client)
        self.storage = client.StorageV1Api(api_client)
        network = ipaddress.ip_network(args.pod_cidr)
        self.free_ips = [
            str(ip) for ip in network.hosts() if str(ip).split(".")[-1] not in ("0", "255")
        ]
        self.pods: dict[str, Pod] = {}
        self.wake = threading.Event()
        self.stopping = threading.Event()
        self.bin_dir = Path(sys.executable).parent
        self.http = httpx.Client(timeout=2.0)
        self.serializer = api_client

    # ---- node registration -------------------------------------------------
    def node_status(self) -> dict[str, Any]:
        stamp = now_rfc3339()
        memory_kib = 0
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemTotal:"):
                    memory_kib = int(line.split()[1])
        capacity = {
            "cpu": str(os.cpu_count() or 1),
            "memory": f"{memory_kib}Ki",
            "pods": "110",
            "ephemeral-storage": "100Gi",
        }

        def condition(kind: str, status: str, reason: str, message: str) -> dict[str, str]:
            return {
                "type": kind,
                "status": status,
                "reason": reason,
                "message": message,
                "lastHeartbeatTime": stamp,
                "lastTransitionTime": self.started,
            }

        return {
            "capacity": capacity,
            "allocatable": capacity,
            "conditions": [
                condition("MemoryPressure", "False", "KubeletHasSufficientMemory", "ok"),
                condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "ok"),
                condition("PIDPressure", "False", "KubeletHasSufficientPID", "ok"),
                condition(
                    "Ready", "True", "KubeletReady", "local node agent is posting ready status"
                ),
            ],
            "addresses": [
                {"type": "InternalIP", "address": "127.0.0.1"},
                {"type": "Hostname", "address": self.node_name},
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": self.port}},
            "nodeInfo": {
                "machineID": uuid.uuid5(uuid.NAMESPACE_DNS, self.node_name).hex,
                "systemUUID": str(uuid.uuid5(uuid.NAMESPACE_DNS, self.node_name)),
                "bootID": self.boot_id,
                "kernelVersion": platform.release(),
                "osImage": "mlops-dev local node",
                "containerRuntimeVersion": "local-process://0.1",
                "kubeletVersion": f"v{KUBE_VERSION}",
                "kubeProxyVersion": "",
                "operatingSystem": "linux",
                "architecture": "amd64",
            },
        }

    def register(self) -> None:
        self.started = now_rfc3339()
        self.boot_id = str(uuid.uuid4())
        body = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": self.node_name,
                "labels": {
                    "kubernetes.io/hostname": self.node_name,
                    "kubernetes.io/os": "linux",
                    "kubernetes.io/arch": "amd64",
                    "node-role.kubernetes.io/control-plane": "",
                    "mlops.dev/local-node": "true",
                },
            },
            "spec": {},
        }
        try:
            self.core.create_node(body)
        except ApiException as error:
            if error.status != 409:
                raise
        self.heartbeat()
        self.ensure_storage_class()

    def heartbeat(self) -> None:
        self.core.patch_node_status(self.node_name, {"status": self.node_status()})
        lease = {
            "metadata": {"name": self.node_name, "namespace": "kube-node-lease"},
            "spec": {
                "holderIdentity": self.node_name,
                "leaseDurationSeconds": 40,
                "renewTime": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            },
        }
        try:
            self.coordination.patch_namespaced_lease(self.node_name, "kube-node-lease", lease)
        except ApiException as error:
            if error.status != 404:
                raise
            self.coordination.create_namespaced_lease("kube-node-lease", lease)

    def ensure_storage_class(self) -> None:
        body = {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {
                "name": LOCAL_STORAGE_CLASS,
                "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
            },
            "provisioner": PROVISIONER,
            "reclaimPolicy": "Delete",
            "volumeBindingMode": "Immediate",
        }
        try:
            self.storage.create_storage_class(body)
        except ApiException as error:
            if error.status != 409:
                raise

    # ---- volume provisioning ----------------------------------------------
    def provision_volumes(self) -> None:
        """Give every pending claim of the local class a folder-backed PersistentVolume."""
        claims = self.core.list_persistent_volume_claim_for_all_namespaces().items
        for claim in claims:
            if claim.spec.volume_name or claim.status.phase != "Pending":
                continue
            storage_class = claim.spec.storage_class_name
            if storage_class not in (None, LOCAL_STORAGE_CLASS):
                continue
            path = self.root / "volumes" / claim.metadata.namespace / claim.metadata.name
            path.mkdir(parents=True, exist_ok=True)
            request = (claim.spec.resources.requests or {}).get("storage", "1Gi")
            volume = {
                "apiVersion": "v1",
                "kind": "PersistentVolume",
                "metadata": {
                    "name": f"pvc-{claim.metadata.uid}",
                    "annotations": {"pv.kubernetes.io/provisioned-by": PROVISIONER},
                },
                "spec": {
                    "capacity": {"storage": request},
                    "accessModes": claim.spec.access_modes or ["ReadWriteOnce"],
                    "persistentVolumeReclaimPolicy": "Retain",
                    "storageClassName": LOCAL_STORAGE_CLASS,
                    "hostPath": {"path": str(path), "type": "DirectoryOrCreate"},
                    "claimRef": {
                        "namespace": claim.metadata.namespace,
                        "name": claim.metadata.name,
                        "uid": claim.metadata.uid,
                    },
                },
            }
            try:
                self.core.create_persistent_volume(volume)
                log.info(
                    "provisioned %s for %s/%s", path, claim.metadata.namespace, claim.metadata.name
                )
            except ApiException as error:
                if error.status != 409:
                    raise
        for volume in self.core.list_persistent_volume().items:
            annotations = volume.metadata.annotations or {}
            if (
                annotations.get("pv.kubernetes.io/provisioned-by") == PROVISIONER
                and volume.status.phase == "Released"
            ):
                shutil.rmtree(volume.spec.host_path.path, ignore_errors=True)
                self.core.delete_persistent_volume(volume.metadata.name)

    # ---- pod setup ---------------------------------------------------------
    def resolve_command(self, container: dict[str, Any]) -> list[str]:
        image = container.get("image", "")
        repository = image_repository(image)
        allowed = RUNNABLE_IMAGES.get(repository)
        if allowed is None:
            raise ContainerConfigError(
                "ErrImagePull",
                f'image "{image}" cannot run on the local node: only the images '
                f"{', '.join(sorted(RUNNABLE_IMAGES))} are runnable here (they map to this "
                "project's installed entry points); use kind for other images",
            )
        command = list(container.get("command") or [DEFAULT_ENTRYPOINT[repository]])
        args = list(container.get("args") or [])
        executable = Path(command[0]).name
        if executable not in allowed:
            raise ContainerConfigError(
                "RunContainerError",
                f'executable "{command[0]}" not found in image "{image}": it provides '
                f"{', '.join(sorted(allowed))}",
            )
        path = self.bin_dir / allowed[executable]
        if not path.exists():
            path = Path(shutil.which(allowed[executable]) or path)
        return [str(path), *command[1:], *args]

    def _config_map(self, namespace: str, name: str, optional: bool) -> dict[str, str] | None:
        try:
            cm = self.core.read_namespaced_config_map(name, namespace)
        except ApiException as error:
            if error.status == 404 and optional:
                return None
            if error.status == 404:
                raise ContainerConfigError(
                    "CreateContainerConfigError", f'configmap "{name}" not found'
                ) from error
            raise
        data = dict(cm.data or {})
        data.update(
            {
                k: base64.b64decode(v).decode(errors="replace")
                for k, v in (cm.binary_data or {}).items()
            }
        )
        return data

    def _secret(self, namespace: str, name: str, optional: bool) -> dict[str, str] | None:
        try:
            secret = self.core.read_namespaced_secret(name, namespace)
        except ApiException as error:
            if error.status == 404 and optional:
                return None
            if error.status == 404:
                raise ContainerConfigError(
                    "CreateContainerConfigError", f'secret "{name}" not found'
                ) from error
            raise
        return {
            k: base64.b64decode(v).decode(errors="replace") for k, v in (secret.data or {}).items()
        }

    def _field_ref(self, pod: dict[str, Any], ip: str, path: str) -> str:
        meta = pod["metadata"]
        simple = {
            "metadata.name": meta.get("name", ""),
            "metadata.namespace": meta.get("namespace", ""),
            "metadata.uid": meta.get("uid", ""),
            "spec.nodeName": self.node_name,
            "spec.serviceAccountName": pod["spec"].get("serviceAccountName", "default"),
            "status.podIP": ip,
            "status.podIPs": ip,
            "status.hostIP": "127.0.0.1",
            "status.hostIPs": "127.0.0.1",
        }
        if path in simple:
            return simple[path]
        match = re.fullmatch(r"metadata\.(labels|annotations)\['([^']+)'\]", path)
        if match:
            return (meta.get(match.group(1)) or {}).get(match.group(2), "")
        if path in ("metadata.labels", "metadata.annotations"):
            items = meta.get(path.split(".")[1]) or {}
            return "\n".join(f'{k}="{v}"' for k, v in sorted(items.items()))
        raise ContainerConfigError("CreateContainerConfigError", f"unsupported fieldRef {path}")

    def _write_items(self, target: Path, data: dict[str, str], items: list[dict] | None) -> None:
        target.mkdir(parents=True, exist_ok=True)
        selected = (
            {i["key"]: i.get("path", i["key"]) for i in items} if items else {k: k for k in data}
        )
        for key, relative in selected.items():
            if key not in data:
                continue
            path = target / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(data[key])

    def prepare_volumes(self, pod: dict[str, Any], runtime: Pod) -> dict[str, str]:
        namespace = pod["metadata"]["namespace"]
        volumes: dict[str, str] = {}
        for volume in pod["spec"].get("volumes") or []:
            name = volume["name"]
            target = runtime.directory / "volumes" / name
            if "emptyDir" in volume:
                target.mkdir(parents=True, exist_ok=True)
            elif "configMap" in volume:
                source = volume["configMap"]
                data = self._config_map(namespace, source["name"], source.get("optional", False))
                self._write_items(target, data or {}, source.get("items"))
            elif "secret" in volume:
                source = volume["secret"]
                data = self._secret(namespace, source["secretName"], source.get("optional", False))
                self._write_items(target, data or {}, source.get("items"))
            elif "persistentVolumeClaim" in volume:
                target = Path(
                    self._claim_path(namespace, volume["persistentVolumeClaim"]["claimName"])
                )
            elif "hostPath" in volume:
                target = Path(volume["hostPath"]["path"])
                target.mkdir(parents=True, exist_ok=True)
            elif "projected" in volume:
                self._projected(pod, runtime, volume["projected"], target)
            elif "downwardAPI" in volume:
                target.mkdir(parents=True, exist_ok=True)
                for item in volume["downwardAPI"].get("items") or []:
                    if "fieldRef" in item:
                        value = self._field_ref(pod, runtime.ip, item["fieldRef"]["fieldPath"])
                        (target / item["path"]).write_text(value)
            else:
                raise ContainerConfigError(
                    "CreateContainerConfigError",
                    f"volume {name}: this volume type is not supported on the local node",
                )
            volumes[name] = str(target)
        return volumes

    def _claim_path(self, namespace: str, claim_name: str) -> str:
        try:
            claim = self.core.read_namespaced_persistent_volume_claim(claim_name, namespace)
        except ApiException as error:
            raise ContainerConfigError(
                "CreateContainerConfigError", f'persistentvolumeclaim "{claim_name}" not found'
            ) from error
        if not claim.spec.volume_name:
            raise ContainerConfigError(
                "CreateContainerConfigError",
                f'persistentvolumeclaim "{claim_name}" is not bound yet',
            )
        volume = self.core.read_persistent_volume(claim.spec.volume_name)
        if volume.spec.host_path is None:
            raise ContainerConfigError(
                "CreateContainerConfigError", f"volume {volume.metadata.name} is not a local folder"
            )
        return volume.spec.host_path.path

    def _projected(self, pod: dict, runtime: Pod, projected: dict, target: Path) -> None:
        target.mkdir(parents=True, exist_ok=True)
        namespace = pod["metadata"]["namespace"]
        for source in projected.get("sources") or []:
            if "serviceAccountToken" in source:
                spec = source["serviceAccountToken"]
                request = {
                    "spec": {
                        "audiences": [spec["audience"]] if spec.get("audience") else None,
                        "expirationSeconds": spec.get("expirationSeconds", 3607),
                        "boundObjectRef": {
                            "kind": "Pod",
                            "apiVersion": "v1",
                            "name": pod["metadata"]["name"],
                            "uid": runtime.uid,
                        },
                    }
                }
                token = self.core.create_namespaced_service_account_token(
                    pod["spec"].get("serviceAccountName", "default"), namespace, request
                )
                (target / spec["path"]).write_text(token.status.token)
            elif "configMap" in source:
                data = self._config_map(
                    namespace,
                    source["configMap"]["name"],
                    source["configMap"].get("optional", False),
                )
                self._write_items(target, data or {}, source["configMap"].get("items"))
            elif "secret" in source:
                data = self._secret(
                    namespace, source["secret"]["name"], source["secret"].get("optional", False)
                )
                self._write_items(target, data or {}, source["secret"].get("items"))
            elif "downwardAPI" in source:
                for item in source["downwardAPI"].get("items") or []:
                    if "fieldRef" in item:
                        value = self._field_ref(pod, runtime.ip, item["fieldRef"]["fieldPath"])
                        (target / item["path"]).write_text(value)

    def container_env(self, pod: dict, runtime: Pod, spec: dict) -> dict[str, str]:
        namespace = pod["metadata"]["namespace"]
        env: dict[str, str] = {
            "PATH": f"{self.bin_dir}:/usr/local/bin:/usr/bin:/bin",
            "HOME": str(runtime.directory / "home"),
            "HOSTNAME": pod["metadata"]["name"],
            "LANG": "C.UTF-8",
            "PYTHONUNBUFFERED": "1",
            "KUBERNETES_SERVICE_HOST": self.api_host.hostname or "127.0.0.1",
            "KUBERNETES_SERVICE_PORT": str(self.api_host.port or 443),
        }
        for source in spec.get("envFrom") or []:
            prefix = source.get("prefix", "")
            if "configMapRef" in source:
                ref = source["configMapRef"]
                data = self._config_map(namespace, ref["name"], ref.get("optional", False))
            else:
                ref = source["secretRef"]
                data = self._secret(namespace, ref["name"], ref.get("optional", False))
            env.update({prefix + k: v for k, v in (data or {}).items()})
        for item in spec.get("env") or []:
            if "valueFrom" not in item:
                env[item["name"]] = expand(item.get("value", ""), env)
                continue
            source = item["valueFrom"]
            value: str | None = None
            if "fieldRef" in source:
                value = self._field_ref(pod, runtime.ip, source["fieldRef"]["fieldPath"])
            elif "configMapKeyRef" in source:
                ref = source["configMapKeyRef"]
                data = self._config_map(namespace, ref["name"], ref.get("optional", False))
                value = (data or {}).get(ref["key"])
                if value is None and not ref.get("optional"):
                    raise ContainerConfigError(
                        "CreateContainerConfigError",
                        f'key "{ref["key"]}" not found in configmap "{ref["name"]}"',
                    )
            elif "secretKeyRef" in source:
                ref = source["secretKeyRef"]
                data = self._secret(namespace, ref["name"], ref.get("optional", False))
                value = (data or {}).get(ref["key"])
                if value is None and not ref.get("optional"):
                    raise ContainerConfigError(
                        "CreateContainerConfigError",
                        f'key "{ref["key"]}" not found in secret "{ref["name"]}"',
                    )
            elif "resourceFieldRef" in source:
                resource = source["resourceFieldRef"]["resource"]
                kind, _, which = resource.partition(".")
                value = str(((spec.get("resources") or {}).get(kind) or {}).get(which, "0"))
            if value is not None:
                env[item["name"]] = value
        return env

    def container_mounts(
        self, runtime: Pod, spec: dict, volumes: dict[str, str], termination_file: Path
    ) -> dict[str, str]:
        mounts: dict[str, str] = {}
        for mount in spec.get("volumeMounts") or []:
            if mount["name"] not in volumes:
                raise ContainerConfigError(
                    "CreateContainerConfigError", f'volume mount "{mount["name"]}" has no volume'
                )
            source = Path(volumes[mount["name"]])
            if mount.get("subPath"):
                source = source / mount["subPath"]
                source.mkdir(parents=True, exist_ok=True)
            mounts[mount["mountPath"]] = str(source)
        mounts[spec.get("terminationMessagePath") or "/dev/termination-log"] = str(termination_file)
        return mounts

    def admit(self, pod: dict[str, Any]) -> Pod:
        meta, spec = pod["metadata"], pod["spec"]
        uid = meta["uid"]
        ip = self.free_ips.pop(0)
        directory = self.root / "pods" / uid
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "home").mkdir(exist_ok=True)

        def wrap(specs: list[dict], init: bool) -> list[Container]:
            result = []
            for container_spec in specs or []:
                container = Container(container_spec["name"], container_spec, init)
                if not init and container_spec.get("readinessProbe"):
                    container.readiness = Probe(container_spec["readinessProbe"])
                if not init and container_spec.get("livenessProbe"):
                    container.liveness = Probe(container_spec["livenessProbe"])
                result.append(container)
            return result

        runtime = Pod(
            uid,
            meta["namespace"],
            meta["name"],
            ip,
            directory,
            spec.get("restartPolicy", "Always"),
            wrap(spec.get("containers"), False),
            wrap(spec.get("initContainers"), True),
        )
        log.info("admitted pod %s/%s as %s", runtime.namespace, runtime.name, ip)
        try:
            for container in runtime.init_containers + runtime.containers:
                self.resolve_command(container.spec)
            volumes = self.prepare_volumes(pod, runtime)
            for container in runtime.init_containers + runtime.containers:
                termination = directory / f"{container.name}.termination-log"
                runtime.mounts[container.name] = self.container_mounts(
                    runtime, container.spec, volumes, termination
                )
                env = self.container_env(pod, runtime, container.spec)
                env["MLOPS_LOCAL_MOUNTS"] = json.dumps(runtime.mounts[container.name])
                env.setdefault(
                    "MLOPS_TERMINATION_LOG",
                    container.spec.get("terminationMessagePath") or "/dev/termination-log",
                )
                runtime.env_cache[container.name] = env
        except ContainerConfigError as error:
            runtime.error = error
            log.warning(
                "pod %s/%s cannot start: %s", runtime.namespace, runtime.name, error.message
            )
        except ApiException as error:
            runtime.error = ContainerConfigError(
                "CreateContainerConfigError", f"API error preparing pod: {error.reason}"
            )
        return runtime

    # ---- processes ---------------------------------------------------------
    def start(self, runtime: Pod, container: Container) -> None:
        env = runtime.env_cache[container.name]
        try:
            argv = [expand(part, env) for part in self.resolve_command(container.spec)]
        except ContainerConfigError as error:
            container.state = {"waiting": {"reason": error.reason, "message": error.message}}
            container.done = True
            return
        termination = runtime.directory / f"{container.name}.termination-log"
        termination.write_text("")
        log_path = runtime.directory / f"{container.name}.log"
        working_dir = container.spec.get("workingDir")
        mounts = runtime.mounts[container.name]
        cwd = (
            mounts.get(working_dir, str(runtime.directory / "home"))
            if working_dir
            else str(runtime.directory / "home")
        )
        with open(log_path, "ab") as output:
            container.process = subprocess.Popen(
                argv,
                env=env,
                cwd=cwd,
                stdout=output,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        (runtime.directory / f"{container.name}.pid").write_text(str(container.process.pid))
        container.started_at = now_rfc3339()
        container.state = {"running": {"startedAt": container.started_at}}
        for probe in (container.readiness, container.liveness):
            if probe:
                probe.next_at = time.monotonic() + float(probe.spec.get("initialDelaySeconds", 0))
                probe.successes = probe.failures = 0
                probe.passing = False
        log.info(
            "started %s/%s[%s] pid %d: %s",
            runtime.namespace,
            runtime.name,
            container.name,
            container.process.pid,
            " ".join(argv),
        )

    def reap(self, runtime: Pod, container: Container) -> None:
        """Record a finished process and decide whether it restarts."""
        assert container.process is not None
        code = container.process.returncode
        termination = runtime.directory / f"{container.name}.termination-log"
        message = termination.read_text(errors="replace")[:4096] if termination.exists() else ""
        policy = container.spec.get("terminationMessagePolicy", "File")
        if not message and code != 0 and policy == "FallbackToLogsOnError":
            message = tail_file(runtime.directory / f"{container.name}.log", LOG_TAIL_BYTES)
        terminated = {
            "exitCode": code if code >= 0 else 128 - code,
            "reason": "Completed" if code == 0 else "Error",
            "startedAt": container.started_at,
            "finishedAt": now_rfc3339(),
            "containerID": f"local://{container.process.pid}",
        }
        if code < 0:
            terminated["signal"] = -code
        if message:
            terminated["message"] = message
        (runtime.directory / f"{container.name}.pid").unlink(missing_ok=True)
        container.process = None
        log.info("%s/%s[%s] exited with %s", runtime.namespace, runtime.name, container.name, code)
        restart = (runtime.restart_policy == "Always" and not container.init) or (
            runtime.restart_policy in ("Always", "OnFailure") and code != 0
        )
        if restart and runtime.stop_deadline is None:
            container.last_state = {"terminated": terminated}
            container.state = {
                "waiting": {
                    "reason": "CrashLoopBackOff" if code else "Completed",
                    "message": f"back-off {container.backoff:.0f}s restarting container",
                }
            }
            container.restart_at = time.monotonic() + container.backoff
            container.backoff = min(container.backoff * 2, BACKOFF_MAX)
            container.restart_count += 1
        else:
            container.state = {"terminated": terminated}
            container.done = True

    def probe(self, runtime: Pod, container: Container, probe: Probe) -> None:
        if time.monotonic() < probe.next_at:
            return
        spec = probe.spec
        probe.next_at = time.monotonic() + float(spec.get("periodSeconds", 10))
        ok = False
        timeout = float(spec.get("timeoutSeconds", 1))
        ports = {p.get("name"): p["containerPort"] for p in container.spec.get("ports") or []}
        try:
            if "httpGet" in spec:
                action = spec["httpGet"]
                port = action["port"]
                port = ports.get(port, port) if isinstance(port, str) else port
                host = action.get("host") or runtime.ip
                scheme = action.get("scheme", "HTTP").lower()
                response = self.http.get(
                    f"{scheme}://{host}:{port}{action.get('path', '/')}", timeout=timeout
                )
                ok = 200 <= response.status_code < 400
            elif "tcpSocket" in spec:
                port = spec["tcpSocket"]["port"]
                port = ports.get(port, port) if isinstance(port, str) else port
                with socket.create_connection((runtime.ip, int(port)), timeout=timeout):
                    ok = True
            elif "exec" in spec:
                command = spec["exec"]["command"]
                result = subprocess.run(
                    [
                        self.resolve_command({**container.spec, "command": command, "args": []})[0],
                        *command[1:],
                    ],
                    env=runtime.env_cache[container.name],
                    timeout=timeout,
                    capture_output=True,
                    check=False,
                )
                ok = result.returncode == 0
        except (httpx.HTTPError, OSError, subprocess.TimeoutExpired, ContainerConfigError):
            ok = False
        if ok:
            probe.successes += 1
            probe.failures = 0
            if probe.successes >= int(spec.get("successThreshold", 1)):
                probe.passing = True
        else:
            probe.failures += 1
            probe.successes = 0
            if probe.failures >= int(spec.get("failureThreshold", 3)):
                probe.passing = False

    def signal_all(self, runtime: Pod, sig: int) -> None:
        for container in runtime.init_containers + runtime.containers:
            if container.process and container.process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(container.process.pid, sig)

    # ---- reconcile -----------------------------------------------------------
    def reconcile(self) -> None:
        pods = self.core.list_pod_for_all_namespaces(
            field_selector=f"spec.nodeName={self.node_name}"
        ).items
        seen = set()
        for item in pods:
            pod = self.serializer.sanitize_for_serialization(item)
            uid = pod["metadata"]["uid"]
            seen.add(uid)
            runtime = self.pods.get(uid)
            if runtime is None:
                if pod.get("status", {}).get("phase") in ("Succeeded", "Failed"):
                    if pod["metadata"].get("deletionTimestamp"):
                        self.finish_delete(pod, None)
                    continue
                runtime = self.pods[uid] = self.admit(pod)
            self.step(pod, runtime)
        for uid in list(self.pods):
            if uid not in seen:  # deleted behind our back (force delete)
                runtime = self.pods.pop(uid)
                self.signal_all(runtime, signal.SIGKILL)
                self.release(runtime)

    def step(self, pod: dict, runtime: Pod) -> None:
        deleting = pod["metadata"].get("deletionTimestamp")
        if deleting:
            if runtime.stop_deadline is None:
                grace = pod["metadata"].get("deletionGracePeriodSeconds")
                grace = 30 if grace is None else grace
                runtime.stop_deadline = time.monotonic() + grace
                # preStop sleep hooks run first, within the grace period, as in the kubelet.
                runtime.term_at = time.monotonic() + min(grace, pre_stop_sleep(runtime))
            if runtime.term_at is not None and time.monotonic() >= runtime.term_at:
                self.signal_all(runtime, signal.SIGTERM)
                runtime.term_at = None
            elif time.monotonic() > runtime.stop_deadline:
                self.signal_all(runtime, signal.SIGKILL)
            self.poll_processes(runtime)
            if all(c.process is None for c in runtime.init_containers + runtime.containers):
                self.push_status(pod, runtime)
                self.finish_delete(pod, runtime)
            return
        if runtime.error is None:
            self.poll_processes(runtime)
            self.advance(runtime)
        self.push_status(pod, runtime)

    def poll_processes(self, runtime: Pod) -> None:
        for container in runtime.init_containers + runtime.containers:
            if container.process is not None and container.process.poll() is not None:
                self.reap(runtime, container)

    def advance(self, runtime: Pod) -> None:
        for container in runtime.init_containers:
            if container.done and "terminated" in container.state:
                if container.state["terminated"]["exitCode"] == 0:
                    continue
                return  # failed init container, not restarted: pod fails
            if container.process is None and time.monotonic() >= container.restart_at:
                self.start(runtime, container)
            return  # init containers run one at a time
        for container in runtime.containers:
            if container.process is None and not container.done:
                if time.monotonic() >= container.restart_at:
                    self.start(runtime, container)
            elif container.process is not None:
                if container.readiness:
                    self.probe(runtime, container, container.readiness)
                if container.liveness:
                    self.probe(runtime, container, container.liveness)
                    if container.liveness.failures >= int(
                        container.liveness.spec.get("failureThreshold", 3)
                    ):
                        log.info("liveness probe failed: restarting %s", container.name)
                        os.killpg(container.process.pid, signal.SIGKILL)
                if container.process.poll() is None and container.started_at:
                    container.backoff = (
                        BACKOFF_START if self._ran_long(container) else container.backoff
                    )

    @staticmethod
    def _ran_long(container: Container) -> bool:
        started = dt.datetime.strptime(container.started_at, "%Y-%m-%dT%H:%M:%SZ").replace(
            tzinfo=dt.UTC
        )
        return (dt.datetime.now(dt.UTC) - started).total_seconds() > 60

    def pod_status(self, pod: dict, runtime: Pod) -> dict[str, Any]:
        def container_status(container: Container) -> dict[str, Any]:
            state = container.state
            if runtime.error is not None:
                state = {
                    "waiting": {"reason": runtime.error.reason, "message": runtime.error.message}
                }
            status = {
                "name": container.name,
                "image": container.spec.get("image", ""),
                "imageID": "",
                "ready": container.ready,
                "started": container.process is not None,
                "restartCount": container.restart_count,
                "state": state,
                "lastState": container.last_state,
            }
            if container.process is not None:
                status["containerID"] = f"local://{container.process.pid}"
            return status

        init_ok = all(
            c.done and c.state.get("terminated", {}).get("exitCode") == 0
            for c in runtime.init_containers
        )
        init_failed = any(
            c.done and c.state.get("terminated", {}).get("exitCode", 0) != 0
            for c in runtime.init_containers
        )
        containers = runtime.containers
        if runtime.error is not None:
            phase = "Pending"
        elif init_failed:
            phase = "Failed"
        elif containers and all(c.done for c in containers):
            codes = [c.state.get("terminated", {}).get("exitCode", 1) for c in containers]
            phase = "Succeeded" if all(code == 0 for code in codes) else "Failed"
        elif any(c.process is not None or c.restart_count for c in containers):
            phase = "Running"
        else:
            phase = "Pending"
        ready = phase == "Running" and all(c.ready for c in containers)
        existing = {c["type"]: c for c in (pod.get("status") or {}).get("conditions") or []}

        def condition(kind: str, value: bool) -> dict[str, str]:
            status = "True" if value else "False"
            previous = existing.get(kind)
            since = (
                previous["lastTransitionTime"]
                if previous and previous.get("status") == status
                else now_rfc3339()
            )
            return {"type": kind, "status": status, "lastTransitionTime": since}

        return {
            "phase": phase,
            "hostIP": "127.0.0.1",
            "hostIPs": [{"ip": "127.0.0.1"}],
            "podIP": runtime.ip,
            "podIPs": [{"ip": runtime.ip}],
            "startTime": runtime.start_time,
            "conditions": [
                condition("PodReadyToStartContainers", runtime.error is None),
                condition("Initialized", init_ok),
                condition("ContainersReady", ready),
                condition("Ready", ready),
                condition("PodScheduled", True),
            ],
            "initContainerStatuses": [container_status(c) for c in runtime.init_containers],
            "containerStatuses": [container_status(c) for c in containers],
        }

    def push_status(self, pod: dict, runtime: Pod) -> None:
        status = self.pod_status(pod, runtime)
        comparable = json.dumps(status, sort_keys=True)
        if comparable == runtime.last_status:
            return
        try:
            self.core.patch_namespaced_pod_status(
                runtime.name, runtime.namespace, {"status": status}
            )
            runtime.last_status = comparable
        except ApiException as error:
            if error.status != 404:
                log.warning(
                    "status of %s/%s: %s %s",
                    runtime.namespace,
                    runtime.name,
                    error.status,
                    error.body,
                )

    def finish_delete(self, pod: dict, runtime: Pod | None) -> None:
        meta = pod["metadata"]
        try:
            self.core.delete_namespaced_pod(
                meta["name"],
                meta["namespace"],
                body=client.V1DeleteOptions(
                    grace_period_seconds=0, preconditions=client.V1Preconditions(uid=meta["uid"])
                ),
            )
        except ApiException as error:
            if error.status not in (404, 409):
                raise
        if runtime is not None:
            self.pods.pop(runtime.uid, None)
            self.release(runtime)

    def release(self, runtime: Pod) -> None:
        self.free_ips.append(runtime.ip)
        shutil.rmtree(runtime.directory, ignore_errors=True)
        log.info("removed pod %s/%s", runtime.namespace, runtime.name)

    # ---- main loops --------------------------------------------------------------
    def watch_pods(self) -> None:
        while not self.stopping.is_set():
            try:
                stream = watch.Watch().stream(
                    self.core.list_pod_for_all_namespaces,
                    field_selector=f"spec.nodeName={self.node_name}",
                    timeout_seconds=60,
                )
                for _ in stream:
                    self.wake.set()
                    if self.stopping.is_set():
                        break
            except Exception as error:  # noqa: BLE001 - keep watching; the loop re-lists anyway
                log.debug("pod watch restarted: %s", error)
                self.stopping.wait(1.0)

    def run(self) -> None:
        self.register()
        threading.Thread(target=self.watch_pods, daemon=True).start()
        self.serve_logs()
        last_beat = last_provision = time.monotonic()
        while not self.stopping.is_set():
            try:
                self.reconcile()
                if time.monotonic() - last_provision > 1.0:
                    self.provision_volumes()
                    last_provision = time.monotonic()
                if time.monotonic() - last_beat > HEARTBEAT_SECONDS:
                    self.heartbeat()
                    last_beat = time.monotonic()
            except Exception:  # noqa: BLE001 - the agent must outlive API hiccups
                log.exception("reconcile failed; retrying")
            self.wake.wait(0.5)
            self.wake.clear()
        self.shutdown()

    def shutdown(self) -> None:
        """Stop every pod process: SIGTERM, then SIGKILL after a short grace."""
        for runtime in self.pods.values():
            self.signal_all(runtime, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(
            c.process and c.process.poll() is None
            for r in self.pods.values()
            for c in r.init_containers + r.containers
        ):
            time.sleep(0.1)
        for runtime in self.pods.values():
            self.signal_all(runtime, signal.SIGKILL)
            for pid_file in runtime.directory.glob("*.pid"):
                pid_file.unlink(missing_ok=True)
        log.info("node agent stopped")

    # ---- kubelet API: container logs --------------------------------------------
    def serve_logs(self) -> None:
        agent = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                return

            def do_GET(self) -> None:  # noqa: N802 - http.server API
                url = urllib.parse.urlparse(self.path)
                parts = url.path.strip("/").split("/")
                if parts[0] == "healthz":
                    self._reply(200, b"ok")
                    return
                if parts[0] != "containerLogs" or len(parts) != 4:
                    self._reply(404, b"not found")
                    return
                namespace, name, container = parts[1:]
                query = urllib.parse.parse_qs(url.query)
                runtime = next(
                    (p for p in agent.pods.values() if p.namespace == namespace and p.name == name),
                    None,
                )
                path = runtime.directory / f"{container}.log" if runtime else None
                if path is None or not path.exists():
                    self._reply(404, f"no logs for {namespace}/{name}/{container}".encode())
                    return
                data = path.read_bytes()
                if "tailLines" in query:
                    lines = data.splitlines(keepends=True)
                    data = b"".join(lines[-int(query["tailLines"][0]) :])
                if "limitBytes" in query:
                    data = data[: int(query["limitBytes"][0])]
                self._reply(200, data)

            def _reply(self, code: int, body: bytes) -> None:
                self.send_response(code)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.args.tls_cert, self.args.tls_key)
        context.load_verify_locations(self.args.client_ca)
        context.verify_mode = ssl.CERT_REQUIRED
        server.socket = context.wrap_socket(server.socket, server_side=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()


def pre_stop_sleep(runtime: Pod) -> float:
    """Longest ``lifecycle.preStop.sleep.seconds`` of the pod's running containers."""
    seconds = [float(((c.spec.get("lifecycle") or {}).get("preStop") or {}).get("sleep", {})
                     .get("seconds", 0)) for c in runtime.containers if c.process is not None]
    return max(seconds, default=0.0)


def expand(value: str, env: dict[str, str]) -> str:
    """Kubernetes ``$(VAR)`` expansion; ``$$(VAR)`` escapes."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0).startswith("$$"):
            return match.group(0)[1:]
        return env.get(match.group(1), match.group(0))

    return re.sub(r"\$\$?\(([A-Za-z_][A-Za-z0-9_.-]*)\)", replace, value)


def tail_file(path: Path, limit: int) -> str:
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - limit))
            return handle.read().decode(errors="replace")
    except OSError:
        return ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--node-name", default="local-node")
    parser.add_argument("--pod-cidr", default="127.1.0.0/16")
    parser.add_argument("--root", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--tls-cert", required=True)
    parser.add_argument("--tls-key", required=True)
    parser.add_argument("--client-ca", required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    agent = NodeAgent(args)
    signal.signal(signal.SIGTERM, lambda *_: (agent.stopping.set(), agent.wake.set()))
    signal.signal(signal.SIGINT, lambda *_: (agent.stopping.set(), agent.wake.set()))
    agent.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
