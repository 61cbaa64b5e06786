"""The real node: containers under runc from locally built images, a pod network, Services
through kube-proxy, cluster DNS, and a `down` that leaves nothing behind.
"""

from __future__ import annotations

import ipaddress
import json
import os
import signal
import urllib.request

import pytest
from mlops_dev.cluster import COMPONENTS, LocalCluster
from mlops_dev.node.layout import POD_SUBNET
from mlops_dev.node.leftovers import leftovers
from mlops_dev.node.runtime import shim_pids

from tests.cluster.conftest import wait_for
from tests.conftest import kubectl

pytestmark = pytest.mark.cluster

RESTRICTED = {"pod-security.kubernetes.io/enforce": "restricted"}
POD_SECURITY = {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
CONTAINER_SECURITY = {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                      "capabilities": {"drop": ["ALL"]}}
SERVE_PYTHON = ("import http.server, os, socketserver\n"
                "class H(http.server.BaseHTTPRequestHandler):\n"
                "    def do_GET(self):\n"
                "        body = os.environ['HOSTNAME'].encode()\n"
                "        self.send_response(200); self.end_headers(); self.wfile.write(body)\n"
                "socketserver.TCPServer(('', 8080), H).serve_forever()\n")


def real_node_pod(name: str, command: list[str], image: str = "mlops-operator/runtime:0.1.0",
                  labels: dict[str, str] | None = None, memory: str = "128Mi") -> dict:
    """A pod for the real node with the restricted security context the operator uses."""
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {
            "restartPolicy": "Never",
            "nodeSelector": {"kubernetes.io/hostname": "mlops-node"},
            "securityContext": POD_SECURITY,
            "containers": [{"name": "main", "image": image, "imagePullPolicy": "Never",
                            "command": command, "securityContext": CONTAINER_SECURITY,
                            "resources": {"limits": {"memory": memory, "cpu": "500m"}}}],
        },
    }


@pytest.fixture
def restricted_namespace(kubeconfig: str, namespace: str) -> str:
    kubectl(kubeconfig, "label", "namespace", namespace,
            *(f"{key}={value}" for key, value in RESTRICTED.items()))
    return namespace


def pod_json(kubeconfig: str, namespace: str, name: str) -> dict:
    return json.loads(kubectl(kubeconfig, "get", "pod", name, "-n", namespace,
                              "-o", "json").stdout)


def test_a_restricted_pod_runs_as_a_container_with_its_limits_and_a_pod_ip(
        kubeconfig: str, restricted_namespace: str) -> None:
    probe = ("import os, pathlib\n"
             "limit = pathlib.Path('/sys/fs/cgroup/memory/memory.limit_in_bytes')\n"
             "try:\n    open('/opt/written', 'w'); ro = 'writable'\n"
             "except OSError as e:\n    ro = type(e).__name__\n"
             "msg = f'uid={os.getuid()} root={ro} limit={limit.read_text().strip()}'\n"
             "open('/dev/termination-log', 'w').write(msg)\n")
    kubectl(kubeconfig, "apply", "-n", restricted_namespace, "-f", "-",
            input=json.dumps(real_node_pod("probe", ["python", "-c", probe])))
    phase = wait_for(lambda: pod_json(kubeconfig, restricted_namespace, "probe")["status"]
                     .get("phase") in ("Succeeded", "Failed") and
                     pod_json(kubeconfig, restricted_namespace, "probe"), 90, "probe to finish")
    state = phase["status"]["containerStatuses"][0]["state"]["terminated"]
    assert state["exitCode"] == 0, state
    assert state["message"] == f"uid=65532 root=OSError limit={128 * 1024 * 1024}"
    assert ipaddress.ip_address(phase["status"]["podIP"]) in ipaddress.ip_network(POD_SUBNET)


#: image -> (its SBOM file, packages it must list, packages it must not carry)
IMAGE_SBOMS = {
    "mlops-operator/runtime:0.1.0": ("mlops-runtime.cdx.json",
                                     {"mlops-operator", "scikit-learn", "pandas", "onnxruntime"},
                                     {"kopf", "kubernetes"}),
    "mlops-operator/operator:0.1.0": ("mlops-operator.cdx.json",
                                      {"mlops-operator", "kopf", "kubernetes"},
                                      {"scikit-learn", "pandas", "onnxruntime"}),
}


@pytest.mark.parametrize("image", sorted(IMAGE_SBOMS))
def test_each_project_image_carries_an_sbom_naming_the_project_and_its_packages(
        kubeconfig: str, restricted_namespace: str, image: str) -> None:
    """The SBOM is made after the project is installed in its own layer: it must still
    list the project and the locked packages it runs on, and only those."""
    sbom_file, carried, absent = IMAGE_SBOMS[image]
    probe = ("import json\n"
             f"sbom = json.load(open('/opt/project/share/sbom/{sbom_file}'))\n"
             "names = sorted({c['name'].lower() for c in sbom['components']})\n"
             "open('/dev/termination-log', 'w').write(' '.join(names))\n")
    pod = real_node_pod("sbom", ["python", "-c", probe], image=image)
    kubectl(kubeconfig, "apply", "-n", restricted_namespace, "-f", "-", input=json.dumps(pod))
    done = wait_for(lambda: pod_json(kubeconfig, restricted_namespace, "sbom")["status"]
                    .get("phase") in ("Succeeded", "Failed") and
                    pod_json(kubeconfig, restricted_namespace, "sbom"), 90, "sbom to finish")
    state = done["status"]["containerStatuses"][0]["state"]["terminated"]
    assert state["exitCode"] == 0, state
    listed = set(state["message"].split())
    assert carried <= listed, carried - listed
    assert not absent & listed, absent & listed


def test_a_privileged_pod_is_refused_by_pod_security_admission(
        kubeconfig: str, restricted_namespace: str) -> None:
    pod = real_node_pod("root", ["true"])
    pod["spec"]["containers"][0]["securityContext"] = {"privileged": True}
    result = kubectl(kubeconfig, "apply", "-n", restricted_namespace, "-f", "-",
                     input=json.dumps(pod), check=False)
    assert result.returncode != 0 and "violates PodSecurity" in result.stderr


def test_a_service_answers_by_dns_name_from_a_pod_and_by_cluster_ip_from_the_host(
        kubeconfig: str, restricted_namespace: str) -> None:
    ns = restricted_namespace
    server = real_node_pod("web", ["python", "-c", SERVE_PYTHON], labels={"app": "web"})
    server["spec"]["containers"][0]["readinessProbe"] = {
        "httpGet": {"path": "/", "port": 8080}, "periodSeconds": 1}
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
               "spec": {"selector": {"app": "web"},
                        "ports": [{"port": 80, "targetPort": 8080}]}}
    for manifest in (server, service):
        kubectl(kubeconfig, "apply", "-n", ns, "-f", "-", input=json.dumps(manifest))
    kubectl(kubeconfig, "wait", "-n", ns, "--for=condition=Ready", "pod/web", "--timeout=90s")
    cluster_ip = json.loads(kubectl(kubeconfig, "get", "service", "web", "-n", ns, "-o",
                                    "json").stdout)["spec"]["clusterIP"]

    def from_host() -> str:
        try:
            with urllib.request.urlopen(f"http://{cluster_ip}/", timeout=2) as response:
                return response.read().decode()
        except OSError:
            return ""

    assert wait_for(from_host, 30, "the ClusterIP from the host") == "web"
    fetch = (f"import urllib.request; print(urllib.request.urlopen("
             f"'http://web.{ns}.svc.cluster.local/', timeout=5).read().decode())")
    kubectl(kubeconfig, "apply", "-n", ns, "-f", "-",
            input=json.dumps(real_node_pod("client", ["python", "-c", fetch])))
    wait_for(lambda: pod_json(kubeconfig, ns, "client")["status"].get("phase") == "Succeeded",
             90, "the client pod to fetch through DNS")
    assert kubectl(kubeconfig, "logs", "client", "-n", ns).stdout.strip() == "web"


def test_an_image_that_is_not_loaded_shows_err_image_never_pull(
        kubeconfig: str, restricted_namespace: str) -> None:
    kubectl(kubeconfig, "apply", "-n", restricted_namespace, "-f", "-",
            input=json.dumps(real_node_pod("missing", ["true"], image="example/absent:1.0")))

    def waiting() -> dict | None:
        statuses = pod_json(kubeconfig, restricted_namespace, "missing")["status"].get(
            "containerStatuses") or []
        state = statuses[0]["state"].get("waiting") if statuses else None
        return state if state and state.get("reason") == "ErrImageNeverPull" else None

    assert "example/absent:1.0" in wait_for(waiting, 60, "ErrImageNeverPull")["message"]


def _ports(cluster: LocalCluster) -> list[int]:
    ports = cluster.ports()
    assert ports is not None
    return [port for port in vars(ports).values()]


@pytest.mark.cluster_lifecycle
def test_down_leaves_nothing_and_up_recovers_after_every_component_was_killed(
        local_cluster: LocalCluster | None, kubeconfig: str) -> None:
    """Runs last (see tests/conftest.py): it takes the session's cluster down and up."""
    if local_cluster is None:
        pytest.skip("stops and starts the local cluster")
    home, ports = local_cluster.home, _ports(local_cluster)
    local_cluster.down(quiet=True)
    assert leftovers(home, ports) == {key: [] for key in leftovers(home, ports)}

    local_cluster.up(timeout=180)
    for component in COMPONENTS:  # a crash: nobody cleans up
        pid = local_cluster.status()["components"][component]
        if pid:
            os.killpg(pid, signal.SIGKILL)
    for pid in shim_pids(local_cluster.node.layout.containerd_socket):
        os.kill(pid, signal.SIGKILL)
    ports = _ports(local_cluster)
    local_cluster.up(timeout=180)
    kubectl(kubeconfig, "-n", "kube-system", "rollout", "status", "deployment/coredns",
            "--timeout=90s")
    ports += _ports(local_cluster)
    local_cluster.down(quiet=True)
    assert leftovers(home, ports) == {key: [] for key in leftovers(home, ports)}
