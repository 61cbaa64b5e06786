"""Every manifest under manifests/ is accepted by a real API server, as kind users apply it.

The kind path cannot run here (no container engine), so this is its safety net: each file
goes through ``kubectl apply --dry-run=server`` (schemas, CEL rules, RBAC and Pod Security
admission), and both kustomizations render and are accepted too. A few checks need no
server: no RBAC wildcard, the operator's env is what ``Settings`` reads, and the examples
parse with the operator's and trainer's own parsers (stricter than the CRD schemas).
"""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from mlops_dev.processes import wait_for

from tests.conftest import REPO, kubectl

pytestmark = pytest.mark.cluster

MANIFESTS = REPO / "manifests"
SYSTEM_NAMESPACE = "mlops-system"
# Plain Prometheus configuration read by the monitoring kustomization (and the local
# cluster), not Kubernetes objects.
NOT_OBJECTS = {"monitoring/scrape.yml", "monitoring/rules.yml"}
#: Argo CD's scripts, their fixtures and its actions config: nothing here is applied. The
#: prometheus-operator objects need that operator's CRDs: tests/cluster/test_prometheus_operator
#: installs them and dry-runs the folder.
NOT_OBJECT_FOLDERS = ("argocd/", "monitoring/prometheus-operator/")


def _relative(path: Path) -> str:
    return path.relative_to(MANIFESTS).as_posix()


def manifest_files() -> list[Path]:
    return sorted(
        path
        for path in MANIFESTS.rglob("*")
        if path.suffix in (".yaml", ".yml")
        and path.name != "kustomization.yaml"
        and _relative(path) not in NOT_OBJECTS
        and not _relative(path).startswith(NOT_OBJECT_FOLDERS)
    )


def objects(text: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(text) if doc]


def objects_of(directory: str, kind: str) -> list[dict[str, Any]]:
    found = []
    for path in manifest_files():
        if _relative(path).startswith(directory):
            found += [o for o in objects(path.read_text()) if o["kind"] == kind]
    return found


def test_the_expected_manifests_exist() -> None:
    names = {_relative(p) for p in manifest_files()}
    for expected in (
        "operator/namespace.yaml",
        "operator/rbac.yaml",
        "operator/user-roles.yaml",
        "operator/deployment.yaml",
        "operator/service.yaml",
        "monitoring/kind/prometheus.yaml",
        "monitoring/kind/alertmanager.yaml",
        "examples/trainingjob-iris.yaml",
        "examples/trainingjob-iris-v2.yaml",
        "examples/trainingjob-iris-skewed.yaml",
        "examples/trainingjob-iris-retrain.yaml",
        "examples/deployment-iris.yaml",
        "examples/deployment-iris-gateway.yaml",
        "examples/deployment-iris-bake.yaml",
        "examples/deployment-iris-follow.yaml",
        "examples/deployment-iris-shadow.yaml",
        "examples/deployment-iris-live-accuracy.yaml",
        "examples/modelversion-external.yaml",
    ):
        assert expected in names


# ---- against the API server ---------------------------------------------------------


@pytest.fixture(scope="module")
def system_namespace(kubeconfig: str) -> Iterator[str]:
    """mlops-system, created from its manifest (so its Pod Security labels apply)."""
    existed = kubectl(kubeconfig, "get", "namespace", SYSTEM_NAMESPACE, check=False)
    kubectl(kubeconfig, "apply", "-f", str(MANIFESTS / "operator" / "namespace.yaml"))
    yield SYSTEM_NAMESPACE
    if existed.returncode != 0:
        kubectl(kubeconfig, "delete", "namespace", SYSTEM_NAMESPACE, "--wait=false",
                check=False)


@pytest.fixture(scope="module")
def scratch_namespace(kubeconfig: str) -> Iterator[str]:
    """A fresh namespace for the manifests that name none (the examples)."""
    name = f"t-manifests-{uuid.uuid4().hex[:6]}"
    kubectl(kubeconfig, "create", "namespace", name)
    yield name
    kubectl(kubeconfig, "delete", "namespace", name, "--wait=false", check=False)


def dry_run(kubeconfig: str, namespace: str | None, *source: str,
            input: str | None = None) -> str:
    """Server-side dry-run apply; returns kubectl's warnings (stderr)."""
    args = ["apply", "--dry-run=server", *source]
    if namespace:
        args += ["-n", namespace]
    return kubectl(kubeconfig, *args, input=input).stderr


@pytest.mark.parametrize("path", manifest_files(), ids=_relative)
def test_manifest_is_accepted_by_the_api_server(
    path: Path, kubeconfig: str, crds: None, system_namespace: str, scratch_namespace: str
) -> None:
    docs = objects(path.read_text())
    assert docs, f"{_relative(path)} holds no object"
    # Files either name their namespace on every namespaced object (operator, monitoring)
    # or on none (examples, applied with -n by their users).
    named = any((d.get("metadata") or {}).get("namespace") for d in docs)
    warnings = dry_run(kubeconfig, None if named else scratch_namespace, "-f", str(path))
    # mlops-system warns on the restricted profile: a workload that would be refused at
    # pod creation shows up here, at apply time.
    assert "PodSecurity" not in warnings, warnings


@pytest.mark.parametrize("directory", ["operator", "monitoring"])
def test_kustomization_renders_and_is_accepted(
    directory: str, kubeconfig: str, crds: None, system_namespace: str
) -> None:
    rendered = kubectl(kubeconfig, "kustomize", str(MANIFESTS / directory)).stdout
    docs = objects(rendered)
    assert docs
    assert all(d["metadata"].get("namespace") in (None, SYSTEM_NAMESPACE) for d in docs)
    warnings = dry_run(kubeconfig, None, "-f", "-", input=rendered)
    assert "PodSecurity" not in warnings, warnings


def test_monitoring_uses_the_shared_scrape_job_and_rules(kubeconfig: str) -> None:
    """One source of truth: the generated ConfigMaps hold scrape.yml and rules.yml verbatim,
    and the Prometheus Deployment mounts exactly those (hash-suffixed) ConfigMaps."""
    rendered = objects(kubectl(kubeconfig, "kustomize", str(MANIFESTS / "monitoring")).stdout)
    config_maps = {d["metadata"]["name"]: d for d in rendered if d["kind"] == "ConfigMap"}
    by_key = {key: value for cm in config_maps.values() for key, value in cm["data"].items()}
    for name in ("scrape.yml", "rules.yml"):
        assert by_key[name] == (MANIFESTS / "monitoring" / name).read_text()
    prometheus = next(d for d in rendered
                      if d["kind"] == "Deployment" and d["metadata"]["name"] == "prometheus")
    mounted = {v["configMap"]["name"] for v in prometheus["spec"]["template"]["spec"]["volumes"]
               if "configMap" in v}
    assert mounted <= set(config_maps), mounted - set(config_maps)
    # What the init container writes must be a scrape_config_files document.
    wrapped = yaml.safe_load("scrape_configs:\n" + by_key["scrape.yml"])
    assert [job["job_name"] for job in wrapped["scrape_configs"]] == [
        job["job_name"] for job in yaml.safe_load(by_key["scrape.yml"])]
    config = yaml.safe_load(config_maps["prometheus-config"]["data"]["prometheus.yml"])
    assert config["scrape_config_files"] == ["/etc/prometheus/scrape/*.yml"]


def test_the_operator_kustomization_runs_and_its_leader_acts(
    kubeconfig: str, crds: None, system_namespace: str, namespace: str
) -> None:
    """`kubectl apply -k manifests/operator`, as on kind: both replicas of the operator's
    image start under the restricted profile and stay up, one holds the Lease, and it
    reconciles the example TrainingJob in another namespace."""
    kubectl(kubeconfig, "apply", "-k", str(MANIFESTS / "operator"))
    try:
        kubectl(kubeconfig, "-n", SYSTEM_NAMESPACE, "rollout", "status",
                "deployment/mlops-operator", "--timeout=120s", timeout=130)
        kubectl(kubeconfig, "apply", "-n", namespace, "-f",
                str(MANIFESTS / "examples" / "trainingjob-iris.yaml"))
        wait_for(lambda: kubectl(kubeconfig, "get", "tj", "iris-logreg", "-n", namespace, "-o",
                                 "jsonpath={.status.phase}").stdout, 60,
                 "the operator pod to write the TrainingJob's status")
        pods = json.loads(kubectl(kubeconfig, "get", "pods", "-n", SYSTEM_NAMESPACE, "-l",
                                  "app.kubernetes.io/name=mlops-operator", "-o",
                                  "json").stdout)["items"]
        assert len(pods) == 2
        restarts = {p["metadata"]["name"]: p["status"]["containerStatuses"][0]["restartCount"]
                    for p in pods}
        assert set(restarts.values()) == {0}, restarts
        holder = kubectl(kubeconfig, "get", "lease", "mlops-operator", "-n", SYSTEM_NAMESPACE,
                         "-o", "jsonpath={.spec.holderIdentity}").stdout
        assert holder in restarts, (holder, restarts)
    finally:
        # Foreground: wait for its pods too, or this cluster-wide operator would still act
        # in the next test's namespace.
        kubectl(kubeconfig, "delete", "-n", SYSTEM_NAMESPACE, "deployment", "mlops-operator",
                "--cascade=foreground", "--wait=true", "--timeout=60s", check=False,
                timeout=70)


# A pod that opts in to the model servers' scrape job, as a model server does: a second
# Prometheus from the same image serves its own /metrics (an empty file is a valid config).
SCRAPED_POD = """
apiVersion: v1
kind: Pod
metadata:
  name: scraped
  annotations: {prometheus.io/scrape: "true", prometheus.io/port: "9090"}
spec:
  securityContext: {runAsNonRoot: true, seccompProfile: {type: RuntimeDefault}}
  containers:
    - name: metrics
      image: prom/prometheus:v3.16.0
      imagePullPolicy: Never
      args: [--config.file=/dev/null, --storage.tsdb.path=/tmp/data]
      securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}
"""


def test_the_monitoring_kustomization_runs_loads_the_rules_and_scrapes_pods(
    kubeconfig: str, crds: None, system_namespace: str, namespace: str
) -> None:
    """`kubectl apply -k manifests/monitoring`, as on kind (the webhook token's Secret first,
    as the README says): Prometheus and Alertmanager start under the restricted profile,
    Prometheus loads the shared rules, finds Alertmanager, and scrapes a pod that opts in,
    found through the API server."""
    secret = kubectl(kubeconfig, "-n", SYSTEM_NAMESPACE, "create", "secret", "generic",
                     "mlops-alert-webhook", f"--from-literal=token={secrets.token_hex(16)}",
                     "--dry-run=client", "-o", "yaml").stdout
    kubectl(kubeconfig, "apply", "-f", "-", input=secret)
    kubectl(kubeconfig, "apply", "-k", str(MANIFESTS / "monitoring"))
    try:
        for name in ("prometheus", "alertmanager"):
            kubectl(kubeconfig, "-n", SYSTEM_NAMESPACE, "rollout", "status",
                    f"deployment/{name}", "--timeout=120s", timeout=130)
        address = kubectl(kubeconfig, "-n", SYSTEM_NAMESPACE, "get", "pods", "-l",
                          "app.kubernetes.io/name=prometheus", "-o",
                          "jsonpath={.items[0].status.podIP}").stdout
        api = f"http://{address}:9090/api/v1"

        def get(path: str, **params: str) -> Any:
            return httpx.get(f"{api}/{path}", params=params, timeout=5).json()["data"]

        rules = {rule["name"] for group in get("rules")["groups"] for rule in group["rules"]}
        assert "InputDrift" in rules, rules
        wait_for(lambda: get("alertmanagers")["activeAlertmanagers"], 60,
                 "Prometheus to find Alertmanager")
        kubectl(kubeconfig, "apply", "-n", namespace, "-f", "-", input=SCRAPED_POD)
        up = f'up{{job="mlops-model-servers",namespace="{namespace}",pod="scraped"}}'
        wait_for(lambda: [r["value"][1] for r in get("query", query=up)["result"]] == ["1"],
                 90, "Prometheus to discover and scrape the annotated pod")
    finally:
        kubectl(kubeconfig, "delete", "-k", str(MANIFESTS / "monitoring"),
                "--cascade=foreground", "--wait=true", "--timeout=60s", check=False,
                timeout=70)
        kubectl(kubeconfig, "delete", "-n", SYSTEM_NAMESPACE, "secret", "mlops-alert-webhook",
                check=False)


# ---- no server needed ---------------------------------------------------------------


def test_rbac_names_every_group_resource_and_verb() -> None:
    roles = objects_of("", "ClusterRole") + objects_of("", "Role")
    assert {r["metadata"]["name"] for r in roles} >= {"mlops-operator", "mlops-prometheus",
                                                      "mlops-view", "mlops-edit"}
    for role in roles:
        for rule in role["rules"]:
            for field in ("apiGroups", "resources", "verbs"):
                assert "*" not in rule.get(field, []), (role["metadata"]["name"], rule)
            assert "nonResourceURLs" not in rule
    # People never write a status: that would let an editor approve a version.
    for name in ("mlops-view", "mlops-edit"):
        (role,) = [r for r in roles if r["metadata"]["name"] == name]
        assert not [r for rule in role["rules"] for r in rule["resources"] if "/" in r]


def test_operator_role_grants_what_the_code_calls() -> None:
    role = next(r for r in objects_of("operator", "ClusterRole")
                if r["metadata"]["name"] == "mlops-operator")
    granted = {(group, resource, verb) for rule in role["rules"] for group in rule["apiGroups"]
               for resource in rule["resources"] for verb in rule["verbs"]}
    needed = [
        ("mlops.dev", "trainingjobs", "list"), ("mlops.dev", "trainingjobs", "watch"),
        ("mlops.dev", "trainingjobs", "patch"), ("mlops.dev", "modelversions", "create"),
        # Retrain runs are child TrainingJobs, pruned beyond the history limits.
        ("mlops.dev", "trainingjobs", "create"), ("mlops.dev", "trainingjobs", "delete"),
        ("mlops.dev", "deployments", "get"), ("mlops.dev", "deployments/status", "patch"),
        ("batch", "jobs", "create"), ("batch", "jobs", "watch"), ("", "pods", "list"),
        ("", "pods/log", "get"), ("", "persistentvolumeclaims", "create"),
        ("", "services", "patch"), ("apps", "deployments", "delete"),
        ("gateway.networking.k8s.io", "httproutes", "patch"), ("", "events", "create"),
        ("apiextensions.k8s.io", "customresourcedefinitions", "watch"),
        ("", "namespaces", "watch"),
        # The watch indexes a reconcile reads instead of the API server.
        ("", "pods", "watch"), ("", "services", "watch"), ("apps", "deployments", "watch"),
        ("gateway.networking.k8s.io", "httproutes", "watch"),
        # The audit trail finds each namespace's monitor and its token.
        ("", "services", "get"), ("", "secrets", "get"),
    ]
    assert [n for n in needed if n not in granted] == []
    (secrets,) = [rule for rule in role["rules"] if "secrets" in rule["resources"]]
    assert secrets["resourceNames"] == ["mlops-monitor-token", "mlops-notifications"]
    (lease_role,) = [r for r in objects_of("operator", "Role")
                     if r["metadata"]["name"] == "mlops-operator-leader-election"]
    assert lease_role["rules"] == [{"apiGroups": ["coordination.k8s.io"],
                                    "resources": ["leases"],
                                    "verbs": ["get", "create", "update"]}]


def test_operator_deployment_env_is_what_settings_reads() -> None:
    from mlops_operator.config import Settings

    (deployment,) = objects_of("operator", "Deployment")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e["value"] for e in container["env"] if "value" in e}
    settings = Settings.from_env(env)
    assert settings.runtime_image == "mlops-operator/runtime:0.1.0"
    assert settings.prometheus_url == "http://prometheus.mlops-system.svc:9090"
    assert (settings.alert_webhook_host, settings.alert_webhook_port) == ("$(POD_IP)", 8085)
    assert settings.metrics_port == 8087
    # Every MLOPS_ variable set is one Settings reads: a misspelt name would be ignored.
    for name in env:
        if name.startswith("MLOPS_"):
            assert Settings.from_env({name: "1"}) != Settings.from_env({}), name
    (service,) = objects_of("operator", "Service")
    assert service["spec"]["ports"][0]["port"] == settings.alert_webhook_port


def test_the_alert_webhook_token_is_one_secret_shared_and_only_alertmanager_may_post() -> None:
    (deployment,) = objects_of("operator", "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    secret_of = {v["name"]: v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v}
    mounts = {m["mountPath"]: secret_of.get(m["name"]) for m in container["volumeMounts"]}
    token_dir, _, key = env["MLOPS_ALERT_WEBHOOK_TOKEN_FILE"].rpartition("/")
    assert mounts[token_dir] == "mlops-alert-webhook" and key == "token"

    (alertmanager,) = [d for d in objects_of("monitoring", "Deployment")
                       if d["metadata"]["name"] == "alertmanager"]
    am_pod = alertmanager["spec"]["template"]["spec"]
    am_secrets = {v["name"]: v["secret"]["secretName"] for v in am_pod["volumes"]
                  if "secret" in v}
    am_mounts = {m["mountPath"]: am_secrets.get(m["name"])
                 for m in am_pod["containers"][0]["volumeMounts"]}
    (config_map,) = [c for c in objects_of("monitoring", "ConfigMap")
                     if c["metadata"]["name"] == "alertmanager-config"]
    config = yaml.safe_load(config_map["data"]["alertmanager.yml"])
    (hook,) = config["receivers"][0]["webhook_configs"]
    credentials = hook["http_config"]["authorization"]["credentials_file"]
    assert am_mounts[credentials.rpartition("/")[0]] == "mlops-alert-webhook"

    (policy,) = objects_of("operator", "NetworkPolicy")
    webhook_rules = [r for r in policy["spec"]["ingress"]
                     if any(p["port"] == 8085 for p in r.get("ports", []))]
    assert [r["from"] for r in webhook_rules] == [
        [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "alertmanager"}}}]]


def test_examples_parse_with_the_operators_own_rules() -> None:
    from datetime import UTC

    from mlops_operator import builders
    from mlops_operator.domain import gates, retrain, rollout, versions
    from mlops_runtime.server.schema import parse_schema
    from mlops_runtime.trainer.spec import parse_spec

    for job in objects_of("examples", "TrainingJob"):
        parse_spec(builders.trainer_spec(job["spec"]))
        gates.validate_gate(job["spec"].get("qualityGate"))
        if "retrain" in job["spec"]:
            retrain.RetrainSpec.from_dict(job["spec"]["retrain"], UTC)
    for deployment in objects_of("examples", "Deployment"):
        rollout.RolloutSpec.from_dict(deployment["spec"])
    for version in objects_of("examples", "ModelVersion"):
        spec = version["spec"]
        assert version["metadata"]["name"] == versions.version_name(spec["model"],
                                                                    spec["version"])
        parse_schema(json.dumps(spec["inputSchema"]))


def test_every_example_says_what_it_shows() -> None:
    for path in manifest_files():
        if _relative(path).startswith("examples/"):
            assert path.read_text().startswith("# "), _relative(path)
