"""Wall time of an iris TrainingJob end to end vs. the same training run directly.

    python bench/bench_training.py [--runs 3]

Uses a throw-away local cluster. Prints, for each run: apply -> ModelVersion
Approved on the cluster (operator, Job, pod, trainer, artifacts, ModelVersion,
gate), the same training as a
process (`mlops-runtime train`, interpreter start and imports included), and
in-process (the trainer's `main` called from Python), and the ratios.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, OperatorProcess, cluster, kubectl, wait_for  # noqa: E402

EXAMPLE = REPO / "manifests/examples/trainingjob-iris.yaml"


def training_spec() -> dict:
    import yaml

    spec = yaml.safe_load(EXAMPLE.read_text())["spec"]
    return {key: spec[key] for key in ("model", "dataset", "estimator") if key in spec}


def on_cluster(kubeconfig: str, namespace: str, index: int) -> float:
    manifest = EXAMPLE.read_text().replace("name: iris-logreg", f"name: iris-run-{index}")
    started = time.perf_counter()
    kubectl(kubeconfig, "apply", "-n", namespace, "-f", "-", input=manifest)
    version = f"iris-v{index + 1}"
    wait_for(lambda: kubectl(kubeconfig, "get", "mv", version, "-n", namespace, "-o",
                             "jsonpath={.status.phase}", check=False) == "Approved",
             120, f"{version} Approved", interval=0.05)
    return time.perf_counter() - started


def as_process(spec: dict) -> float:
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        subprocess.run(["mlops-runtime", "train", "--spec-json", json.dumps(spec),
                        "--output-uri", f"file://{out}"], check=True, capture_output=True,
                       env={"MLOPS_TERMINATION_LOG": f"{out}/message", "PATH": "/usr/bin:/bin"
                            f":{Path(sys.executable).parent}"})
        return time.perf_counter() - started


def in_process(spec: dict) -> float:
    import os

    from mlops_runtime.trainer.main import main as train

    with tempfile.TemporaryDirectory() as out, open(os.devnull, "w") as quiet:
        os.environ["MLOPS_TERMINATION_LOG"] = f"{out}/message"
        started = time.perf_counter()
        with contextlib.redirect_stdout(quiet):
            code = train(["--spec-json", json.dumps(spec), "--output-uri", f"file://{out}"])
        elapsed = time.perf_counter() - started
        assert code == 0
        return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    spec = training_spec()
    in_process(spec)  # warm imports once, as a long-lived Python session would be
    rows = []
    with cluster() as local, tempfile.TemporaryDirectory() as logs:
        kubeconfig = str(local.kubeconfig)
        namespace = f"bench-{uuid.uuid4().hex[:6]}"
        kubectl(kubeconfig, "create", "namespace", namespace)
        with OperatorProcess(kubeconfig, namespace, Path(logs) / "operator.log"):
            for index in range(args.runs):
                rows.append((on_cluster(kubeconfig, namespace, index), as_process(spec),
                             in_process(spec)))
        kubectl(kubeconfig, "delete", "namespace", namespace, "--wait=false")
    print(f"{'run':>3} {'cluster s':>10} {'process s':>10} {'in-proc s':>10} "
          f"{'cluster/process':>16} {'cluster/in-proc':>16}")
    for index, (cluster_s, process_s, inproc_s) in enumerate(rows):
        print(f"{index:>3} {cluster_s:>10.2f} {process_s:>10.2f} {inproc_s:>10.3f} "
              f"{cluster_s / process_s:>16.1f} {cluster_s / inproc_s:>16.1f}")
    medians = [statistics.median(column) for column in zip(*rows, strict=True)]
    print(f"{'med':>3} {medians[0]:>10.2f} {medians[1]:>10.2f} {medians[2]:>10.3f} "
          f"{medians[0] / medians[1]:>16.1f} {medians[0] / medians[2]:>16.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
