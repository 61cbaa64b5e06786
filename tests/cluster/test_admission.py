"""Admission refuses what the operator cannot use, naming the field and a valid example.

Each case goes through ``kubectl apply --dry-run=server`` against the real API server, so
the CRDs' schemas and CEL rules are what is tested, not a copy of them.
"""

from __future__ import annotations

import copy
import json
import subprocess
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.cluster.conftest import OperatorProcess, wait_for
from tests.conftest import kubectl

pytestmark = pytest.mark.cluster

DEPLOYMENT = {"apiVersion": "mlops.dev/v1alpha1", "kind": "Deployment",
              "metadata": {"name": "admitted"},
              "spec": {"modelVersion": "iris-v1", "strategy": {
                  "steps": [{"setWeight": 50}, {"analysis": {"checks": ["error-rate"]}}],
                  "analysis": {"checks": [{"name": "error-rate", "builtin": "errorRate"}]}}}}
TRAINING_JOB = {"apiVersion": "mlops.dev/v1alpha1", "kind": "TrainingJob",
                "metadata": {"name": "admitted"},
                "spec": {"model": "iris", "dataset": {"uri": "sklearn://iris"},
                         "estimator": {"name": "LogisticRegression"}}}
RETRAINING = {**TRAINING_JOB, "spec": {**TRAINING_JOB["spec"],
                                      "retrain": {"onAlerts": ["InputDrift"]}}}
MODEL_VERSION = {"apiVersion": "mlops.dev/v1alpha1", "kind": "ModelVersion",
                 "metadata": {"name": "iris-v1"},
                 "spec": {"model": "iris", "version": 1,
                          "artifact": {"uri": "pvc://mlops-artifacts/iris/model.onnx",
                                       "sha256": "0" * 64}}}
#: Checks declared once under strategy.analysis have a schema; a step's inline checks
#: (names or objects) cannot, so only the operator judges those (InvalidSpec condition).
CHECK = ("spec", "strategy", "analysis", "checks", 0)


def with_value(base: dict[str, Any], path: tuple, value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(base)
    node: Any = changed
    for key in path[:-1]:
        node = node.setdefault(key, {}) if isinstance(key, str) else node[key]
    node[path[-1]] = value
    return changed


def admit(kubeconfig: str, namespace: str,
          obj: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    return kubectl(kubeconfig, "apply", "--dry-run=server", "-n", namespace, "-f", "-",
                   input=json.dumps(obj), check=False)


REFUSED = [
    # (object, path, value, what the error must say)
    (DEPLOYMENT, ("spec", "strategy", "progressDeadline"), "ten minutes", "like 30s, 5m"),
    (DEPLOYMENT, ("spec", "strategy", "progressDeadline"), "5s1m", "in that order"),
    (DEPLOYMENT, (*CHECK, "interval"), "0s", "positive duration"),
    (DEPLOYMENT, (*CHECK, "interval"), "", "interval must be"),
    (DEPLOYMENT, (*CHECK, "window"), "1 minute", "window must be"),
    (DEPLOYMENT, (*CHECK, "name"), "error rate!", "like error-rate"),
    (DEPLOYMENT, CHECK, {"name": "error-rate", "query": 'up{pod="{{pod}}"}', "threshold": 1},
     "{{deployment}}"),
    (DEPLOYMENT, CHECK, {"name": "error-rate", "query": "", "threshold": 1}, "query"),
    (DEPLOYMENT, ("spec", "image"), "Not An Image", "ghcr.io/acme/runtime:0.1.0"),
    (DEPLOYMENT, ("spec", "strategy", "alerts"), [""], "spec.strategy.alerts"),
    (DEPLOYMENT, ("spec", "notifications"), [{"url": "ftp://hooks.example/x"}],
     "spec.notifications[].url must be an http:// or https:// URL"),
    (DEPLOYMENT, ("spec", "notifications"),
     [{"url": "https://h.example", "events": ["rolled back"]}],
     "spec.notifications[0].events[0]"),
    (DEPLOYMENT, ("spec", "notifications"), [{"events": ["Promoted"]}],
     "spec.notifications[0].url: Required value"),
    (DEPLOYMENT, ("spec", "router"), {"type": "gatewayAPI", "gatewayAPI": {
        "parentRefs": [{"name": "Public Gateway"}]}}, "like my-gateway"),
    (DEPLOYMENT, ("spec", "router"), {"type": "gatewayAPI", "gatewayAPI": {
        "parentRefs": [{"name": "gw"}], "hostnames": ["https://models.example.com"]}},
     "like models.example.com"),
    (TRAINING_JOB, ("spec", "dataset", "target"), "", "spec.dataset.target"),
    (TRAINING_JOB, ("spec", "dataset", "s3"), {"endpoint": "minio:9000"},
     "like https://s3"),
    (TRAINING_JOB, ("spec", "dataset", "s3"), {"secretRef": {"name": "S3 Keys"}},
     "like s3-credentials"),
    (TRAINING_JOB, ("spec", "image"), "runtime image", "like ghcr.io/acme/runtime"),
    (TRAINING_JOB, ("spec", "gitRevision"), "main branch", "like 3f2a9c1"),
    (MODEL_VERSION, ("spec", "dataset"), {"uri": "x", "sha256": "abc"}, "spec.dataset.sha256"),
    (TRAINING_JOB, ("spec", "retrain"), {}, "needs a schedule, onAlerts or both"),
    (TRAINING_JOB, ("spec", "retrain"), {"onAlerts": [], "minInterval": "1m"},
     "needs a schedule, onAlerts or both"),
    (RETRAINING, ("spec", "retrain", "minInterval"), "ten minutes", "like 30s, 10m"),
    (RETRAINING, ("spec", "retrain", "minInterval"), "5s1m", "in that order"),
    (RETRAINING, ("spec", "retrain", "maxRuns"), 0, "greater than or equal to 1"),
    (RETRAINING, ("spec", "retrain", "onAlerts"), [""], "spec.retrain.onAlerts"),
    (RETRAINING, ("metadata", "name"), "r" * 49, "at most 48 characters"),
]


@pytest.mark.parametrize(("base", "path", "value", "says"), REFUSED,
                         ids=[f"{b['kind']}.{'.'.join(map(str, p[1:]))}={v!r}"[:80]
                              for b, p, v, _ in REFUSED])
def test_nonsense_is_refused_with_the_field_and_an_example(
    kubeconfig: str, crds: None, namespace: str, base: dict, path: tuple, value: Any, says: str
) -> None:
    result = admit(kubeconfig, namespace, with_value(base, path, value))
    assert result.returncode != 0, f"admitted {value!r} at {path}"
    assert says in result.stderr, result.stderr
    field = ".".join(str(p) for p in path if isinstance(p, str) and p not in ("checks",))
    assert field.split(".")[-1] in result.stderr, result.stderr


@pytest.mark.parametrize(("base", "path", "value"), [
    (DEPLOYMENT, ("spec", "strategy", "progressDeadline"), "1h30m"),
    (DEPLOYMENT, (*CHECK, "interval"), "250ms"),
    (DEPLOYMENT, (*CHECK, "window"), "1m30s"),
    (DEPLOYMENT, CHECK, {"name": "error-rate", "threshold": 0.3, "query":
                         'histogram_quantile(0.99, rate(x{deployment="{{ deployment }}",'
                         'track="{{track}}"}[1m]))'}),
    (DEPLOYMENT, ("spec", "image"), "registry.local:5000/mlops/runtime:0.1.0"),
    (DEPLOYMENT, ("spec", "image"), "runtime@sha256:" + "a" * 64),
    (TRAINING_JOB, ("spec", "dataset", "s3"), {"endpoint": "http://127.0.0.1:9000",
                                                "secretRef": {"name": "s3-credentials"}}),
    (TRAINING_JOB, ("spec", "gitRevision"), "refs/tags/v1.2"),
    (RETRAINING, ("spec", "retrain", "schedule"), "0 3 * * *"),
    (RETRAINING, ("spec", "retrain"), {"schedule": "@daily", "timeZone": "Europe/Berlin",
                                       "minInterval": "1h30m", "maxRuns": 1}),
    (RETRAINING, ("metadata", "name"), "r" * 48),
])
def test_valid_values_are_admitted(kubeconfig: str, crds: None, namespace: str, base: dict,
                                   path: tuple, value: Any) -> None:
    result = admit(kubeconfig, namespace, with_value(base, path, value))
    assert result.returncode == 0, result.stderr


# --------------------------------------------------------------------------- any shape

NAMES = st.sampled_from(["error-rate", "errorRate", "latencyP99", "nope", ""])
DURATIONS = st.sampled_from(["5s", "1m30s", "0s", "soon", "", "250ms"])
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-5, 200), st.text(max_size=8))
INLINE_CHECK = st.one_of(
    NAMES,
    st.fixed_dictionaries({"name": NAMES}, optional={
        "builtin": st.sampled_from(["errorRate", "inputDrift", "cpu"]),
        "query": st.sampled_from(["up", 'up{d="{{deployment}}"}', "x{{pod}}", ""]),
        "threshold": st.one_of(st.floats(allow_nan=False), st.text(max_size=3)),
        "interval": DURATIONS, "count": st.integers(-1, 5), "typo": SCALARS}),
    SCALARS,
)
STEP = st.one_of(
    st.fixed_dictionaries({"setWeight": st.one_of(st.integers(-10, 150), st.text(max_size=3))}),
    st.fixed_dictionaries({"pause": st.one_of(st.just({}),
                                               st.fixed_dictionaries({"duration": DURATIONS}))}),
    st.fixed_dictionaries({"analysis": st.fixed_dictionaries(
        {"checks": st.lists(INLINE_CHECK, max_size=3)})}),
    st.dictionaries(st.sampled_from(["setWeight", "pause", "wait"]), SCALARS, max_size=2),
)
SPEC = st.fixed_dictionaries(
    {"modelVersion": st.sampled_from(["iris-v1", "iris-v7", "wine-v2", ""])},
    optional={
        "replicas": st.integers(-1, 4),
        "promote": st.booleans(), "abort": st.booleans(), "paused": st.booleans(),
        "strategy": st.fixed_dictionaries({}, optional={
            "steps": st.lists(STEP, max_size=4),
            "progressDeadline": DURATIONS,
            "alerts": st.lists(st.sampled_from(["Boom", ""]), max_size=2),
            "analysis": st.fixed_dictionaries({"checks": st.lists(st.fixed_dictionaries(
                {"name": NAMES}, optional={"builtin": st.sampled_from(["errorRate", "x"]),
                                           "threshold": st.floats(-1, 2)}), max_size=2)}),
        }),
        "router": st.sampled_from([{"type": "replicas"}, {"type": "gatewayAPI"},
                                   {"type": "gatewayAPI", "gatewayAPI": {
                                       "parentRefs": [{"name": "gw"}]}}]),
    },
)


@pytest.fixture(scope="module")
def watched(kubeconfig: str, crds: None, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[tuple[str, OperatorProcess]]:
    """A namespace with the operator watching it."""
    name = f"t-shapes-{uuid.uuid4().hex[:6]}"
    kubectl(kubeconfig, "create", "namespace", name)
    process = OperatorProcess(kubeconfig, name,
                              tmp_path_factory.mktemp("shapes") / "operator.log")
    process.start()
    try:
        yield name, process
    finally:
        process.stop()
        kubectl(kubeconfig, "delete", "namespace", name, "--wait=false", check=False)


ADMITTED: list[str] = []


@settings(max_examples=40, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(spec=SPEC)
def test_every_admitted_spec_gets_a_condition_and_no_traceback(
    kubeconfig: str, watched: tuple[str, OperatorProcess], spec: dict[str, Any]
) -> None:
    namespace, operator = watched
    name = f"shape-{uuid.uuid4().hex[:8]}"
    obj = {"apiVersion": "mlops.dev/v1alpha1", "kind": "Deployment",
           "metadata": {"name": name, "namespace": namespace}, "spec": spec}
    result = kubectl(kubeconfig, "apply", "-f", "-", input=json.dumps(obj), check=False)
    if result.returncode != 0:
        assert "spec" in result.stderr, result.stderr  # refused, naming a field
        return
    ADMITTED.append(name)

    def progressing() -> dict[str, Any] | None:
        found = json.loads(kubectl(kubeconfig, "get", "mld", name, "-n", namespace,
                                   "-o", "json").stdout)
        conditions = (found.get("status") or {}).get("conditions") or []
        return next((c for c in conditions if c["type"] == "Progressing"), None)

    condition = wait_for(progressing, 20, f"a Progressing condition on {spec}", operator.log)
    assert condition["reason"] and condition["message"] is not None
    kubectl(kubeconfig, "delete", "mld", name, "-n", namespace, "--wait=false")
    assert "Traceback" not in operator.log_path.read_text(errors="replace")


def test_the_shapes_above_reached_the_operator(watched: tuple[str, OperatorProcess]) -> None:
    """The property is not vacuous: a good share of the generated specs was admitted."""
    assert len(ADMITTED) >= 8, ADMITTED
