"""charts/mlops-operator with real Helm (v4, built from its Go module): its defaults render
what the kustomization installs, its options render valid objects, and on the local
cluster it installs an operator that carries a rollout through ``helm upgrade`` and
uninstalls without leaving anything behind but the CRDs it keeps."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from mlops_dev.helm import ensure_helm
from mlops_dev.kubebuild import cache_root

from tests.cluster.conftest import wait_for
from tests.cluster.test_status_for_tools import iris_job, mlops_deployment
from tests.cluster.test_training import apply, get
from tests.conftest import REPO, kubectl

pytestmark = pytest.mark.cluster

CHART = REPO / "charts" / "mlops-operator"
KINDS = ("trainingjobs.mlops.dev", "modelversions.mlops.dev", "deployments.mlops.dev")


def helm(*args: str, kubeconfig: str | None = None, timeout: float = 300,
         check: bool = True) -> subprocess.CompletedProcess[str]:
    home = cache_root() / "helm-home"  # Helm's own state, away from the user's
    env = {"PATH": os.environ["PATH"], "HELM_CACHE_HOME": str(home / "cache"),
           "HELM_CONFIG_HOME": str(home / "config"), "HELM_DATA_HOME": str(home / "data")}
    if kubeconfig:
        env["KUBECONFIG"] = kubeconfig
    result = subprocess.run([str(ensure_helm()), *args], capture_output=True, text=True,
                            env=env, timeout=timeout, check=False)
    assert result.returncode == 0 or not check, f"helm {' '.join(args)}: {result.stderr}"
    return result


def render(*values: str, release: str = "mlops-operator",
           namespace: str = "mlops-system") -> list[dict[str, Any]]:
    out = helm("template", release, str(CHART), "-n", namespace, *values).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def by_key(docs: list[dict[str, Any]]) -> dict[tuple[str, str, str | None], dict[str, Any]]:
    return {(d["kind"], d["metadata"]["name"], d["metadata"].get("namespace")): d
            for d in docs}


def without_labels(obj: dict[str, Any]) -> dict[str, Any]:
    """The object minus metadata labels (Helm adds its own; the selectors stay)."""
    copy = json.loads(json.dumps(obj))
    copy["metadata"].pop("labels", None)
    template = (copy.get("spec") or {}).get("template")
    if isinstance(template, dict):
        template["metadata"].pop("labels", None)
    return copy


def labels_of(obj: dict[str, Any]) -> list[dict[str, str]]:
    template = (obj.get("spec") or {}).get("template")
    return [obj["metadata"].get("labels") or {},
            *([template["metadata"].get("labels") or {}] if isinstance(template, dict) else [])]


def test_the_defaults_render_what_the_kustomization_installs(kubeconfig: str) -> None:
    kustomized = [d for d in yaml.safe_load_all(kubectl(
        kubeconfig, "kustomize", str(REPO / "manifests" / "operator")).stdout)
        if d and d["kind"] != "Namespace"]  # Helm installs into a namespace it is given
    charted = by_key(render("--set", "crds.install=false"))
    expected = by_key(kustomized)
    assert set(charted) == set(expected)
    for key, obj in expected.items():
        assert without_labels(charted[key]) == without_labels(obj), key
        for helm_labels, kustomize_labels in zip(labels_of(charted[key]), labels_of(obj),
                                                 strict=True):
            assert kustomize_labels.items() <= helm_labels.items(), key


def test_the_crds_are_the_repositorys_and_kept_on_uninstall() -> None:
    rendered = {d["metadata"]["name"]: d for d in render()
                if d["kind"] == "CustomResourceDefinition"}
    for path in sorted((REPO / "crds").glob("*.yaml")):
        crd = yaml.safe_load(path.read_text())
        ours = rendered.pop(crd["metadata"]["name"])
        assert ours["spec"] == crd["spec"], path.name
        assert ours["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert not rendered
    unkept = [d for d in render("--set", "crds.keep=false")
              if d["kind"] == "CustomResourceDefinition"]
    assert unkept and all("annotations" not in d["metadata"] for d in unkept)


def test_watched_namespaces_get_roles_and_nothing_cluster_wide_but_the_crds() -> None:
    docs = render("--set", "watchNamespaces={team-a,team-b}", "--set", "crds.install=false",
                  "--set", "userRoles.enabled=false", release="ml", namespace="ml-system")
    keys = by_key(docs)
    (cluster_role,) = [d for d in docs if d["kind"] == "ClusterRole"]
    assert cluster_role["rules"] == [{"apiGroups": ["apiextensions.k8s.io"],
                                      "resources": ["customresourcedefinitions"],
                                      "verbs": ["list", "watch"]}]
    for namespace in ("team-a", "team-b"):
        role = keys[("Role", "ml-mlops-operator", namespace)]
        assert {"apiGroups": ["mlops.dev"], "resources": ["deployments"],
                "verbs": ["get", "list", "watch", "patch"]} in role["rules"]
        binding = keys[("RoleBinding", "ml-mlops-operator", namespace)]
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "ml-mlops-operator",
                                        "namespace": "ml-system"}]
    (container,) = keys[("Deployment", "ml-mlops-operator", "ml-system")][
        "spec"]["template"]["spec"]["containers"]
    assert "--namespace=team-a" in container["args"] and "--namespace=team-b" in container["args"]


def test_prometheus_auth_and_tls_come_from_secrets_as_files() -> None:
    (deployment,) = [d for d in render("--set", "prometheus.url=https://prom.example:9091",
                                       "--set", "prometheus.auth.tokenSecret.name=prom-token",
                                       "--set", "prometheus.tls.caSecret.name=prom-ca",
                                       "--set", "crds.install=false")
                     if d["kind"] == "Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
    assert env["MLOPS_PROMETHEUS_URL"] == "https://prom.example:9091"
    assert env["MLOPS_PROMETHEUS_TOKEN_FILE"] == "/etc/mlops/prometheus-token/token"
    assert env["MLOPS_PROMETHEUS_CA_FILE"] == "/etc/mlops/prometheus-ca/ca.crt"
    secrets = {v["name"]: v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v}
    assert secrets["prometheus-token"] == "prom-token" and secrets["prometheus-ca"] == "prom-ca"
    (own,) = [d for d in render("--set", "prometheus.auth.serviceAccountToken=true",
                                "--set", "crds.install=false") if d["kind"] == "Deployment"]
    env = {e["name"]: e.get("value")
           for e in own["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["MLOPS_PROMETHEUS_TOKEN_FILE"] == (
        "/var/run/secrets/kubernetes.io/serviceaccount/token")


def test_the_monitoring_objects_are_the_prometheus_operator_kustomizations() -> None:
    folder = REPO / "manifests" / "monitoring" / "prometheus-operator"
    expected = {(d["kind"], d["metadata"]["name"]): d for f in ("podmonitors.yaml",
                                                                 "prometheusrule.yaml")
                for d in yaml.safe_load_all((folder / f).read_text()) if d}
    assert not [d for d in render("--set", "crds.install=false")
                if d["apiVersion"].startswith("monitoring.coreos.com")]  # off by default
    charted = {(d["kind"], d["metadata"]["name"]): d
               for d in render("--set", "monitoring.podMonitors=true", "--set",
                               "monitoring.prometheusRule=true", "--set",
                               "monitoring.labels.release=kps", "--set", "crds.install=false",
                               namespace="obs")
               if d["apiVersion"].startswith("monitoring.coreos.com")}
    assert set(charted) == set(expected)
    for key, obj in charted.items():
        assert obj["spec"] == expected[key]["spec"], key
        assert obj["metadata"]["namespace"] == "obs"
        assert obj["metadata"]["labels"]["release"] == "kps"


@pytest.mark.parametrize(("value", "named"), [
    ("replica=3", "additional properties 'replica' not allowed"),  # a typo is not ignored
    ("prometheus.url=prometheus:9090", "/prometheus/url"),
    ("watchNamespaces={Team_A}", "/watchNamespaces/0"),
    ("image.pullPolicy=Sometimes", "/image/pullPolicy"),
])
def test_bad_values_are_refused_naming_the_value(value: str, named: str) -> None:
    result = helm("template", "mlops-operator", str(CHART), "--set", value, check=False)
    assert result.returncode != 0 and named in result.stderr, result.stderr


# ---- on the local cluster ---------------------------------------------------------


@pytest.fixture
def release(kubeconfig: str, crds: None, namespace: str) -> Iterator[str]:
    """A release of the chart in the test's namespace, watching only that namespace (the
    suite's own operators run elsewhere at other times); uninstalled at the end."""
    name = f"mlops-{uuid.uuid4().hex[:6]}"
    yield name
    if installed(kubeconfig, namespace, name):  # the test failed before its uninstall
        helm("uninstall", name, "-n", namespace, "--wait", "--cascade", "foreground",
             "--timeout", "90s", kubeconfig=kubeconfig)


def installed(kubeconfig: str, namespace: str, name: str) -> bool:
    listed = helm("list", "-n", namespace, "-q", kubeconfig=kubeconfig).stdout.split()
    return name in listed


def operator_log(kubeconfig: str, namespace: str, name: str) -> str:
    return kubectl(kubeconfig, "logs", "-n", namespace, f"deployment/{name}-mlops-operator",
                   "--tail=60", check=False).stdout


def status(kubeconfig: str, namespace: str) -> dict[str, Any]:
    return get(kubeconfig, namespace, "mld", "serve").get("status") or {}


def test_install_upgrade_mid_rollout_and_uninstall(kubeconfig: str, namespace: str,
                                                   release: str) -> None:
    values = ["--set", f"watchNamespaces={{{namespace}}}", "--set", "userRoles.enabled=false",
              "--set", "replicas=2"]
    # The suite's CRDs already exist: the release adopts them, as after a kustomize install.
    helm("install", release, str(CHART), "-n", namespace, *values, "--take-ownership",
         "--wait", "--timeout", "120s", kubeconfig=kubeconfig)
    log = lambda: operator_log(kubeconfig, namespace, release)  # noqa: E731
    apply(kubeconfig, namespace, iris_job("iris-a"))
    apply(kubeconfig, namespace,
          iris_job("iris-b").replace("max_iter: 300", "max_iter: 300, C: 0.5"))
    for version in ("iris-v1", "iris-v2"):
        wait_for(lambda v=version: (get(kubeconfig, namespace, "mv", v).get("status") or {})
                 .get("phase") == "Approved", 240, f"{version} to be trained and approved",
                 log)
    apply(kubeconfig, namespace, mlops_deployment("serve", "iris-v1"))
    wait_for(lambda: status(kubeconfig, namespace).get("phase") == "Healthy", 120,
             "iris-v1 to serve", log)
    apply(kubeconfig, namespace, mlops_deployment("serve", "iris-v2"))
    wait_for(lambda: status(kubeconfig, namespace).get("phase") == "Paused", 120,
             "the canary to pause at its pause step", log)
    before = status(kubeconfig, namespace)

    # An upgrade that replaces the operator's pods (one replica now) in mid-rollout.
    helm("upgrade", release, str(CHART), "-n", namespace, *values[:-2], "--set", "replicas=1",
         "--wait", "--timeout", "120s", kubeconfig=kubeconfig)
    pods = json.loads(kubectl(kubeconfig, "get", "pods", "-n", namespace, "-l",
                              "app.kubernetes.io/name=mlops-operator", "-o", "json").stdout)
    assert len([p for p in pods["items"]
                if not p["metadata"].get("deletionTimestamp")]) == 1
    after = status(kubeconfig, namespace)
    assert (after["phase"], after["canaryVersion"], after["currentStepIndex"],
            after["canaryStartedAt"], after["history"]) == (
        before["phase"], before["canaryVersion"], before["currentStepIndex"],
        before["canaryStartedAt"], before["history"])
    # The new operator carries the rollout on: a one-shot promote of that canary.
    kubectl(kubeconfig, "annotate", "-n", namespace, "mld", "serve",
            "mlops.dev/promote=iris-v2")
    wait_for(lambda: status(kubeconfig, namespace).get("stableVersion") == "iris-v2"
             and status(kubeconfig, namespace).get("phase") == "Healthy", 120,
             "the upgraded operator to promote iris-v2", log)
    wait_for(lambda: "mlops.dev/promote" not in (get(kubeconfig, namespace, "mld", "serve")
                                                 ["metadata"].get("annotations") or {}),
             30, "the spent annotation to go", log)

    # Uninstall in the documented order: the mlops.dev objects first, while the operator
    # runs and releases their finalizers; then the release.
    kubectl(kubeconfig, "delete", "-n", namespace, "mld", "serve", "--timeout=60s")
    helm("uninstall", release, "-n", namespace, "--wait", "--cascade", "foreground",
         "--timeout", "90s", kubeconfig=kubeconfig)
    left = kubectl(kubeconfig, "get", "all,serviceaccounts,roles,rolebindings,"
                   "networkpolicies,clusterroles,clusterrolebindings", "-A", "-l",
                   f"app.kubernetes.io/instance={release}", "-o", "name").stdout.split()
    assert left == []
    for kind in KINDS:  # kept, with the training results in them
        assert kubectl(kubeconfig, "get", "crd", kind, check=False).returncode == 0
    kept = json.loads(kubectl(kubeconfig, "get", "tj,mv", "-n", namespace, "-o",
                              "json").stdout)["items"]
    assert len(kept) == 4
    assert all(not o["metadata"].get("finalizers") for o in kept), [
        (o["metadata"]["name"], o["metadata"].get("finalizers")) for o in kept]
