"""Chaos soak: many rollouts under steady traffic while the operator is SIGKILLed at
random moments and the API server is restarted once.

    python bench/bench_chaos.py [--rollouts 50] [--wave 5] [--seed 7]

Four scenarios take turns: a good canary (promoted), one answering 60 % of requests
with HTTP 500 (rolled back by errorRate), one trained on skewed data (rolled back by
predictionShift) and a healthy canary hit by a firing Alertmanager alert (rolled back).
Rollouts run in waves of ``--wave`` Deployments, each with its own client sending
iris rows at 5 requests/s through its Service. Every wave also trains one model
(a TrainingJob), to see whether kills make the operator lose or duplicate a
ModelVersion. A chaos thread SIGKILLs the operator every 5-20 s (a new one starts a
second later, as a Deployment's restart would), and the API server is restarted once,
during the first wave.

Printed per scenario: rollouts that reached the right end state, client requests and
those that failed outside the canary's own injected errors, and the median time from
the new target to the end state. Goal: every end state right, 0 duplicated or lost
ModelVersions, 0 failed requests besides the injected ones.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from mlops_dev.cluster import LocalCluster
from mlops_dev.load import LoadGenerator

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    OperatorProcess,
    cluster,
    iris_training_job,
    kubectl,
    operator_env,
    wait_for,
)

CHECKS = ("{name: error-rate, builtin: errorRate, interval: 2s, count: 3, window: 10s}, "
          "{name: prediction-shift, builtin: predictionShift, interval: 2s, count: 3}")
ANALYSED = f"[{{setWeight: 50}}, {{analysis: {{checks: [{CHECKS}]}}}}]"
HELD = "[{setWeight: 50}, {pause: {duration: 5m}}]"


@dataclass(frozen=True)
class Scenario:
    name: str
    target: str
    steps: str
    phase: str  # the right end state
    stable: str  # the stable version at the end


SCENARIOS = (
    Scenario("good", "iris-v2", ANALYSED, "Healthy", "iris-v2"),
    Scenario("errors", "iris-v4", ANALYSED, "RolledBack", "iris-v1"),
    Scenario("shift", "iris-v3", ANALYSED, "RolledBack", "iris-v1"),
    Scenario("alert", "iris-v2", HELD, "RolledBack", "iris-v1"),
)


@dataclass
class Outcome:
    scenario: Scenario
    right: bool = False
    seconds: float | None = None
    requests: int = 0
    failed: int = 0
    detail: str = ""


@dataclass
class Chaos:
    """Kills the operator at random moments and starts a new one, until stopped."""

    make: object  # () -> OperatorProcess, started
    rng: random.Random
    kills: int = 0
    current: OperatorProcess | None = None
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self.stop.wait(self.rng.uniform(5, 20)):
            self.current.kill()
            self.kills += 1
            time.sleep(1.0)
            self.current = self.make()


class Soak:
    def __init__(self, local: LocalCluster, namespace: str, logs: Path) -> None:
        self.local, self.namespace, self.logs = local, namespace, logs
        self.kubeconfig = str(local.kubeconfig)
        self.started = 0

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> str:
        return kubectl(self.kubeconfig, "-n", self.namespace, *args, input=input, check=check)

    def get(self, kind: str, name: str) -> dict:
        text = self.kubectl("get", kind, name, "-o", "json", check=False)
        return json.loads(text) if text else {}

    def operator(self) -> OperatorProcess:
        self.started += 1
        process = OperatorProcess(self.kubeconfig, self.namespace,
                                  self.logs / f"operator-{self.started}.log",
                                  env=operator_env(self.local.endpoints()))
        process.start()
        return process

    def train(self, name: str, params: str, extra: str = "") -> None:
        self.kubectl("apply", "-f", "-", input=iris_training_job(
            name, params, f", testFraction: 0.3, randomSeed: 3{extra}"))

    def trained_version(self, job: str, timeout: float = 240) -> str:
        def done() -> str | None:
            status = self.get("tj", job).get("status") or {}
            return status.get("modelVersion") if status.get("phase") == "Succeeded" else None
        return wait_for(done, timeout, f"{job} to record its ModelVersion", interval=0.5)

    def deploy(self, name: str, scenario: Scenario) -> str:
        self.kubectl("apply", "-f", "-", input=f"""
apiVersion: mlops.dev/v1alpha1
kind: Deployment
metadata: {{name: {name}}}
spec:
  modelVersion: iris-v1
  replicas: 1
  strategy:
    alerts: [ChaosAlert]
    steps: {scenario.steps}
""")
        return name

    def wave(self, names: list[str], scenarios: list[Scenario], chaos: Chaos,
             restart_api: bool) -> list[Outcome]:
        for name, scenario in zip(names, scenarios, strict=True):
            self.deploy(name, scenario)
        wait_for(lambda: all(self.status(n).get("phase") == "Healthy" for n in names), 300,
                 "every Deployment Healthy on iris-v1", interval=1.0)
        loads = [LoadGenerator(self.url(n), rate=5) for n in names]
        for load in loads:
            load.__enter__()
        outcomes = [Outcome(s) for s in scenarios]
        try:
            wait_for(lambda: all(len(load.answers) >= 10 for load in loads), 60, "traffic")
            started = time.monotonic()
            for name, scenario in zip(names, scenarios, strict=True):
                self.kubectl("patch", "mld", name, "--type=merge", "-p",
                             json.dumps({"spec": {"modelVersion": scenario.target}}))
            if restart_api:
                time.sleep(3)
                self.local.restart("kube-apiserver")
            self.finish(names, outcomes, started, chaos)
        finally:
            for load in loads:
                load.__exit__(None, None, None)
        for outcome, load in zip(outcomes, loads, strict=True):
            outcome.requests = len(load.answers)
            injected = outcome.scenario.name == "errors"
            outcome.failed = sum(1 for a in load.answers
                                 if a.status == 0 or (a.status >= 500 and not injected))
        for name in names:
            self.kubectl("delete", "mld", name, "--wait=false")
        return outcomes

    def finish(self, names: list[str], outcomes: list[Outcome], started: float,
               chaos: Chaos) -> None:
        alerted: set[str] = set()
        deadline = started + 300
        while time.monotonic() < deadline:
            pending = False
            for name, outcome in zip(names, outcomes, strict=True):
                status = self.status(name)
                if outcome.seconds is not None:
                    continue
                if (outcome.scenario.name == "alert" and name not in alerted
                        and status.get("currentWeight") == 50):
                    self.alert(name)
                    alerted.add(name)
                phase, stable = status.get("phase"), status.get("stableVersion")
                promoted = phase == "Healthy" and stable == outcome.scenario.target
                if (promoted or phase == "RolledBack") and status.get("canaryVersion") is None:
                    outcome.seconds = time.monotonic() - started
                    outcome.right = (phase == outcome.scenario.phase
                                     and stable == outcome.scenario.stable)
                    outcome.detail = f"{phase} {status.get('rollbackReason') or ''}"[:120]
                else:
                    pending = True
            if not pending:
                return
            time.sleep(1.0)
        for name, outcome in zip(names, outcomes, strict=True):
            if outcome.seconds is None:
                outcome.detail = f"no end state: {self.status(name).get('message')}"[:120]

    def alert(self, name: str) -> None:
        alert = [{"labels": {"alertname": "ChaosAlert", "namespace": self.namespace,
                             "deployment": name, "severity": "critical"},
                  "annotations": {"summary": "chaos soak alert"}}]
        httpx.post(f"{self.local.endpoints()['alertmanager']}/api/v2/alerts",
                   json=alert, timeout=10).raise_for_status()

    def status(self, name: str) -> dict:
        return self.get("mld", name).get("status") or {}

    def url(self, name: str) -> str:
        address = wait_for(lambda: (self.get("svc", name).get("spec") or {}).get("clusterIP"),
                           60, f"{name} address")
        return f"http://{address}:80/predict"


def report(outcomes: list[Outcome], trainings: dict[str, int], chaos: Chaos,
           restarts: int) -> None:
    print(f"\n{'scenario':<8} {'rollouts':>8} {'right end':>9} {'requests':>9} "
          f"{'failed':>7} {'median s':>9}")
    for scenario in SCENARIOS:
        mine = [o for o in outcomes if o.scenario is scenario]
        if not mine:
            continue
        times = [o.seconds for o in mine if o.seconds is not None]
        median = f"{statistics.median(times):.1f}" if times else "-"
        print(f"{scenario.name:<8} {len(mine):>8} {sum(o.right for o in mine):>9} "
              f"{sum(o.requests for o in mine):>9} {sum(o.failed for o in mine):>7} "
              f"{median:>9}")
    wrong = [o for o in outcomes if not o.right]
    for outcome in wrong:
        print(f"  wrong end state ({outcome.scenario.name}): {outcome.detail}")
    duplicated = sum(1 for n in trainings.values() if n > 1)
    lost = sum(1 for n in trainings.values() if n == 0)
    print(f"\ntrainings {len(trainings)}: ModelVersions duplicated {duplicated}, lost {lost}")
    print(f"operator SIGKILLs {chaos.kills}, API server restarts {restarts}")
    right = sum(o.right for o in outcomes)
    failed = sum(o.failed for o in outcomes)
    print(f"\nright end states {right}/{len(outcomes)} (goal: all); failed requests outside "
          f"injected errors {failed} (goal: 0); duplicated or lost ModelVersions "
          f"{duplicated + lost} (goal: 0)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rollouts", type=int, default=50)
    parser.add_argument("--wave", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    with cluster() as local, tempfile.TemporaryDirectory() as logs:
        namespace = f"chaos-{uuid.uuid4().hex[:5]}"
        kubectl(str(local.kubeconfig), "create", "namespace", namespace)
        soak = Soak(local, namespace, Path(logs))
        first = soak.operator()
        for job, params, extra in (("v1", "{max_iter: 300}", ""),
                                   ("v2", "{max_iter: 300, C: 0.5}", ""),
                                   ("v3", "{max_iter: 300}",
                                    ', columnScale: {"petal length (cm)": 10.0}'),
                                   ("v4", "{max_iter: 300, C: 2.0}", "")):
            soak.train(f"base-{job}", params, extra)
            assert soak.trained_version(f"base-{job}") == f"iris-{job}"
        soak.kubectl("annotate", "mv", "iris-v4", "mlops.dev/fault-error-rate=0.6")
        chaos = Chaos(make=soak.operator, rng=rng, current=first)
        killer = threading.Thread(target=chaos.run, daemon=True)
        killer.start()
        outcomes: list[Outcome] = []
        jobs: list[str] = []
        try:
            for number, start in enumerate(range(0, args.rollouts, args.wave)):
                count = min(args.wave, args.rollouts - start)
                scenarios = [SCENARIOS[(start + i) % len(SCENARIOS)] for i in range(count)]
                jobs.append(f"chaos-{number}")
                soak.train(jobs[-1], "{max_iter: 200}")
                names = [f"r{start + i}-{s.name}" for i, s in enumerate(scenarios)]
                outcomes += soak.wave(names, scenarios, chaos, restart_api=number == 0)
                print(f"wave {number + 1}: {sum(o.right for o in outcomes)}/{len(outcomes)} "
                      f"right so far, {chaos.kills} kills", flush=True)
            for job in jobs:
                soak.trained_version(job)
        finally:
            chaos.stop.set()
            killer.join(timeout=30)
            chaos.current.stop()
        versions = json.loads(soak.kubectl("get", "mv", "-o", "json"))["items"]
        trainings = {job: sum(1 for v in versions
                              if (v["spec"].get("lineage") or {}).get("trainingJob") == job)
                     for job in jobs}
        report(outcomes, trainings, chaos, restarts=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
