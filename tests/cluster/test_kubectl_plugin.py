"""``kubectl mlops`` against the local cluster, found by kubectl on the PATH as a user's
plugin is: status, get, promote, undo, abort, history and diff on a real rollout."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.cluster.conftest import OperatorProcess, wait_for
from tests.cluster.test_status_for_tools import iris_job, mlops_deployment
from tests.cluster.test_training import apply, get

pytestmark = pytest.mark.cluster


def plugin(kubeconfig: str, namespace: str, *args: str,
           timeout: float = 330) -> subprocess.CompletedProcess[str]:
    """``kubectl mlops ARGS`` with the same kubeconfig and discovery cache as the tests'
    own kubectl calls (tests.conftest.kubectl)."""
    cache = Path(kubeconfig).resolve().parent / "kubectl-cache" / Path(kubeconfig).stem
    return subprocess.run(["kubectl", "mlops", *args, "--kubeconfig", kubeconfig,
                           "-n", namespace, "--cache-dir", str(cache)],
                          capture_output=True, text=True, timeout=timeout, check=False)


def spec(kubeconfig: str, namespace: str) -> dict:
    return get(kubeconfig, namespace, "mld", "serve")["spec"]


def annotations(kubeconfig: str, namespace: str) -> dict:
    return get(kubeconfig, namespace, "mld", "serve")["metadata"].get("annotations") or {}


def stable(kubeconfig: str, namespace: str) -> str | None:
    return (get(kubeconfig, namespace, "mld", "serve").get("status") or {}).get("stableVersion")


def test_the_plugin_follows_and_steers_a_rollout(
    kubeconfig: str, namespace: str, operator: OperatorProcess,
) -> None:
    apply(kubeconfig, namespace, iris_job("iris-a"))
    assert plugin(kubeconfig, namespace, "status", "tj/iris-a").returncode == 0
    apply(kubeconfig, namespace,
          iris_job("iris-b").replace("max_iter: 300", "max_iter: 300, C: 0.5"))
    done = plugin(kubeconfig, namespace, "status", "tj/iris-b")
    assert done.returncode == 0 and done.stdout.startswith("tj/iris-b: Succeeded"), done
    apply(kubeconfig, namespace, mlops_deployment("serve", "iris-v1"))
    done = plugin(kubeconfig, namespace, "status", "mld/serve", "--timeout", "2m")
    assert done.returncode == 0, (done.stdout, done.stderr, operator.log())

    apply(kubeconfig, namespace, mlops_deployment("serve", "iris-v2"))
    wait_for(lambda: (get(kubeconfig, namespace, "mld", "serve").get("status") or {})
             .get("phase") == "Paused", 60, "the canary to pause", operator.log)
    tree = plugin(kubeconfig, namespace, "get", "serve").stdout
    assert tree.startswith("Deployment serve  Paused  step 2/2"), tree
    assert "stable iris-v1  weight 50%" in tree and "canary iris-v2  weight 50%" in tree
    assert "pod serve-canary-" in tree
    paused = plugin(kubeconfig, namespace, "status", "mld/serve", "--timeout", "1s")
    assert paused.returncode == 2  # still in progress

    promoted = plugin(kubeconfig, namespace, "promote", "serve")
    assert promoted.returncode == 0, (promoted.stdout, promoted.stderr)
    assert stable(kubeconfig, namespace) == "iris-v2"
    assert not spec(kubeconfig, namespace).get("promote")  # one-shot: the spec is untouched
    assert "mlops.dev/promote" not in annotations(kubeconfig, namespace)  # and spent

    undone = plugin(kubeconfig, namespace, "undo", "serve")
    assert undone.returncode == 0 and "iris-v1" in undone.stdout, undone
    wait_for(lambda: stable(kubeconfig, namespace) == "iris-v1", 90, "the revert to iris-v1",
             operator.log)

    apply(kubeconfig, namespace, mlops_deployment("serve", "iris-v2"))
    wait_for(lambda: (get(kubeconfig, namespace, "mld", "serve").get("status") or {})
             .get("canaryVersion") == "iris-v2", 60, "the second canary", operator.log)
    aborted = plugin(kubeconfig, namespace, "abort", "serve")
    assert aborted.returncode == 0, (aborted.stdout, aborted.stderr)
    assert not spec(kubeconfig, namespace).get("abort")  # one-shot too
    assert "mlops.dev/abort" not in annotations(kubeconfig, namespace)
    status = get(kubeconfig, namespace, "mld", "serve")["status"]
    assert (status["phase"], status["stableVersion"]) == ("RolledBack", "iris-v1")
    assert plugin(kubeconfig, namespace, "status", "mld/serve").returncode == 1

    events = [line.split()[1] for line in
              plugin(kubeconfig, namespace, "history", "serve").stdout.splitlines()[1:]]
    assert events[0] == "Deployed" and "Promoted" in events and events[-1] == "RolledBack"
    versions = plugin(kubeconfig, namespace, "history", "--model", "iris").stdout
    assert [line.split()[0] for line in versions.splitlines()[1:]] == ["iris-v1", "iris-v2"]
    diff = {line.split()[1]: line for line in
            plugin(kubeconfig, namespace, "diff", "iris-v1", "iris-v2").stdout.splitlines()[1:]
            if line.startswith("*")}
    assert "params.estimatorParams.C" in diff and "dataset.uri" not in diff
    missing = plugin(kubeconfig, namespace, "get", "nothing")
    assert missing.returncode == 1 and "not found" in missing.stderr
