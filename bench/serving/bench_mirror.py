#!/usr/bin/env python
"""What shadow mirroring costs the live path: p50/p99 latency and throughput of one model
server with and without mirroring, measured side by side in one run.

The live server gets CPU 0; wrk and the shadow server share CPU 1, so the shadow's own
work is not counted against the live server. Runs alternate (off, 100 %, 10 %, a shadow
that cannot keep up) in short rounds so a noisy host hits every mode alike; the report
gives the median of each mode's ratio to the unmirrored run of the same round.

    python bench/serving/bench_mirror.py [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_serving import (  # noqa: E402 - the sibling benchmark's helpers
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

#: Mode -> extra flags of the live server (the shadow URL is filled in).
MODES = {
    "no mirror": (),
    "mirror 100%": ("--mirror-percent", "100"),
    "mirror 10%": ("--mirror-percent", "10"),
    "mirror 100%, slow shadow": ("--mirror-percent", "100"),
}


def shadow(model: dict, workdir: Path, tag: str,
           *extra: str) -> tuple[contextlib.AbstractContextManager[int], str]:
    """A shadow server on the client CPU; returns its context manager and base URL."""
    port = free_port()
    cmd = ["taskset", "-c", CLIENT_CPU, sys.executable, "-m", "mlops_runtime.cli", "serve",
           "--model-uri", model["onnx"].as_uri(), "--sha256", model["sha256"],
           "--model-name", "iris", "--host", "127.0.0.1", "--port", str(port),
           "--log-level", "warning", *extra]
    url = f"http://127.0.0.1:{port}"
    return process(cmd, workdir / f"shadow-{tag}.log", f"{url}/readyz", 60), url


def mirror_counts(port: int) -> dict[str, float]:
    """The live server's mirrored requests by outcome."""
    counts: dict[str, float] = {}
    for line in httpx.get(f"http://127.0.0.1:{port}/metrics").text.splitlines():
        if line.startswith("mlops_mirror_requests_total{"):
            outcome = line.split('outcome="', 1)[1].split('"', 1)[0]
            counts[outcome] = counts.get(outcome, 0.0) + float(line.rsplit(" ", 1)[1])
    return counts


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
    with tempfile.TemporaryDirectory(prefix="mlops-bench-mirror-") as tmp, \
            contextlib.ExitStack() as stack:
        workdir = Path(tmp)
        args.lua = workdir / "post.lua"
        args.lua.write_text(WRK_SCRIPT)
        model = train(workdir)["LR"]
        fast_ctx, fast_url = shadow(model, workdir, "fast")
        slow_ctx, slow_url = shadow(model, workdir, "slow", "--fault-latency", "0.5")
        stack.enter_context(fast_ctx)
        stack.enter_context(slow_ctx)
        live: dict[str, tuple[int, int]] = {}
        for mode, flags in MODES.items():
            url = slow_url if "slow" in mode else fast_url
            extra = (*flags, "--mirror-url", url, "--mirror-version", "shadow") if flags else ()
            context, port = ours(model, workdir, mode.replace(" ", "-").replace("%", ""), *extra)
            live[mode] = (port, stack.enter_context(context))
            warm(port, "/predict", PREDICT_BODY, args)
        print(f"measuring {rounds} rounds of {args.seconds:g} s per mode (live server on CPU "
              f"{SERVER_CPU}, wrk and the shadows on CPU {CLIENT_CPU}) ...", flush=True)
        for _ in range(rounds):
            for conns in (args.connections, 1):
                for mode, target in live.items():
                    result = measure("ours", "LR", mode, target, "/predict", PREDICT_BODY,
                                     conns, args)
                    results.setdefault((mode, conns), []).append(result)
        outcomes = {mode: mirror_counts(port) for mode, (port, _) in live.items()}
    report(results, outcomes, args.connections)
    return 0


def report(results: dict[tuple[str, int], list[Measurement]],
           outcomes: dict[str, dict[str, float]], connections: int,
           modes: tuple[str, ...] = tuple(MODES), what: str = "mirrored copies") -> None:
    """Each mode's medians and its ratios to the first mode (the baseline) per round."""
    print()
    header = f"| vs {modes[0]}: req/s"
    print(f"{'mode':26} {'conns':>5} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'cpu us':>7} "
          f"{header:>21} {'p50':>6} {'p99':>6} {'cpu':>6}")
    for conns in (connections, 1):
        base = results[(modes[0], conns)]
        for mode in modes:
            runs = results[(mode, conns)]
            pairs = list(zip(runs, base, strict=True))

            def median(field: str, runs: list[Measurement] = runs) -> float:
                return statistics.median(getattr(r, field) for r in runs)

            def ratio(field: str, pairs: list = pairs) -> float:
                return statistics.median(getattr(a, field) / getattr(b, field) for a, b in pairs)

            print(f"{mode:26} {conns:5d} {median('rps'):8.0f} {median('p50_ms'):7.3f} "
                  f"{median('p99_ms'):7.3f} {median('cpu_us'):7.0f} | {ratio('rps'):18.2f}x "
                  f"{ratio('p50_ms'):5.2f}x {ratio('p99_ms'):5.2f}x {ratio('cpu_us'):5.2f}x")
    print("  cpu us: the live server's CPU time per live request (robust to a noisy host)")
    print()
    for mode, counts in outcomes.items():
        if counts:
            print(f"  {mode}: {what} " + ", ".join(
                f"{k} {v:.0f}" for k, v in sorted(counts.items())))
    failures = sum(r.failures for runs in results.values() for r in runs)
    print(f"  live failures (non-2xx or socket errors): {failures}")


if __name__ == "__main__":
    sys.exit(main())
