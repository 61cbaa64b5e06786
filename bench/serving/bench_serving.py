#!/usr/bin/env python
"""Benchmark the model server against Seldon MLServer on iris, one row per request.

Why: small requests are what the canary analysis and most clients send, so the
per-request overhead of the server matters more than the model. Both servers get
CPU 0 (``taskset -c 0``), wrk gets CPU 1, the same connections and the same
Open Inference Protocol body. MLServer runs its own scikit-learn model (joblib);
ours runs the ONNX conversion of the same fitted estimator.

MLServer is looked up as ``--mlserver PATH``, then ``mlserver`` on PATH, then the
virtualenv that ``--install-mlserver`` creates (``~/.cache/mlops-operator/
mlserver-venv``; MLServer's pins would fight this project's if installed next to
it). Without MLServer the script says so and prints our figures only.

    python bench/serving/bench_serving.py [--quick] [--install-mlserver]
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
import joblib
import numpy as np
import sklearn
from skl2onnx import to_onnx
from skl2onnx.common.data_types import FloatTensorType
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

SERVER_CPU = "0"
CLIENT_CPU = "1"
MLSERVER_VERSION = "1.7.1"
DEFAULT_VENV = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / (
    "mlops-operator/mlserver-venv"
)
ROW = [5.1, 3.5, 1.4, 0.2]
V2_BODY = json.dumps(
    {"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": ROW}]}
)
PREDICT_BODY = json.dumps({"instances": [ROW]})
WRK_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = os.getenv("BENCH_BODY")
wrk.path = os.getenv("BENCH_PATH")
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"non2xx":%d,"errors":%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.status, e.connect + e.read + e.write + e.timeout))
end
"""


@dataclass
class Measurement:
    """One wrk run."""

    server: str
    model: str
    mode: str
    connections: int
    rps: float
    p50_ms: float
    p99_ms: float
    failures: int
    cpu_us: float  # server CPU time (all its processes) per request: robust to a noisy host


def free_port() -> int:
    """A currently free port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def process(cmd: list[str], log: Path, ready_url: str, timeout: float) -> Iterator[int]:
    """Run ``cmd`` in its own process group until the block ends; yields the group id."""
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=2.0) as client:
            while True:
                if proc.poll() is not None:
                    tail = log.read_text()[-2000:]
                    raise RuntimeError(f"{' '.join(cmd)} exited with {proc.returncode}:\n{tail}")
                with contextlib.suppress(httpx.TransportError):
                    if client.get(ready_url).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"not ready within {timeout}s: {' '.join(cmd)}")
                time.sleep(0.1)
        yield proc.pid
    finally:
        stop(proc)


def group_cpu_seconds(pgid: int) -> float:
    """utime + stime of every live process in a process group (MLServer has workers)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid:  # fields[0] is state; pgrp is the 5th field of stat
                total += int(fields[11]) + int(fields[12])
    return total / ticks


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group we started, then SIGKILL it if it lingers."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # MLServer workers may outlive their parent
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)


def run_wrk(port: int, path: str, body: str, connections: int, seconds: float, lua: Path) -> Any:
    """One wrk run pinned to the client CPU; returns the JSON our Lua ``done`` prints."""
    env = dict(os.environ, BENCH_BODY=body, BENCH_PATH=path)
    cmd = ["taskset", "-c", CLIENT_CPU, "wrk", "-t1", f"-c{connections}"]
    cmd += [
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "5s",
        "-s",
        str(lua),
        f"http://127.0.0.1:{port}",
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=seconds + 60)
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    if out.returncode != 0 or not lines:
        raise RuntimeError(f"wrk failed: {out.stdout}\n{out.stderr}")
    return json.loads(lines[-1])


def measure(
    server: str,
    model: str,
    mode: str,
    target: tuple[int, int],
    path: str,
    body: str,
    conns: int,
    args: Any,
) -> Measurement:
    """Measure and print one row as soon as it is known; target is (port, pgid)."""
    port, pgid = target
    cpu_before = group_cpu_seconds(pgid)
    r = run_wrk(port, path, body, conns, args.seconds, args.lua)
    cpu = group_cpu_seconds(pgid) - cpu_before
    result = Measurement(
        server=server,
        model=model,
        mode=mode,
        connections=conns,
        rps=r["requests"] / (r["duration_us"] / 1e6),
        p50_ms=r["p50_us"] / 1000,
        p99_ms=r["p99_us"] / 1000,
        failures=r["non2xx"] + r["errors"],
        cpu_us=cpu * 1e6 / max(1, r["requests"]),
    )
    print(f"  {server:9} {model:4} {mode:22} c={conns:<3} {result.rps:9.0f} req/s", flush=True)
    return result


def train(workdir: Path) -> dict[str, dict[str, Any]]:
    """Fit both models; write ONNX (ours, trainer contract) and joblib (MLServer)."""
    iris = load_iris()
    x = iris.data.astype(np.float32)
    schema = {
        "features": [{"name": n, "type": "float"} for n in iris.feature_names],
        "task": "classification",
        "classes": [0, 1, 2],
        "target": "target",
    }
    models = {
        "LR": make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)),
        "RF": RandomForestClassifier(n_estimators=100, random_state=0),
    }
    out: dict[str, dict[str, Any]] = {}
    for name, estimator in models.items():
        estimator.fit(x, iris.target)
        final = estimator.steps[-1][1] if hasattr(estimator, "steps") else estimator
        onx = to_onnx(
            estimator,
            initial_types=[("input", FloatTensorType([None, 4]))],
            options={type(final): {"zipmap": False}},
            target_opset=17,
        )
        prop = onx.metadata_props.add()
        prop.key, prop.value = "mlops.input_schema", json.dumps(schema)
        data = onx.SerializeToString()
        onnx_path = workdir / f"{name}.onnx"
        onnx_path.write_bytes(data)
        mls_dir = workdir / "mlserver" / name
        mls_dir.mkdir(parents=True)
        joblib.dump(estimator, mls_dir / "model.joblib")
        settings = {
            "name": "iris",
            "implementation": "mlserver_sklearn.SKLearnModel",
            "parameters": {"uri": "./model.joblib", "version": "1"},
        }
        (mls_dir / "model-settings.json").write_text(json.dumps(settings))
        out[name] = {"onnx": onnx_path, "sha256": hashlib.sha256(data).hexdigest(), "mls": mls_dir}
    return out


def find_mlserver(args: Any) -> tuple[str | None, str]:
    """Path of the mlserver executable, or None and the reason."""
    if args.install_mlserver and not (DEFAULT_VENV / "bin" / "mlserver").exists():
        print(f"installing MLServer {MLSERVER_VERSION} into {DEFAULT_VENV} ...", flush=True)
        try:
            subprocess.run([sys.executable, "-m", "venv", str(DEFAULT_VENV)], check=True)
            pip = [str(DEFAULT_VENV / "bin" / "pip"), "install", "-q"]
            pins = [f"mlserver=={MLSERVER_VERSION}", f"mlserver-sklearn=={MLSERVER_VERSION}"]
            pins += ["uvloop<0.22", f"scikit-learn=={sklearn.__version__}"]
            subprocess.run(pip + pins, check=True, timeout=1800)
        except (subprocess.SubprocessError, OSError) as error:
            return None, f"could not install MLServer: {error}"
    for candidate in (args.mlserver, shutil.which("mlserver"), DEFAULT_VENV / "bin" / "mlserver"):
        if candidate and Path(candidate).exists():
            return str(candidate), ""
    return None, (
        "MLServer not found (pass --mlserver PATH or --install-mlserver); printing our figures only"
    )


def mlserver_sklearn_version(mlserver: str) -> str:
    """scikit-learn version next to MLServer (must match the pickled models)."""
    python = Path(mlserver).parent / "python"
    code = "import sklearn; print(sklearn.__version__)"
    out = subprocess.run([str(python), "-c", code], capture_output=True, text=True, timeout=60)
    return out.stdout.strip() or "unknown"


def ours(
    model: dict[str, Any], workdir: Path, tag: str, *extra: str
) -> tuple[contextlib.AbstractContextManager[int], int]:
    """Context manager and port for one of our servers pinned to the server CPU."""
    port = free_port()
    cmd = ["taskset", "-c", SERVER_CPU, sys.executable, "-m", "mlops_runtime.cli", "serve"]
    cmd += ["--model-uri", model["onnx"].as_uri(), "--sha256", model["sha256"]]
    cmd += ["--model-name", "iris", "--host", "127.0.0.1", "--port", str(port)]
    cmd += ["--log-level", "warning", *extra]
    ready = f"http://127.0.0.1:{port}/readyz"
    return process(cmd, workdir / f"ours-{tag}.log", ready, 60), port


def mlserver_proc(
    mlserver: str, model: dict[str, Any], workdir: Path, args: Any
) -> tuple[Any, int]:
    """Context manager and port for MLServer pinned to the server CPU."""
    port, grpc, metrics = free_port(), free_port(), free_port()
    settings = {
        "host": "127.0.0.1",
        "http_port": port,
        "grpc_port": grpc,
        "metrics_port": metrics,
        "parallel_workers": args.mlserver_workers,
        "debug": False,
    }
    # MLServer loads every model folder below the root; give it only this one.
    root = workdir / f"mlserver-root-{model['mls'].name}"
    root.mkdir(exist_ok=True)
    if not (root / "iris").exists():
        shutil.copytree(model["mls"], root / "iris")
    (root / "settings.json").write_text(json.dumps(settings))
    cmd = ["taskset", "-c", SERVER_CPU, mlserver, "start", str(root)]
    ready = f"http://127.0.0.1:{port}/v2/models/iris/ready"
    return process(cmd, workdir / f"mlserver-{model['mls'].name}.log", ready, 180), port


def warm(port: int, path: str, body: str, args: Any) -> None:
    """Short unmeasured run so both servers start measured runs warm."""
    run_wrk(port, path, body, args.connections, args.warmup, args.lua)


def ratio(a: float | None, b: float | None) -> str:
    """a/b for the table, or n/a."""
    return f"{a / b:.2f}x" if a is not None and b else "n/a"


def main(argv: list[str] | None = None) -> int:
    """Run every measurement once and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 s per measurement, not 10 s")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--mlserver", help="path of the mlserver executable")
    parser.add_argument("--install-mlserver", action="store_true", help="create its venv")
    parser.add_argument("--mlserver-workers", type=int, default=0, help="parallel_workers")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    args.seconds = 3.0 if args.quick else 10.0
    args.warmup = 1.0
    for tool in ("wrk", "taskset"):
        if shutil.which(tool) is None:
            print(f"error: {tool} is required", file=sys.stderr)
            return 2
    if (os.cpu_count() or 1) < 2:
        print("warning: fewer than 2 CPUs; server and wrk will share a core", file=sys.stderr)
    mlserver, why = find_mlserver(args)
    if mlserver is None:
        print(f"NOTE: {why}", flush=True)
    elif (theirs := mlserver_sklearn_version(mlserver)) != sklearn.__version__:
        print(
            f"warning: MLServer has scikit-learn {theirs}, models trained with "
            f"{sklearn.__version__}",
            file=sys.stderr,
        )
    results: list[Measurement] = []
    c = args.connections
    v2 = "/v2/models/iris/infer"
    with tempfile.TemporaryDirectory(prefix="mlops-bench-") as tmp:
        workdir = Path(tmp)
        args.lua = workdir / "post.lua"
        args.lua.write_text(WRK_SCRIPT)
        models = train(workdir)
        print(
            f"measuring ({args.seconds:g} s each, server on CPU {SERVER_CPU}, wrk on CPU "
            f"{CLIENT_CPU}, {c} connections) ...",
            flush=True,
        )
        for name, model in models.items():
            default, port = ours(model, workdir, f"{name}-default")
            batched, bport = ours(model, workdir, f"{name}-batching", "--batching")
            bare, nport = ours(model, workdir, f"{name}-nometrics", "--no-metrics")
            with default as pid, batched as bpid, bare as npid:
                plain, batching, no_metrics = (port, pid), (bport, bpid), (nport, npid)
                for p in (port, bport, nport):
                    warm(p, v2, V2_BODY, args)
                results.append(measure("ours", name, "v2 infer", plain, v2, V2_BODY, c, args))
                results.append(
                    measure("ours", name, "v2 infer, batching", batching, v2, V2_BODY, c, args)
                )
                results.append(measure("ours", name, "v2 infer", plain, v2, V2_BODY, 1, args))
                if name == "LR":
                    results.append(
                        measure("ours", name, "/predict", plain, "/predict", PREDICT_BODY, c, args)
                    )
                    # Metrics on/off alternate in short runs so the host's changing load
                    # hits both alike; the report takes the median of per-pair ratios.
                    short = argparse.Namespace(
                        **{**vars(args), "seconds": max(1, round(args.seconds / 5))}
                    )
                    for _ in range(3 if args.quick else 5):
                        for target, mode in ((plain, "metrics on"), (no_metrics, "metrics off")):
                            results.append(
                                measure("ours", name, mode, target, v2, V2_BODY, c, short)
                            )
            if mlserver is None:
                continue
            try:
                context, mport = mlserver_proc(mlserver, model, workdir, args)
                with context as mpid:
                    warm(mport, v2, V2_BODY, args)
                    for conns in (c, 1):
                        results.append(
                            measure(
                                "MLServer",
                                name,
                                "v2 infer",
                                (mport, mpid),
                                v2,
                                V2_BODY,
                                conns,
                                args,
                            )
                        )
            except RuntimeError as error:
                print(f"NOTE: MLServer could not run: {error}", flush=True)
                mlserver = None
    print_report(results, c)
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=2))
    return 0


def print_report(results: list[Measurement], c: int) -> None:
    """The table, then the ratios against the goals."""
    print()
    header = f"{'server':9} {'model':5} {'mode':20} {'conns':>5} {'req/s':>9} "
    header += f"{'p50 ms':>8} {'p99 ms':>8} {'cpu us/req':>10} {'fail':>5}"
    print(header)
    print("-" * len(header))
    for r in results:
        print(
            f"{r.server:9} {r.model:5} {r.mode:20} {r.connections:5d} {r.rps:9.0f} "
            f"{r.p50_ms:8.3f} {r.p99_ms:8.3f} {r.cpu_us:10.1f} {r.failures:5d}"
        )

    def pick(server: str, model: str, mode: str, conns: int) -> Measurement | None:
        found = [
            r
            for r in results
            if (r.server, r.model, r.mode, r.connections) == (server, model, mode, conns)
        ]
        return found[0] if found else None

    def rps(m: Measurement | None) -> float | None:
        return m.rps if m else None

    def p50(m: Measurement | None) -> float | None:
        return m.p50_ms if m else None

    print()
    print("ratios ours / MLServer (goal)")
    for model, mode, goal in (("LR", "v2 infer", ">= 4x"), ("RF", "v2 infer, batching", ">= 6x")):
        theirs = pick("MLServer", model, "v2 infer", c)
        print(
            f"  {model} throughput ({mode}, c={c}): "
            f"{ratio(rps(pick('ours', model, mode, c)), rps(theirs))}  (goal {goal})"
        )
    for model in ("LR", "RF"):
        mine = p50(pick("ours", model, "v2 infer", 1))
        theirs_p50 = p50(pick("MLServer", model, "v2 infer", 1))
        print(f"  {model} p50 at 1 connection: {ratio(mine, theirs_p50)}  (goal <= 0.3x)")
    on = [r for r in results if r.mode == "metrics on"]
    off = [r for r in results if r.mode == "metrics off"]
    if on and off:
        pairs = list(zip(on, off, strict=False))
        rps_cost = statistics.median(1 - a.rps / b.rps for a, b in pairs)
        cpu_cost = statistics.median(a.cpu_us / b.cpu_us - 1 for a, b in pairs)
        print(
            f"  metrics cost, LR (median of {len(pairs)} alternated pairs): "
            f"throughput {rps_cost * 100:.1f}%, CPU per request {cpu_cost * 100:.1f}%  (goal < 5%)"
        )
    failures = sum(r.failures for r in results)
    if failures:
        print(f"  WARNING: {failures} failed requests (non-2xx or socket errors)")


if __name__ == "__main__":
    sys.exit(main())
