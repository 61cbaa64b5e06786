"""Canaries judged on labelled traffic: real model server pods log to the namespace's
monitor, the test (the world) posts the true class of every answer as feedback, real
Prometheus scrapes the monitor's join and the operator's liveAccuracy check reads it.

The canary is a one-split decision tree: it is wrong on a third of the flowers while it
answers every request, fast, on inputs that have not drifted, so errorRate, latencyP99
and inputDrift pass it. Until labels come the liveAccuracy check has no data and the
rollout waits; once they come, the interval of canary - stable accuracy rolls it back.
"""

from __future__ import annotations

import base64
import itertools
import random
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from sklearn.datasets import load_iris

from tests.cluster.conftest import OperatorProcess, wait_for
from tests.cluster.test_prediction_log import apply_monitor
from tests.cluster.test_tabular import _ok, service_url
from tests.cluster.test_training import apply, get, phase
from tests.conftest import kubectl

pytestmark = pytest.mark.cluster
IRIS = load_iris()
FEATURES = list(IRIS.feature_names)
TRAIN = """
apiVersion: mlops.dev/v1alpha1
kind: TrainingJob
metadata: {{name: {name}}}
spec:
  model: iris
  dataset: {{uri: "sklearn://iris", testFraction: 0.3, randomSeed: 7}}
  estimator: {estimator}
"""
CHECKS = """
    analysis:
      checks:
        - {name: error-rate, builtin: errorRate, interval: 3s, count: 2, window: 10s}
        - {name: latency, builtin: latencyP99, interval: 3s, count: 2, window: 10s}
        - {name: input-drift, builtin: inputDrift, interval: 3s, count: 2}
        - {name: live-accuracy, builtin: liveAccuracy, tolerance: 0.05, interval: 3s,
           count: 2, window: 2m, minSamples: 60, inconclusiveLimit: 1000}
"""


class World:
    """Clients asking about random flowers, and later saying what each flower was."""

    def __init__(self, url: str) -> None:
        # A new connection per request: kube-proxy balances connections, not requests, so
        # one kept-alive connection would only ever reach one track.
        self.client = httpx.Client(base_url=url, timeout=10,
                                   limits=httpx.Limits(max_keepalive_connections=0))
        self.truth: dict[str, int] = {}
        self.classes: list | None = None  # how the model names classes, from its answers
        self.labelling = threading.Event()
        self.stop = threading.Event()
        self.counter = itertools.count()
        self.random = random.Random(3)

    def ask(self) -> None:
        rows = self.random.sample(range(len(IRIS.target)), 10)
        ids = [f"q{next(self.counter)}" for _ in rows]
        body = {"instances": [dict(zip(FEATURES, IRIS.data[i].tolist(), strict=True))
                              for i in rows], "ids": ids}
        answer = _ok(self.client, "/predict", body)
        if answer is None:
            return
        if self.classes is None:
            named = isinstance(answer["predictions"][0], str)
            self.classes = list(IRIS.target_names) if named else list(range(3))
        self.truth.update(zip(ids, (int(IRIS.target[i]) for i in rows), strict=True))

    def run(self, monitor_url: str, token: str) -> None:
        posted = 0
        with httpx.Client(base_url=monitor_url, timeout=10,
                          headers={"authorization": f"Bearer {token}"}) as monitor:
            while not self.stop.wait(0.2):
                self.ask()
                if self.labelling.is_set() and self.classes is not None:
                    ids = list(self.truth)[posted:]
                    answer = monitor.post("/v1/labels", json=[
                        {"id": i, "label": self.classes[self.truth[i]]} for i in ids])
                    assert answer.status_code == 202, answer.text
                    posted += len(ids)


@contextmanager
def traffic(world: World, monitor_url: str, token: str) -> Iterator[World]:
    thread = threading.Thread(target=world.run, args=(monitor_url, token), daemon=True)
    thread.start()
    try:
        yield world
    finally:
        world.stop.set()
        thread.join(timeout=30)
        world.client.close()


def _check(status: dict, name: str) -> dict:
    checks = (status.get("lastAnalysis") or {}).get("checks") or []
    return next((c for c in checks if c["name"] == name), {})


def test_a_canary_wrong_on_labelled_traffic_waits_for_labels_then_is_rolled_back(
        kubeconfig: str, namespace: str, measured_operator: OperatorProcess) -> None:
    apply(kubeconfig, namespace, TRAIN.format(
        name="iris", estimator="{name: LogisticRegression, params: {max_iter: 300}}"))
    wait_for(lambda: phase(kubeconfig, namespace, "mv", "iris-v1") == "Approved", 180,
             "iris-v1 Approved", measured_operator.log)
    apply(kubeconfig, namespace, TRAIN.format(
        name="iris-stump", estimator="{name: DecisionTreeClassifier, params: {max_depth: 1}}"))
    wait_for(lambda: phase(kubeconfig, namespace, "mv", "iris-v2") == "Approved", 180,
             "iris-v2 Approved", measured_operator.log)
    apply_monitor(kubeconfig, namespace)
    deployment = """
apiVersion: mlops.dev/v1alpha1
kind: Deployment
metadata: {{name: iris}}
spec:
  modelVersion: {version}
  replicas: 1
  predictionLog: {{flushIntervalSeconds: 0.2}}
  strategy:
    steps:
      - setWeight: 50
      - analysis: {{checks: [error-rate, latency, input-drift, live-accuracy]}}
""" + CHECKS.replace("{", "{{").replace("}", "}}")
    apply(kubeconfig, namespace, deployment.format(version="iris-v1"))
    wait_for(lambda: phase(kubeconfig, namespace, "mld", "iris") == "Healthy", 120,
             "iris Healthy", measured_operator.log)
    token = base64.b64decode(kubectl(kubeconfig, "get", "secret", "mlops-monitor-token", "-n",
                                     namespace, "-o", "jsonpath={.data.token}").stdout).decode()
    monitor_url = service_url(kubeconfig, namespace, "mlops-monitor").replace(":80", ":8090")
    world = World(service_url(kubeconfig, namespace, "iris"))
    with traffic(world, monitor_url, token):
        wait_for(lambda: len(world.truth) > 0, 60, "answers from iris-v1")
        apply(kubeconfig, namespace, deployment.format(version="iris-v2"))

        def waiting_for_labels() -> dict | None:
            status = get(kubeconfig, namespace, "mld", "iris").get("status") or {}
            live = _check(status, "live-accuracy")
            others = [_check(status, n).get("verdict") for n in
                      ("error-rate", "latency", "input-drift")]
            return status if (live.get("verdict") == "Running"  # no data: measuring on
                              and "labelled canary predictions" in live.get("detail", "")
                              and others == ["Successful"] * 3) else None

        status = wait_for(waiting_for_labels, 180, "proxies pass, liveAccuracy waits",
                          measured_operator.log)
        assert status["phase"] != "RolledBack" and status.get("canaryVersion") == "iris-v2"
        world.labelling.set()  # the truth arrives

        def rolled_back() -> dict | None:
            status = get(kubeconfig, namespace, "mld", "iris").get("status") or {}
            return status if status.get("phase") == "RolledBack" else None

        status = wait_for(rolled_back, 240, "iris-v2 rolled back on live accuracy",
                          measured_operator.log)
    live = _check(status, "live-accuracy")
    assert live["verdict"] == "Failed", status
    assert "difference" in live["detail"] and "stable" in live["detail"], live
    assert [_check(status, n)["verdict"] for n in ("error-rate", "latency", "input-drift")] \
        == ["Successful"] * 3
