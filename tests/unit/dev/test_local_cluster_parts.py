"""Pure parts of the local cluster: image mapping, $(VAR) expansion, Service routing."""

from __future__ import annotations

from types import SimpleNamespace as NS

import pytest
from mlops_dev.node_agent import Container, Pod, expand, image_repository, pre_stop_sleep
from mlops_dev.service_proxy import desired_routes, discovery_targets, local_address


@pytest.mark.parametrize(
    ("image", "repository"),
    [
        ("mlops-operator/runtime:0.1.0", "mlops-operator/runtime"),
        ("ghcr.io/acme/mlops-operator/runtime:1.2@sha256:abc", "mlops-operator/runtime"),
        ("localhost:5000/mlops-operator/operator", "mlops-operator/operator"),
        ("nginx:1.25", "nginx"),
    ],
)
def test_image_repository(image: str, repository: str) -> None:
    assert image_repository(image) == repository


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("$(A)-x", "1-x"),
        ("$$(A)", "$(A)"),  # escaped
        ("$(MISSING)", "$(MISSING)"),  # unknown stays as written, as in the kubelet
        ("plain", "plain"),
    ],
)
def test_kubernetes_variable_expansion(value: str, expected: str) -> None:
    assert expand(value, {"A": "1"}) == expected


def test_pre_stop_sleep_is_the_longest_of_running_containers(tmp_path) -> None:
    running = NS(pid=1)

    def container(seconds: float | None, process: object | None) -> Container:
        spec = {"name": "c"}
        if seconds is not None:
            spec["lifecycle"] = {"preStop": {"sleep": {"seconds": seconds}}}
        return Container("c", spec, init=False, process=process)  # type: ignore[arg-type]

    pod = Pod("uid", "ns", "p", "127.1.0.1", tmp_path, "Always",
              [container(2, running), container(5, None), container(None, running)], [])
    assert pre_stop_sleep(pod) == 2.0
    assert pre_stop_sleep(Pod("u", "n", "p", "127.1.0.2", tmp_path, "Always", [], [])) == 0.0


def pod(name: str, labels: dict, ready: bool = True, ip: str = "127.1.0.9",
        deleting: bool = False, ports: list | None = None) -> NS:
    return NS(
        metadata=NS(name=name, namespace="ns", labels=labels, annotations={"a.b/c": "1"},
                    uid=name, deletion_timestamp="now" if deleting else None),
        status=NS(phase="Running", pod_ip=ip,
                  conditions=[NS(type="Ready", status="True" if ready else "False")]),
        spec=NS(node_name="local-node",
                containers=[NS(ports=[NS(name=n, container_port=p) for n, p in ports or []])]),
    )


def service(selector: dict, target: object, node_port: int | None = None) -> NS:
    return NS(metadata=NS(namespace="ns"),
              spec=NS(selector=selector, cluster_ip="10.96.3.4",
                      ports=[NS(protocol="TCP", port=80, target_port=target,
                                node_port=node_port)]))


def test_routes_select_ready_matching_pods_and_resolve_named_ports() -> None:
    pods = [
        pod("a", {"app": "x", "track": "stable"}, ip="127.1.0.1", ports=[("http", 8080)]),
        pod("b", {"app": "x", "track": "canary"}, ip="127.1.0.2", ports=[("http", 9090)]),
        pod("c", {"app": "x"}, ready=False, ip="127.1.0.3", ports=[("http", 8080)]),
        pod("d", {"app": "x"}, deleting=True, ip="127.1.0.4", ports=[("http", 8080)]),
        pod("e", {"app": "y"}, ip="127.1.0.5", ports=[("http", 8080)]),
    ]
    routes = desired_routes([service({"app": "x"}, "http", node_port=30080)], pods)
    assert routes[("127.96.3.4", 80)] == [("127.1.0.1", 8080), ("127.1.0.2", 9090)]
    assert routes[("127.0.0.1", 30080)] == routes[("127.96.3.4", 80)]
    only_stable = desired_routes([service({"app": "x", "track": "stable"}, 8080)], pods)
    assert only_stable[("127.96.3.4", 80)] == [("127.1.0.1", 8080)]


def test_local_address_and_discovery_labels() -> None:
    assert local_address("10.96.200.7") == "127.96.200.7"
    (target,) = discovery_targets([pod("a", {"mlops.dev/deployment": "iris"})])
    labels = target["labels"]
    assert labels["__meta_kubernetes_pod_label_mlops_dev_deployment"] == "iris"
    assert labels["__meta_kubernetes_pod_annotation_a_b_c"] == "1"
    assert labels["__meta_kubernetes_pod_ready"] == "true"
    assert labels["__meta_kubernetes_pod_ip"] == "127.1.0.9"
