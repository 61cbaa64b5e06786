"""The operator at cluster scale: idle cost and rollout latency with many Deployments.

    python bench/bench_scale.py [--deployments 1000] [--namespaces 20] [--baseline REF]

On a throw-away local cluster with kwok hollow nodes (the real node is cordoned,
so every model server pod lands on a hollow node, Running and Ready without
running anything), for this checkout and then for the operator of git ``REF``
(default: the commit before the event-driven reconcile), side by side:

1. Two ModelVersions per namespace, registered Approved; ``--deployments``
   mlops Deployments (1 replica) spread over ``--namespaces`` namespaces; the
   operator (a process watching all namespaces) brings them all to Healthy.
2. Steady state for ``--steady`` seconds: the operator's CPU (share of one core)
   and RSS, and the API requests it sends per second, by verb, counted inside
   the operator process for both builds alike (``request_counter/``: it wraps
   urllib3 and aiohttp, the kubernetes client's and kopf's HTTP clients).
3. 50 Deployments get the second version at once: seconds from the spec change
   to the canary's first weight in status, and to Healthy on the new version.

Prints one table with both columns and their ratio.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import yaml
from kubernetes import config
from kubernetes.client import CoreV1Api, CustomObjectsApi
from mlops_dev.cluster import NODE_NAME, LocalCluster

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, OperatorProcess, cluster, kubectl, operator_env, wait_for  # noqa: E402

COUNTER = Path(__file__).resolve().parent / "request_counter"
BASELINE = "2581373"  # the last commit with the one-second timer per Deployment
STEPS = [{"setWeight": 50}, {"pause": {"duration": "1s"}}]
SHA = "0" * 64


def version_manifest(namespace: str, number: int) -> dict:
    return {"apiVersion": "mlops.dev/v1alpha1", "kind": "ModelVersion",
            "metadata": {"name": f"bench-v{number}", "namespace": namespace},
            "spec": {"model": "bench", "version": number, "task": "classification",
                     "framework": {"sklearn": "1.5.2"},
                     "artifact": {"uri": "file:///dev/null", "sha256": SHA, "format": "onnx"}}}


def deployment_manifest(namespace: str, name: str) -> dict:
    return {"apiVersion": "mlops.dev/v1alpha1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"modelVersion": "bench-v1", "replicas": 1,
                     "strategy": {"steps": STEPS}}}


class Run:
    """One operator build against one set of namespaces."""

    def __init__(self, local: LocalCluster, label: str, source: Path, args) -> None:
        self.local, self.label, self.source, self.args = local, label, source, args
        self.kubeconfig = str(local.kubeconfig)
        self.namespaces = [f"scale-{label}-{i}" for i in range(args.namespaces)]
        self.figures: dict[str, float] = {}
        self.counts = Path(tempfile.mkdtemp(prefix="bench-counts-")) / f"{label}.json"
        client = config.new_client_from_config(self.kubeconfig)
        self.api, self.core = CustomObjectsApi(client), CoreV1Api(client)

    def kubectl(self, *args: str, input: str | None = None) -> str:
        return kubectl(self.kubeconfig, *args, input=input)

    def setup(self) -> None:
        """Namespaces and Approved ModelVersions (registered before any operator runs)."""
        for namespace in self.namespaces:
            self.kubectl("create", "namespace", namespace)
            for number in (1, 2):
                self.kubectl("apply", "-f", "-",
                             input=json.dumps(version_manifest(namespace, number)))
                self.kubectl("patch", "mv", f"bench-v{number}", "-n", namespace,
                             "--subresource=status", "--type=merge", "-p",
                             json.dumps({"status": {"phase": "Approved",
                                                    "message": "registered by the bench"}}))

    def operator(self, log: Path) -> OperatorProcess:
        env = operator_env(self.local.endpoints())
        # The operator's package and the metric names, in this tree's layout and in an
        # earlier one's (where mlops_telemetry sat in serving_image/).
        env["PYTHONPATH"] = ":".join(str(p) for p in (
            COUNTER, self.source / "operator", self.source / "telemetry",
            self.source / "serving_image"))
        env["MLOPS_BENCH_REQUEST_COUNTS"] = str(self.counts)
        return OperatorProcess(self.kubeconfig, None, log, env=env)

    def requests(self) -> Counter:
        """Requests the operator has sent so far, by verb (written every second)."""
        try:
            return Counter(json.loads(self.counts.read_text()))
        except (OSError, ValueError):
            return Counter()

    def statuses(self) -> dict[tuple[str, str], dict]:
        """Status of every Deployment of this run (one LIST across namespaces)."""
        items = self.api.list_cluster_custom_object("mlops.dev", "v1alpha1", "deployments")
        return {(i["metadata"]["namespace"], i["metadata"]["name"]): i.get("status") or {}
                for i in items["items"] if i["metadata"]["namespace"] in self.namespaces}

    def ready_canaries(self) -> set[tuple[str, str]]:
        """Deployments of this run whose canary pod is Ready now (one LIST)."""
        pods = self.core.list_pod_for_all_namespaces(label_selector="mlops.dev/track=canary")
        return {(p.metadata.namespace, p.metadata.labels["mlops.dev/deployment"])
                for p in pods.items if p.metadata.namespace in self.namespaces and any(
                    c.type == "Ready" and c.status == "True"
                    for c in (p.status.conditions or []))}

    def create_deployments(self) -> float:
        per_namespace = math.ceil(self.args.deployments / len(self.namespaces))
        started = time.monotonic()
        for index, namespace in enumerate(self.namespaces):
            count = min(per_namespace, self.args.deployments - index * per_namespace)
            documents = [deployment_manifest(namespace, f"m{n}") for n in range(count)]
            self.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(documents))

        def healthy() -> bool:
            states = self.statuses()
            return len(states) == self.args.deployments and all(
                s.get("phase") == "Healthy" and (s.get("readyReplicas") or {}).get("stable")
                for s in states.values())

        wait_for(healthy, self.args.timeout, f"{self.args.deployments} Deployments Healthy",
                 interval=2.0)
        return time.monotonic() - started

    def roll_out(self, count: int) -> tuple[list[float], list[float], list[float]]:
        """Give ``count`` Deployments bench-v2 at once: seconds to the first weight, to
        Healthy, and from the canary pod's readiness to the first weight (the operator's
        own reaction; how fast kwok marks a pod Ready is not the operator's doing)."""
        targets = list(self.statuses())[:count]
        changed = {}
        for namespace, name in targets:
            self.kubectl("patch", "mld", name, "-n", namespace, "--type=merge", "-p",
                         json.dumps({"spec": {"modelVersion": "bench-v2"}}))
            changed[(namespace, name)] = time.monotonic()
        first_weight: dict[tuple[str, str], float] = {}
        healthy: dict[tuple[str, str], float] = {}
        canary_ready: dict[tuple[str, str], float] = {}
        reaction: dict[tuple[str, str], float] = {}

        polls: list[float] = []

        def progress() -> bool:
            now = time.monotonic()
            polls.append(now)
            for key in self.ready_canaries():
                canary_ready.setdefault(key, now)
            states = self.statuses()
            for key in targets:
                status = states.get(key) or {}
                if key not in first_weight and (status.get("currentWeight") or 0) > 0:
                    first_weight[key] = now - changed[key]
                    reaction[key] = now - canary_ready.get(key, now)
                if key not in healthy and status.get("phase") == "Healthy" and status.get(
                        "stableVersion") == "bench-v2":
                    healthy[key] = now - changed[key]
                    first_weight.setdefault(key, healthy[key])
            return len(healthy) == len(targets)

        wait_for(progress, self.args.timeout, f"{count} rollouts Healthy", interval=0.2)
        # The reaction is measured to within one poll of pods and statuses.
        self.figures["  (resolution: one poll, s)"] = statistics.median(
            b - a for a, b in zip(polls, polls[1:], strict=False))
        return list(first_weight.values()), list(healthy.values()), list(reaction.values())

    def delete_deployments(self) -> None:
        """Delete the Deployments while the operator runs (it releases their finalizers)."""
        for namespace in self.namespaces:
            self.kubectl("delete", "mld", "--all", "-n", namespace, "--wait=false")
        wait_for(lambda: not self.statuses(), self.args.timeout, "the Deployments to go",
                 interval=2.0)

    def delete(self) -> None:
        for namespace in self.namespaces:
            self.kubectl("delete", "namespace", namespace, "--wait=false")


def process_usage(pid: int) -> tuple[float, float]:
    """(CPU seconds used so far, RSS in MB) of ``pid``."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])
    rss_pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    return ticks / 100.0, rss_pages * 4096 / 1e6


def steady(run: Run, operator: OperatorProcess, seconds: float) -> None:
    cpu_before, _ = process_usage(operator.pid)
    time.sleep(1.5)  # the counts file is rewritten every second
    requests_before, started = run.requests(), time.monotonic()
    rss = []
    while time.monotonic() - started < seconds:
        rss.append(process_usage(operator.pid)[1])
        time.sleep(1.0)
    time.sleep(1.5)
    elapsed = time.monotonic() - started
    cpu_after, _ = process_usage(operator.pid)
    sent = run.requests() - requests_before
    run.figures["operator CPU (share of a core)"] = (cpu_after - cpu_before) / elapsed
    run.figures["operator RSS MB (max)"] = max(rss)
    run.figures["operator API requests/s (all verbs)"] = sum(sent.values()) / elapsed
    for verb in ("GET", "LIST", "WATCH", "POST", "PATCH", "PUT", "DELETE"):
        run.figures[f"  {verb} /s"] = sent.get(verb, 0) / elapsed
    run.figures["  ... per idle Deployment /s"] = sum(sent.values()) / elapsed / (
        run.args.deployments)


def measure(run: Run, logs: Path) -> None:
    run.setup()
    operator = run.operator(logs / f"operator-{run.label}.log")
    operator.start()
    try:
        run.figures["all Healthy after creation (s)"] = run.create_deployments()
        time.sleep(5)  # let the last status writes of the start-up settle
        steady(run, operator, run.args.steady)
        first, healthy, reaction = run.roll_out(run.args.rollouts)
        run.figures[f"first weight p50 (s), {run.args.rollouts} at once"] = statistics.median(first)
        run.figures["first weight p95 (s)"] = statistics.quantiles(first, n=20)[18]
        run.figures["  canary pod Ready -> first weight p50 (s)"] = statistics.median(reaction)
        run.figures["  canary pod Ready -> first weight p95 (s)"] = statistics.quantiles(
            reaction, n=20)[18]
        run.figures["  (resolution: one poll, s)"] = run.figures.pop("  (resolution: one poll, s)")
        run.figures["Healthy on new version p50 (s)"] = statistics.median(healthy)
        run.figures["Healthy on new version p95 (s)"] = statistics.quantiles(healthy, n=20)[18]
        run.delete_deployments()
    finally:
        operator.stop()
    run.delete()


def baseline_tree(ref: str, into: Path) -> Path:
    subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(into), ref],
                   check=True, capture_output=True)
    return into


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--deployments", type=int, default=1000)
    parser.add_argument("--namespaces", type=int, default=20)
    parser.add_argument("--rollouts", type=int, default=50)
    parser.add_argument("--steady", type=float, default=60.0)
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument("--baseline", default=BASELINE, help="git ref to compare; '' for none")
    args = parser.parse_args()
    hollow = math.ceil(args.deployments * 2 / 100) + 1  # room for canaries during rollouts
    with cluster(hollow_nodes=hollow) as local, tempfile.TemporaryDirectory() as scratch:
        kubectl(str(local.kubeconfig), "cordon", NODE_NAME)
        runs = [Run(local, "new", REPO, args)]
        if args.baseline:
            runs.append(Run(local, "base", baseline_tree(args.baseline, Path(scratch) / "b"),
                            args))
        try:
            for run in runs:
                print(f"measuring {run.label} ({run.source}) ...", flush=True)
                measure(run, Path(scratch))
        finally:
            if args.baseline:
                subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force",
                                str(Path(scratch) / "b")], check=False)
    print(f"\n{args.deployments} Deployments in {args.namespaces} namespaces, "
          f"{hollow} hollow nodes, steady window {args.steady:.0f}s")
    header = f"{'':<44}{'this change':>14}"
    if len(runs) > 1:
        header += f"{'baseline ' + args.baseline:>20}{'ratio':>10}"
    print(header)
    for key, value in runs[0].figures.items():
        line = f"{key:<44}{value:>14.3f}"
        if len(runs) > 1:
            other = runs[1].figures.get(key, float("nan"))
            ratio = other / value if value else float("inf")
            line += f"{other:>20.3f}{ratio:>9.1f}x"
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
