"""User-space Service proxy for the local cluster (kube-proxy's part).

Pods get loopback addresses, which EndpointSlices refuse, so the proxy
selects endpoints itself: the Ready, non-terminating pods that match a
Service's selector. A Service with cluster IP ``10.96.a.b`` is reachable at
``127.96.a.b`` on its ports (the address is also written on the Service as the
annotation ``mlops.dev/local-address``), and a NodePort Service on
``127.0.0.1:<nodePort>``. Each new connection goes to a random ready endpoint,
so traffic splits by replica count as with kube-proxy.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import random
import signal
import sys
from dataclasses import dataclass, field
from typing import Any

from kubernetes import client, config

log = logging.getLogger("service-proxy")
LOCAL_ADDRESS_ANNOTATION = "mlops.dev/local-address"
REFRESH_SECONDS = 0.5


def local_address(cluster_ip: str) -> str:
    """``10.96.a.b`` -> ``127.96.a.b``: a loopback address standing for the cluster IP."""
    parts = cluster_ip.split(".")
    return ".".join(["127", *parts[1:]])


@dataclass
class Listener:
    """One listening socket and the endpoints it forwards to."""

    server: asyncio.base_events.Server
    backends: list[tuple[str, int]] = field(default_factory=list)


def _ready(pod: Any) -> bool:
    if pod.metadata.deletion_timestamp or pod.status.phase != "Running" or not pod.status.pod_ip:
        return False
    return any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])


def _target_port(pod: Any, target: Any) -> int | None:
    if isinstance(target, int) or (isinstance(target, str) and target.isdigit()):
        return int(target)
    for container in pod.spec.containers:
        for port in container.ports or []:
            if port.name == target:
                return int(port.container_port)
    return None


def desired_routes(services: list[Any], pods: list[Any]) -> dict[tuple[str, int],
                                                                    list[tuple[str, int]]]:
    """(listen address, port) -> ready backends, for every Service with a selector."""
    routes: dict[tuple[str, int], list[tuple[str, int]]] = {}
    for service in services:
        spec = service.spec
        if not spec.selector or not spec.cluster_ip or spec.cluster_ip == "None":
            continue
        members = [p for p in pods if p.metadata.namespace == service.metadata.namespace
                   and _ready(p) and all((p.metadata.labels or {}).get(k) == v
                                         for k, v in spec.selector.items())]
        for port in spec.ports or []:
            if (port.protocol or "TCP") != "TCP":
                continue
            target = port.target_port if port.target_port is not None else port.port
            backends = []
            for pod in members:
                number = _target_port(pod, target)
                if number is not None:
                    backends.append((pod.status.pod_ip, number))
            routes[(local_address(spec.cluster_ip), int(port.port))] = backends
            if port.node_port:
                routes[("127.0.0.1", int(port.node_port))] = backends
    return routes


def _label_name(key: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in key)


def discovery_targets(pods: list[Any]) -> list[dict[str, Any]]:
    """Pods as Prometheus HTTP SD targets carrying kubernetes_sd's pod-role meta labels.

    Debian's Prometheus is built without Kubernetes service discovery; serving the
    same ``__meta_kubernetes_pod_*`` labels lets one relabel config work both
    here (http_sd) and on kind (kubernetes_sd).
    """
    targets = []
    for pod in pods:
        if not pod.status.pod_ip:
            continue
        labels = {
            "__meta_kubernetes_namespace": pod.metadata.namespace,
            "__meta_kubernetes_pod_name": pod.metadata.name,
            "__meta_kubernetes_pod_ip": pod.status.pod_ip,
            "__meta_kubernetes_pod_phase": pod.status.phase or "",
            "__meta_kubernetes_pod_ready": "true" if _ready(pod) else "false",
            "__meta_kubernetes_pod_node_name": pod.spec.node_name or "",
            "__meta_kubernetes_pod_uid": pod.metadata.uid,
        }
        for key, value in (pod.metadata.labels or {}).items():
            labels[f"__meta_kubernetes_pod_label_{_label_name(key)}"] = value
        for key, value in (pod.metadata.annotations or {}).items():
            labels[f"__meta_kubernetes_pod_annotation_{_label_name(key)}"] = value
        targets.append({"targets": [f"{pod.status.pod_ip}:80"], "labels": labels})
    return targets


class ServiceProxy:
    def __init__(self, kubeconfig: str) -> None:
        config.load_kube_config(kubeconfig)
        self.core = client.CoreV1Api()
        self.listeners: dict[tuple[str, int], Listener] = {}
        self.targets: bytes = b"[]"

    async def serve_discovery(self, reader: asyncio.StreamReader,
                              writer: asyncio.StreamWriter) -> None:
        """Minimal HTTP endpoint for Prometheus' http_sd_configs (any path)."""
        try:
            while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                pass  # request line and headers: every request gets the same answer
            body = self.targets
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                         b"Connection: close\r\nContent-Length: " + str(len(body)).encode()
                         + b"\r\n\r\n" + body)
            await writer.drain()
        finally:
            writer.close()

    async def forward(self, key: tuple[str, int], reader: asyncio.StreamReader,
                      writer: asyncio.StreamWriter) -> None:
        listener = self.listeners.get(key)
        if listener is None or not listener.backends:
            writer.close()
            return
        # A pod that was just deleted may still be listed for a moment: try the next one.
        upstream = None
        for host, port in random.sample(listener.backends, len(listener.backends)):
            try:
                upstream = await asyncio.wait_for(asyncio.open_connection(host, port), timeout=2)
                break
            except (OSError, TimeoutError):
                continue
        if upstream is None:
            writer.close()
            return
        upstream_reader, upstream_writer = upstream

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            try:
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                with contextlib.suppress(Exception):
                    sink.close()

        await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))

    async def sync(self) -> None:
        loop = asyncio.get_running_loop()
        services = (await loop.run_in_executor(
            None, self.core.list_service_for_all_namespaces)).items
        pods = (await loop.run_in_executor(None, self.core.list_pod_for_all_namespaces)).items
        self.targets = json.dumps(discovery_targets(pods)).encode()
        routes = desired_routes(services, pods)
        for key, backends in routes.items():
            listener = self.listeners.get(key)
            if listener is None:
                try:
                    server = await asyncio.start_server(
                        lambda r, w, key=key: self.forward(key, r, w), key[0], key[1])
                except OSError as error:
                    log.warning("cannot listen on %s:%d: %s", key[0], key[1], error)
                    continue
                listener = self.listeners[key] = Listener(server)
                log.info("listening on %s:%d", *key)
            if listener.backends != backends:
                log.info("%s:%d -> %s", key[0], key[1], backends)
            listener.backends = backends
        for key in set(self.listeners) - set(routes):
            self.listeners.pop(key).server.close()
            log.info("stopped %s:%d", *key)
        for service in services:
            await self._annotate(loop, service)

    async def _annotate(self, loop: asyncio.AbstractEventLoop, service: Any) -> None:
        ip = service.spec.cluster_ip
        if not ip or ip == "None":
            return
        address = local_address(ip)
        if (service.metadata.annotations or {}).get(LOCAL_ADDRESS_ANNOTATION) == address:
            return
        patch = {"metadata": {"annotations": {LOCAL_ADDRESS_ANNOTATION: address}}}
        with contextlib.suppress(client.ApiException):
            await loop.run_in_executor(None, lambda: self.core.patch_namespaced_service(
                service.metadata.name, service.metadata.namespace, patch))

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.sync()
            except Exception:  # noqa: BLE001 - keep serving through API hiccups
                log.exception("sync failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), REFRESH_SECONDS)
        for listener in self.listeners.values():
            listener.server.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--discovery-port", type=int, required=True,
                        help="serve Prometheus HTTP service discovery on 127.0.0.1:PORT")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        proxy = ServiceProxy(args.kubeconfig)
        discovery = await asyncio.start_server(proxy.serve_discovery, "127.0.0.1",
                                               args.discovery_port)
        await proxy.run(stop)
        discovery.close()

    asyncio.run(run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
