"""manifests/monitoring/prometheus-operator with the real prometheus-operator (built from its
Go module, the pinned version): its objects pass that version's CRD schemas, and a Prometheus
the operator runs from them scrapes the model servers by the labels they export themselves,
so a canary's checks see data through it and it is promoted."""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from mlops_dev.cluster import LocalCluster
from mlops_dev.load import LoadGenerator
from mlops_dev.processes import free_port
from mlops_dev.promoperator import (
    CONFIG_RELOADER_IMAGE,
    crd_file,
    ensure_config_reloader,
    ensure_operator,
)

from tests.cluster.conftest import OperatorProcess, wait_for
from tests.cluster.test_rollout import Env, deploy, set_version
from tests.cluster.test_status_for_tools import iris_job
from tests.cluster.test_training import apply
from tests.conftest import REPO, kubectl

pytestmark = pytest.mark.cluster

PLURALS = ("alertmanagerconfigs", "alertmanagers", "podmonitors", "probes",
           "prometheusagents", "prometheuses", "prometheusrules", "scrapeconfigs",
           "servicemonitors", "thanosrulers")
FOLDER = REPO / "manifests" / "monitoring" / "prometheus-operator"


@pytest.fixture(scope="module")
def prometheus_operator_crds(kubeconfig: str) -> Iterator[None]:
    """Its CRDs, server-side applied (too large for the last-applied annotation) and
    Established; removed afterwards unless they were there before."""
    names = [f"{plural}.monitoring.coreos.com" for plural in PLURALS]
    present = [kubectl(kubeconfig, "get", "crd", name, check=False).returncode == 0
               for name in names]
    for plural in PLURALS:
        kubectl(kubeconfig, "apply", "--server-side", "-f", str(crd_file(plural)))
    kubectl(kubeconfig, "wait", "--for=condition=Established", "--timeout=60s",
            *[f"crd/{name}" for name in names], timeout=90)
    yield
    for name, existed in zip(names, present, strict=True):
        if not existed:
            kubectl(kubeconfig, "delete", "crd", name, "--wait=false", check=False)


def rendered(kubeconfig: str, namespace: str) -> str:
    """The kustomization, into ``namespace`` (so no mlops-system is needed)."""
    text = kubectl(kubeconfig, "kustomize", str(FOLDER)).stdout
    return text.replace("namespace: mlops-system", f"namespace: {namespace}")


def test_the_objects_pass_the_prometheus_operator_schemas(
    kubeconfig: str, prometheus_operator_crds: None, namespace: str
) -> None:
    text = rendered(kubeconfig, namespace)
    result = kubectl(kubeconfig, "apply", "--dry-run=server", "--validate=strict", "-f", "-",
                     input=text)
    created = sorted(line.split()[0] for line in result.stdout.splitlines())
    assert created == ["podmonitor.monitoring.coreos.com/mlops-model-servers",
                       "podmonitor.monitoring.coreos.com/mlops-monitor",
                       "podmonitor.monitoring.coreos.com/mlops-operator",
                       "prometheusrule.monitoring.coreos.com/mlops-model-servers"], result.stdout
    assert "unknown field" not in result.stderr, result.stderr
    # The check has teeth: a misspelt field is refused by name.
    misspelt = kubectl(kubeconfig, "apply", "--dry-run=server", "--validate=strict", "-f", "-",
                       input=text.replace("honorLabels", "honourLabels"), check=False)
    assert misspelt.returncode != 0 and "honourLabels" in misspelt.stderr, misspelt.stderr


# ---- the real prometheus-operator ------------------------------------------------


@pytest.fixture
def prometheus_operator(kubeconfig: str, local_cluster: LocalCluster | None,
                        prometheus_operator_crds: None, namespace: str,
                        tmp_path: Path) -> Iterator[Path]:
    """prometheus-operator as a process watching ``namespace``, with the local cluster's
    admin credentials (the flags it has for running outside a pod); its log file."""
    if local_cluster is not None:  # another cluster pulls the published image itself
        local_cluster.node.load_binary_image(CONFIG_RELOADER_IMAGE, ensure_config_reloader(),
                                             "prometheus-config-reloader")
    config = yaml.safe_load(Path(kubeconfig).read_text())
    cluster, user = config["clusters"][0]["cluster"], config["users"][0]["user"]
    log = tmp_path / "prometheus-operator.log"
    with open(log, "w") as out:
        process = subprocess.Popen([
            str(ensure_operator()), f"--apiserver={cluster['server']}",
            f"--ca-file={cluster['certificate-authority']}",
            f"--cert-file={user['client-certificate']}", f"--key-file={user['client-key']}",
            f"--namespaces={namespace}", f"--prometheus-config-reloader={CONFIG_RELOADER_IMAGE}",
            f"--web.listen-address=127.0.0.1:{free_port()}", "--kubelet-endpoints=false",
        ], stdout=out, stderr=subprocess.STDOUT)
    try:
        yield log
    finally:
        process.terminate()
        process.wait(timeout=30)


PROMETHEUS = """
apiVersion: v1
kind: ServiceAccount
metadata: {name: prometheus}
---
apiVersion: monitoring.coreos.com/v1
kind: Prometheus
metadata: {name: mlops}
spec:
  image: prom/prometheus:v3.16.0
  version: v3.16.0
  replicas: 1
  serviceAccountName: prometheus
  scrapeInterval: 5s
  evaluationInterval: 5s
  podMonitorSelector: {}
  podMonitorNamespaceSelector: {}
  ruleSelector: {}
  securityContext:
    runAsNonRoot: true
    runAsUser: 65534
    fsGroup: 65534
    seccompProfile: {type: RuntimeDefault}
"""


def discovery_rbac(namespace: str, name: str) -> str:
    """What the Prometheus needs to list pods everywhere (the model servers' PodMonitor
    selects them in any namespace)."""
    return f"""
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {{name: {name}}}
rules:
  - apiGroups: [""]
    resources: [pods, services, endpoints]
    verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {{name: {name}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: {name}}}
subjects: [{{kind: ServiceAccount, name: prometheus, namespace: {namespace}}}]
"""


@pytest.fixture
def discovery(kubeconfig: str, namespace: str) -> Iterator[None]:
    name = f"t-prometheus-{uuid.uuid4().hex[:6]}"
    kubectl(kubeconfig, "apply", "-f", "-", input=discovery_rbac(namespace, name))
    yield
    kubectl(kubeconfig, "delete", "clusterrole,clusterrolebinding", name, check=False)


def prometheus_url(kubeconfig: str, namespace: str, log: Path) -> str:
    def address() -> str | None:
        pod = json.loads(kubectl(kubeconfig, "get", "pod", "prometheus-mlops-0", "-n", namespace,
                                 "-o", "json", check=False).stdout or "{}")
        ready = any(c.get("type") == "Ready" and c.get("status") == "True"
                    for c in (pod.get("status") or {}).get("conditions") or [])
        return pod["status"].get("podIP") if ready else None
    ip = wait_for(address, 180, "the operator's Prometheus pod to be ready",
                  lambda: log.read_text()[-3000:])
    return f"http://{ip}:9090"


def test_a_canary_is_judged_through_prometheus_operator(
    kubeconfig: str, crds: None, namespace: str, prometheus_operator: Path,
    discovery: None,
) -> None:
    kubectl(kubeconfig, "apply", "-n", namespace, "-f", "-", input=PROMETHEUS)
    kubectl(kubeconfig, "apply", "-f", "-", input=rendered(kubeconfig, namespace))
    url = prometheus_url(kubeconfig, namespace, prometheus_operator)
    wait_for(lambda: any(g["name"] == "mlops-model-servers" for g in httpx.get(
        f"{url}/api/v1/rules", timeout=5).json()["data"]["groups"]), 60,
        "the PrometheusRule's alerts to be loaded", lambda: prometheus_operator.read_text())
    with OperatorProcess(kubeconfig, namespace, prometheus_operator.parent / "op.log",
                         env={"MLOPS_PROMETHEUS_URL": url}) as operator:
        for version, params in (("a", "max_iter: 300"), ("b", "max_iter: 300, C: 0.5")):
            apply(kubeconfig, namespace,
                  iris_job(f"iris-{version}").replace("max_iter: 300", params))
        env = Env(kubeconfig, namespace, operator, {})
        for version in ("iris-v1", "iris-v2"):
            wait_for(lambda v=version: (env.get("mv", v).get("status") or {}).get("phase")
                     == "Approved", 180, f"{version} Approved", operator.log)
        checks = ("{name: error-rate, builtin: errorRate, interval: 5s, count: 3, window: 30s}, "
                  "{name: latency-p99, builtin: latencyP99, interval: 5s, count: 3, "
                  "window: 30s}")
        deploy(env, "serve", f"[{{setWeight: 50}}, {{analysis: {{checks: [{checks}]}}}}]")
        with LoadGenerator(env.service_url("serve"), rate=20):
            set_version(env, "serve", "iris-v2")
            wait_for(lambda: env.status("serve").get("phase") == "Healthy"
                     and env.status("serve").get("stableVersion") == "iris-v2", 240,
                     "iris-v2 promoted on checks measured through prometheus-operator",
                     operator.log)
        judged = {c["name"]: c for c in env.status("serve")["lastAnalysis"]["checks"]}
        assert set(judged) == {"error-rate", "latency-p99"}
        for name, check in judged.items():
            assert check["verdict"] == "Successful" and check["lastValue"] is not None, (
                name, check)
        # The series carry the Deployment's labels as the servers exported them.
        series = httpx.get(f"{url}/api/v1/series", timeout=5, params={
            "match[]": f'mlops_requests_total{{namespace="{namespace}",deployment="serve"}}'}
        ).json()["data"]
        assert {s["track"] for s in series} >= {"stable"} and all(
            s["deployment"] == "serve" for s in series)
