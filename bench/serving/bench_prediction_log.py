#!/usr/bin/env python
"""What the prediction log costs the live path: p50/p99 latency, throughput and CPU per
request of one model server logging 100 %, 10 % or nothing to a real monitor (and to a
monitor that is down), measured side by side in one run; then bytes per logged
prediction on disk.

The live server gets CPU 0; wrk and the monitor share CPU 1, so the monitor's work is not
counted against the live server. Runs alternate in short rounds so a noisy host hits
every mode alike; the report gives the median of each mode's ratio to the unlogged run
of the same round. Goals (issue 24): at 100 % throughput >= 0.95x and p99 <= 1.1x.

    python bench/serving/bench_prediction_log.py [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_mirror import report  # noqa: E402 - the sibling benchmark's helpers
from bench_serving import (  # noqa: E402
    CLIENT_CPU,
    PREDICT_BODY,
    SERVER_CPU,
    WRK_SCRIPT,
    Measurement,
    free_port,
    measure,
    ours,
    process,
    train,
    warm,
)

TOKEN = "bench-token"
#: Mode -> extra flags of the live server (the monitor URL is filled in).
MODES = {
    "no log": (),
    "log 100%": ("--prediction-log-percent", "100"),
    "log 10%": ("--prediction-log-percent", "10"),
    "log 100%, monitor down": ("--prediction-log-percent", "100"),
}


def monitor(workdir: Path, token: Path) -> tuple[contextlib.AbstractContextManager[int], str]:
    """A monitor on the client CPU writing below ``workdir/log``."""
    port = free_port()
    cmd = ["taskset", "-c", CLIENT_CPU, sys.executable, "-m", "mlops_runtime.cli", "monitor",
           "--root", (workdir / "log").as_uri(), "--spool", str(workdir / "spool"),
           "--token-file", str(token), "--flush-interval", "2", "--host", "127.0.0.1",
           "--port", str(port), "--log-level", "warning"]
    url = f"http://127.0.0.1:{port}"
    return process(cmd, workdir / "monitor.log", f"{url}/readyz", 60), url


def log_counts(port: int) -> dict[str, float]:
    """The live server's logged rows by outcome."""
    counts: dict[str, float] = {}
    for line in httpx.get(f"http://127.0.0.1:{port}/metrics").text.splitlines():
        if line.startswith("mlops_prediction_log_rows_total{"):
            outcome = line.split('outcome="', 1)[1].split('"', 1)[0]
            counts[outcome] = counts.get(outcome, 0.0) + float(line.rsplit(" ", 1)[1])
    return counts


def written(monitor_url: str) -> float:
    for line in httpx.get(f"{monitor_url}/metrics").text.splitlines():
        if line.startswith('mlops_monitor_rows_total{outcome="written"}'):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer, shorter rounds")
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args(argv)
    args.seconds = 2.0 if args.quick else 4.0
    args.warmup = 1.0
    rounds = 3 if args.quick else 5
    for tool in ("wrk", "taskset"):
        if shutil.which(tool) is None:
            print(f"error: {tool} is required", file=sys.stderr)
            return 2
    results: dict[tuple[str, int], list[Measurement]] = {}
    with tempfile.TemporaryDirectory(prefix="mlops-bench-log-") as tmp, \
            contextlib.ExitStack() as stack:
        workdir = Path(tmp)
        args.lua = workdir / "post.lua"
        args.lua.write_text(WRK_SCRIPT)
        token = workdir / "token"
        token.write_text(TOKEN)
        model = train(workdir)["LR"]
        monitor_ctx, monitor_url = monitor(workdir, token)
        stack.enter_context(monitor_ctx)
        live: dict[str, tuple[int, int]] = {}
        for mode, flags in MODES.items():
            url = f"http://127.0.0.1:{free_port()}" if "down" in mode else monitor_url
            extra = (*flags, "--prediction-log-url", url, "--prediction-log-token-file",
                     str(token)) if flags else ()
            context, port = ours(model, workdir, mode.replace(" ", "-").replace("%", "")
                                 .replace(",", ""), *extra)
            live[mode] = (port, stack.enter_context(context))
            warm(port, "/predict", PREDICT_BODY, args)
        print(f"measuring {rounds} rounds of {args.seconds:g} s per mode (live server on CPU "
              f"{SERVER_CPU}, wrk and the monitor on CPU {CLIENT_CPU}) ...", flush=True)
        for _ in range(rounds):
            for conns in (args.connections, 1):
                for mode, target in live.items():
                    result = measure("ours", "LR", mode, target, "/predict", PREDICT_BODY,
                                     conns, args)
                    results.setdefault((mode, conns), []).append(result)
        outcomes = {mode: log_counts(port) for mode, (port, _) in live.items()}
        sent = sum(counts.get("sent", 0.0) for counts in outcomes.values())
        deadline = time.monotonic() + 60
        while written(monitor_url) < sent and time.monotonic() < deadline:
            time.sleep(0.5)
        rows = written(monitor_url)
        size = sum(p.stat().st_size for p in (workdir / "log").rglob("*.parquet"))
    report(results, outcomes, args.connections, tuple(MODES), "logged rows")
    if rows:
        print(f"  on disk: {rows:.0f} rows in {size / 1e6:.1f} MB of Parquet (zstd) = "
              f"{size / rows:.0f} bytes per logged prediction (4 inputs, label, 3 "
              "probabilities, IDs, time, latency)")
    print("  the limit is the live server's one CPU: logging costs what offer() and the "
          "Arrow encoding of each flush take from it")
    return 0


if __name__ == "__main__":
    sys.exit(main())
