"""``mlops-dev demo``: the whole product on the local cluster, as a story.

1. train iris-v1 with a TrainingJob that retrains on input drift; a Deployment that
   follows the model serves it; steady traffic flows through the Service;
2. train a better iris-v2; the Deployment shadows it (copies of live requests, its
   answers compared and discarded), then canaries, analyses and promotes it;
3. train iris-v3 on petal length in millimetres: it passes its offline quality gate,
   but its shadow disagrees with the live version, and it is rolled back before it
   answers a single user;
4. a client sends millimetres for a while: the InputDrift alert fires (Prometheus ->
   Alertmanager -> the operator), a retraining run records iris-v4, which is shadowed,
   canaried and promoted by itself;
5. print a timeline and write it as a PNG chart; stop everything (unless --keep).

Exits non-zero if the story does not happen as told.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from mlops_operator.domain.vocabulary import VERSION_JUDGED, RolloutPhase, VersionPhase

from mlops_dev.cluster import LocalCluster
from mlops_dev.kubebuild import REPO_ROOT
from mlops_dev.load import LoadGenerator, iris_rows
from mlops_dev.processes import (
    KubectlError,
    OperatorProcess,
    kubectl,
    operator_env,
    wait_for,
)

EXAMPLES = REPO_ROOT / "manifests" / "examples"
DEPLOYMENT = "iris-latest"  # deployment-iris-follow.yaml
RETRAINING = "iris-nightly"  # trainingjob-iris-retrain.yaml


class StoryFailed(Exception):
    """The demo did not go as described."""


def story_kubectl(kubeconfig: str, *args: str, input: str | None = None) -> str:
    """kubectl's output; a failure ends the story with kubectl's own message."""
    try:
        return kubectl(kubeconfig, *args, input=input).stdout
    except KubectlError as error:
        raise StoryFailed(str(error)) from None


@dataclass
class Sample:
    """One observation of the Deployment for the timeline."""

    at: float
    phase: str
    stable: str | None
    canary: str | None
    weight: int
    checks: dict[str, float] = field(default_factory=dict)


class Demo:
    def __init__(self, cluster: LocalCluster, namespace: str, out: Path) -> None:
        self.cluster, self.namespace, self.out = cluster, namespace, out
        self.kubeconfig = str(cluster.kubeconfig)
        self.started = time.monotonic()
        self.samples: list[Sample] = []
        self.events: list[tuple[float, str]] = []
        self.load: LoadGenerator | None = None
        self._last_line = ""

    # ---- helpers ---------------------------------------------------------------
    def say(self, text: str) -> None:
        elapsed = time.monotonic() - self.started
        self.events.append((elapsed, text))
        print(f"[{elapsed:6.1f}s] {text}", flush=True)

    def kubectl(self, *args: str, input: str | None = None) -> str:
        return story_kubectl(self.kubeconfig, "-n", self.namespace, *args, input=input)

    def get(self, kind: str, name: str) -> dict:
        try:
            return json.loads(self.kubectl("get", kind, name, "-o", "json"))
        except StoryFailed:
            return {}

    def wait(self, check: Callable[[], bool], timeout: float, what: str) -> None:
        try:
            wait_for(check, timeout, what, interval=0.5)
        except TimeoutError as error:
            raise StoryFailed(str(error).splitlines()[0]) from None

    # ---- story steps -------------------------------------------------------------
    def train(self, manifest: str, version: str) -> None:
        self.say(f"kubectl apply -f manifests/examples/{manifest}")
        self.kubectl("apply", "-f", str(EXAMPLES / manifest))
        self.train_judged(version)

    def train_judged(self, version: str) -> None:
        """Wait until ``version`` is trained and judged by its gate; it must pass."""

        def judged() -> bool:
            return (self.get("mv", version).get("status") or {}).get("phase") in VERSION_JUDGED

        self.wait(judged, 120, f"{version} to be trained and judged")
        mv = self.get("mv", version)
        metrics = ", ".join(f"{k}={v:.3f}" for k, v in sorted(mv["spec"]["metrics"].items()))
        self.say(f"{version} {mv['status']['phase']} by its quality gate ({metrics})")
        if mv["status"]["phase"] != VersionPhase.APPROVED:
            raise StoryFailed(f"{version} was not Approved: {mv['status']}")

    def watch(self, name: str) -> Sample:
        status = self.get("mld", name).get("status") or {}
        # The step in progress, or (after a rollback) the last analysis that decided it.
        analysis = status.get("analysis") or (
            status.get("lastAnalysis") if status.get("phase") == RolloutPhase.ROLLED_BACK else None
        ) or {}
        checks = {c["name"]: c["lastValue"] for c in analysis.get("checks", [])
                  if c.get("lastValue") is not None}
        sample = Sample(time.monotonic() - self.started, status.get("phase", ""),
                        status.get("stableVersion"), status.get("canaryVersion"),
                        int(status.get("currentWeight") or 0), checks)
        self.samples.append(sample)
        traffic = ""
        if self.load is not None:
            recent = self.load.versions(since=time.monotonic() - 3)
            total = sum(recent.values()) or 1
            traffic = " ".join(f"{v}:{100 * n // total}%" for v, n in sorted(
                recent.items(), key=lambda item: str(item[0])))
        values = " ".join(f"{k}={v:.3f}" for k, v in checks.items())
        weight = f"weight={sample.weight}%"
        effective = status.get("effectiveWeight")
        if effective is not None and effective != sample.weight:
            weight += f" (pods give {effective}%)"  # e.g. while a promotion scales up
        line = (f"{sample.phase:<11} stable={sample.stable} canary={sample.canary or '-'} "
                f"{weight} {values}")
        if sample.phase == RolloutPhase.PAUSED and status.get("pauseReason"):
            line += f" ({status['pauseReason']})"
        if line != self._last_line:
            self.say(f"{line}  | traffic {traffic}")
            self._last_line = line
        return sample

    def roll_out(self, name: str, version: str, expect: str) -> dict:
        """The Deployment follows the model: a newly Approved version rolls out by itself."""
        self.say(f"{name} follows model iris: {version} rolls out by itself, shadow first")
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            sample = self.watch(name)
            healthy = sample.phase == RolloutPhase.HEALTHY
            if expect == "promoted" and healthy and sample.stable == version:
                break
            if expect == "rolled back" and sample.phase == RolloutPhase.ROLLED_BACK:
                break
            if sample.phase == RolloutPhase.ROLLED_BACK and expect == "promoted":
                raise StoryFailed(f"{version} was rolled back, expected a promotion")
            time.sleep(0.5)
        else:
            raise StoryFailed(f"{version} was not {expect} within 180 s")
        status = self.get("mld", name)["status"]
        if expect == "rolled back":
            self.say(f"{version} rolled back by the operator: {status.get('rollbackReason')}")
        else:
            self.say(f"{version} promoted: it is the stable version now")
        return status

    def deploy(self) -> None:
        """The following Deployment, applied while iris-v1 trains: it serves the model's
        first Approved version."""
        self.say("kubectl apply -f manifests/examples/deployment-iris-follow.yaml")
        self.kubectl("apply", "-f", str(EXAMPLES / "deployment-iris-follow.yaml"))

    def serving(self) -> str:
        """Wait until the Deployment serves; the URL of its Service."""
        self.wait(lambda: (self.get("mld", DEPLOYMENT).get("status") or {}).get("phase")
                  == RolloutPhase.HEALTHY, 120, f"the {DEPLOYMENT} Deployment to be Healthy")
        address = self.get("svc", DEPLOYMENT)["spec"]["clusterIP"]
        return f"http://{address}:80/predict"

    def run(self) -> None:
        self.say("kubectl apply -f manifests/examples/trainingjob-iris-retrain.yaml")
        self.kubectl("apply", "-f", str(EXAMPLES / "trainingjob-iris-retrain.yaml"))
        self.deploy()
        self.train_judged("iris-v1")
        url = self.serving()
        self.say(f"iris-v1 serving; sending 20 requests/s of real iris rows to {url}")
        self.load = LoadGenerator(url, rate=20, max_seconds=900)
        self.load.__enter__()
        try:
            self.train("trainingjob-iris-v2.yaml", "iris-v2")
            self.roll_out(DEPLOYMENT, "iris-v2", "promoted")
            self.train("trainingjob-iris-skewed.yaml", "iris-v3")
            before = time.monotonic()
            status = self.roll_out(DEPLOYMENT, "iris-v3", "rolled back")
            if status.get("stableVersion") != "iris-v2":
                raise StoryFailed(f"stable should still be iris-v2: {status}")
            served = self.load.versions(since=before)
            if "iris-v3" in served:
                raise StoryFailed(f"iris-v3 answered users while shadowed: {dict(served)}")
            self.say(f"iris-v3 answered none of the {sum(served.values())} requests since it "
                     f"was trained; iris-v2 serves on")
            self.drift_and_retrain(url)
        finally:
            self.load.stop()
        failed = sum(n for code, n in self.load.statuses().items() if code != 200)
        self.say(f"{len(self.load.answers)} requests during the demo, {failed} failed")

    def drift_and_retrain(self, url: str) -> None:
        """Inputs in millimetres for a while: InputDrift fires, a retraining run records
        the next version, which the Deployment rolls out by itself."""
        self.say("a client starts sending petal length in millimetres: the inputs drift")
        rows = [{**row, "petal length (cm)": row["petal length (cm)"] * 10}
                for row in iris_rows(seed=1)]

        def retrain() -> dict:
            return (self.get("tj", RETRAINING).get("status") or {}).get("retrain") or {}

        with LoadGenerator(url, rate=10, rows=rows, max_seconds=120):
            self.wait(lambda: bool(retrain().get("lastRun")), 90,
                      "the InputDrift alert to start a retraining run")
        trigger = retrain().get("lastTrigger") or {}
        self.say(f"alert {trigger.get('alert', 'InputDrift')} fired -> retraining run "
                 f"{retrain()['lastRun']} started; the client fixed its units")
        self.train_judged("iris-v4")
        self.roll_out(DEPLOYMENT, "iris-v4", "promoted")

    # ---- report ------------------------------------------------------------------
    def report(self) -> Path:
        """Timeline chart: canary weight, traffic share per version, check values."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        self.out.mkdir(parents=True, exist_ok=True)
        figure, (top, bottom) = plt.subplots(2, 1, figsize=(11, 7), sharex=True)
        times = [s.at for s in self.samples]
        top.step(times, [s.weight for s in self.samples], where="post", label="canary weight %",
                 color="black", linewidth=2)
        if self.load is not None and self.load.answers:
            origin = self.started
            buckets: dict[int, dict[str, int]] = {}
            for answer in self.load.answers:
                second = int(answer.at - origin)
                key = answer.version or f"HTTP {answer.status}"
                buckets.setdefault(second, {}).setdefault(key, 0)
                buckets[second][key] += 1
            for version in sorted({k for b in buckets.values() for k in b}):
                xs = sorted(buckets)
                ys = [100 * buckets[x].get(version, 0) / sum(buckets[x].values()) for x in xs]
                top.plot(xs, ys, label=f"traffic to {version} %", alpha=0.7)
        top.set_ylabel("percent")
        top.legend(loc="upper left", fontsize=8)
        top.set_title("mlops-operator demo: iris-v2 promoted, iris-v3 stopped in its shadow, "
                      "iris-v4 retrained on drift and promoted")
        thresholds = {c["name"]: c.get("threshold") for c in (
            self.get("mld", DEPLOYMENT).get("spec", {}).get("strategy", {}).get("analysis", {})
            .get("checks", []))}
        for name in sorted({k for s in self.samples for k in s.checks}):
            # NaN where the check was not measured, so separate rollouts are not joined.
            values = [s.checks.get(name, float("nan")) for s in self.samples]
            line, = bottom.plot(times, values, marker=".", label=name)
            if thresholds.get(name) is not None:
                bottom.axhline(thresholds[name], color=line.get_color(), linestyle=":",
                               linewidth=1, label=f"{name} threshold")
        bottom.set_ylabel("check value")
        bottom.set_xlabel("seconds since the demo started")
        bottom.legend(loc="upper left", fontsize=8)
        for at, text in self.events:
            if "rolled back by" in text or "promoted" in text:
                for axis in (top, bottom):
                    axis.axvline(at, color="grey", linestyle="--", linewidth=0.8)
        figure.tight_layout()
        path = self.out / "timeline.png"
        figure.savefig(path, dpi=100)
        plt.close(figure)
        (self.out / "timeline.txt").write_text(
            "\n".join(f"{at:7.1f}s  {text}" for at, text in self.events) + "\n")
        return path


class OperatorPod:
    """The operator as a pod of its own image on the local node, from the kind manifests.

    Same manifests and steps as on kind (``kubectl apply -k manifests/operator``, the
    webhook token's Secret); only Prometheus's address differs (it runs on the node,
    not in the cluster), and Alertmanager is pointed at the operator's Service.
    """

    def __init__(self, cluster: LocalCluster) -> None:
        self.cluster = cluster
        self.kubeconfig = str(cluster.kubeconfig)
        self.endpoints = cluster.endpoints()

    def kubectl(self, *args: str, input: str | None = None) -> str:
        return story_kubectl(self.kubeconfig, *args, input=input)

    def start(self) -> None:
        self.kubectl("apply", "-k", str(REPO_ROOT / "manifests" / "operator"))
        secret = self.kubectl("-n", "mlops-system", "create", "secret", "generic",
                              "mlops-alert-webhook", "--from-file=token="
                              + self.endpoints["alertWebhookTokenFile"],
                              "--dry-run=client", "-o", "yaml")
        self.kubectl("apply", "-f", "-", input=secret)
        self.kubectl("-n", "mlops-system", "set", "env", "deployment/mlops-operator",
                     f"MLOPS_PROMETHEUS_URL={self.endpoints['prometheus']}")
        self.kubectl("-n", "mlops-system", "rollout", "status", "deployment/mlops-operator",
                     "--timeout=90s")
        address = self.kubectl("-n", "mlops-system", "get", "service", "mlops-operator-alerts",
                               "-o", "jsonpath={.spec.clusterIP}")
        self.cluster.route_alerts(f"http://{address}:8085/alerts")

    def stop(self) -> None:
        self.cluster.route_alerts()
        # Foreground: the Deployment is gone only once its pods are, so no operator pod
        # still acts on what the caller does next.
        self.kubectl("-n", "mlops-system", "delete", "deployment", "mlops-operator",
                     "--cascade=foreground", "--wait=true", "--timeout=60s")

    def log(self) -> str:
        return self.kubectl("-n", "mlops-system", "logs", "deployment/mlops-operator",
                            "--tail=200")


def main(argv: list[str] | None = None, home: Path | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mlops-dev demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keep", action="store_true",
                        help="leave the cluster, operator and demo namespace running")
    parser.add_argument("--operator", choices=("pod", "process"), default="pod",
                        help="run the operator as a pod of its image (default) or a process")
    args = parser.parse_args(argv)
    cluster = LocalCluster(home)
    started = time.monotonic()
    was_running = cluster.status()["apiserverReady"]
    print(f"bringing up the local cluster in {cluster.home} ...", flush=True)
    cluster.up()
    kubeconfig = str(cluster.kubeconfig)
    kubectl(kubeconfig, "apply", "-f", str(REPO_ROOT / "crds"))
    kubectl(kubeconfig, "wait", "--for=condition=Established", "crd", "--all")
    namespace = f"mlops-demo-{uuid.uuid4().hex[:5]}"
    kubectl(kubeconfig, "create", "namespace", namespace)
    out = cluster.home / "demo" / namespace
    out.mkdir(parents=True, exist_ok=True)
    demo = Demo(cluster, namespace, out)
    operator: OperatorPod | OperatorProcess
    if args.operator == "pod":
        operator = OperatorPod(cluster)
        where = "as a pod: kubectl -n mlops-system logs deploy/mlops-operator"
    else:
        operator = OperatorProcess(str(cluster.kubeconfig), namespace, out / "operator.log",
                                   env=operator_env(cluster.endpoints()))
        where = f"as a process, log {out / 'operator.log'}"
    code = 0
    try:
        operator.start()
        demo.say(f"cluster ready, operator running {where}; namespace {namespace}")
        demo.run()
    except StoryFailed as error:
        demo.say(f"DEMO FAILED: {error}")
        with contextlib.suppress(StoryFailed):
            (out / "operator.log").write_text(operator.log())
        code = 1
    finally:
        path = demo.report()
        print(f"\ntimeline chart: {path}\ntimeline text:  {out / 'timeline.txt'}")
        if args.keep:
            print(f"kept running: export KUBECONFIG={cluster.kubeconfig}; "
                  f"kubectl get mlops -n {namespace}")
        else:
            with contextlib.suppress(StoryFailed):
                operator.stop()
            kubectl(kubeconfig, "delete", "namespace", namespace, "--wait=false", check=False)
            if not was_running:
                cluster.down(quiet=True)
    print(f"demo {'succeeded' if code == 0 else 'FAILED'} in {time.monotonic() - started:.0f}s")
    return code
