"""How fast a bad canary is rolled back, measured from the client's side.

    python bench/bench_rollback.py [--runs 2]

On the local cluster, with steady traffic (20 requests/s of iris rows, one
connection per request) through the Deployment's Service:

- check-triggered: a canary whose servers answer 60 % of requests with HTTP 500
  (the ModelVersion annotation ``mlops.dev/fault-error-rate``) under the
  example's analysis settings; measured from the first failed answer to the
  last answer served by the canary (after it, 100 % of traffic is on stable);
- alert-triggered: a healthy canary held at 50 %; a critical alert labelled with
  the Deployment is posted to Alertmanager; measured from the post to the last
  answer served by the canary.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import yaml
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

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "manifests/examples/deployment-iris.yaml"


class Bench:
    def __init__(self, cluster: LocalCluster, namespace: str) -> None:
        self.cluster, self.namespace = cluster, namespace
        self.kubeconfig = str(cluster.kubeconfig)

    def kubectl(self, *args: str, input: str | None = None) -> str:
        return kubectl(self.kubeconfig, "-n", self.namespace, *args, input=input)

    def status(self, name: str) -> dict:
        return json.loads(self.kubectl("get", "mld", name, "-o", "json")).get("status") or {}

    @staticmethod
    def wait(check, timeout: float, what: str):
        return wait_for(check, timeout, what, interval=0.1)

    def train(self, name: str, version: str, params: str) -> None:
        self.kubectl("apply", "-f", "-", input=iris_training_job(name, params))
        self.wait(lambda: "Approved" in self.kubectl("get", "mv", version, "-o",
                                                     "jsonpath={.status.phase}") if version in
                  self.kubectl("get", "mv", "-o", "name") else False, 120, f"{version}")

    def deploy(self, name: str, steps: list | None) -> str:
        manifest = yaml.safe_load(EXAMPLE.read_text())
        manifest["metadata"]["name"] = name
        manifest["spec"]["modelVersion"] = "iris-v1"
        if steps is not None:
            manifest["spec"]["strategy"]["steps"] = steps
        manifest["spec"]["strategy"]["alerts"] = ["BenchAlert"]  # the alert it posts
        self.kubectl("apply", "-f", "-", input=yaml.safe_dump(manifest))
        self.wait(lambda: self.status(name).get("phase") == "Healthy"
                  and self.status(name).get("readyReplicas", {}).get("stable", 0) >= 1,
                  120, f"{name} healthy")
        address = self.wait(lambda: self.kubectl("get", "svc", name, "-o",
                                                 "jsonpath={.spec.clusterIP}"), 30, "address")
        return f"http://{address}:80/predict"

    def set_version(self, name: str, version: str) -> None:
        self.kubectl("patch", "mld", name, "--type=merge", "-p",
                     json.dumps({"spec": {"modelVersion": version}}))

    def check_triggered(self, run: int) -> tuple[float, float]:
        name = f"bad-{run}"
        url = self.deploy(name, None)
        with LoadGenerator(url, rate=20) as load:
            self.wait(lambda: len(load.answers) >= 20, 30, "baseline traffic")
            self.set_version(name, "iris-v2")
            self.wait(lambda: self.status(name).get("phase") == "RolledBack", 180, "rollback")
            detected = time.monotonic()
            self.wait(lambda: len(load.since(detected + 3)) >= 20, 30, "traffic after")
        first_failure = min(a.at for a in load.answers if a.status >= 500)
        last_canary = max(a.at for a in load.answers if a.status >= 500 or a.version == "iris-v2")
        self.kubectl("delete", "mld", name, "--wait=false")
        return detected - first_failure, last_canary - first_failure

    def alert_triggered(self, run: int) -> tuple[float, float]:
        name = f"alerted-{run}"
        url = self.deploy(name, [{"setWeight": 50}, {"pause": {}}])
        with LoadGenerator(url, rate=20) as load:
            self.set_version(name, "iris-v3")
            self.wait(lambda: self.status(name).get("currentWeight") == 50
                      and load.versions(since=time.monotonic() - 2).get("iris-v3", 0) > 0,
                      120, "canary at 50%")
            alert = [{"labels": {"alertname": "BenchAlert", "namespace": self.namespace,
                                 "deployment": name, "severity": "critical"},
                      "annotations": {"summary": "benchmark alert"}}]
            sent = time.monotonic()
            httpx.post(f"{self.cluster.endpoints()['alertmanager']}/api/v2/alerts",
                       json=alert).raise_for_status()
            self.wait(lambda: self.status(name).get("phase") == "RolledBack", 60, "rollback")
            detected = time.monotonic()
            self.wait(lambda: len(load.since(detected + 3)) >= 20, 30, "traffic after")
        last_canary = max(a.at for a in load.answers if a.version == "iris-v3")
        self.kubectl("delete", "mld", name, "--wait=false")
        return detected - sent, max(0.0, last_canary - sent)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    with cluster() as local, tempfile.TemporaryDirectory() as logs:
        namespace = f"bench-{uuid.uuid4().hex[:5]}"
        kubectl(str(local.kubeconfig), "create", "namespace", namespace)
        with OperatorProcess(str(local.kubeconfig), namespace, Path(logs) / "operator.log",
                             env=operator_env(local.endpoints())):
            bench = Bench(local, namespace)
            bench.train("v1", "iris-v1", "{max_iter: 300}")
            bench.train("v2", "iris-v2", "{max_iter: 300, C: 2.0}")
            bench.kubectl("annotate", "mv", "iris-v2", "mlops.dev/fault-error-rate=0.6")
            bench.train("v3", "iris-v3", "{max_iter: 300, C: 0.5}")
            rows = []
            for run in range(args.runs):
                rows.append(("check (errorRate)", *bench.check_triggered(run)))
                rows.append(("alert (Alertmanager)", *bench.alert_triggered(run)))
    print(f"{'trigger':<22} {'detected s':>11} {'traffic back on stable s':>25}")
    for trigger, detected, back in rows:
        print(f"{trigger:<22} {detected:>11.1f} {back:>25.1f}")
    for trigger in ("check (errorRate)", "alert (Alertmanager)"):
        backs = [r[2] for r in rows if r[0] == trigger]
        print(f"median {trigger}: traffic back on stable after "
              f"{statistics.median(backs):.1f}s (goal: under 15 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
