#!/usr/bin/env python
"""Feedback labels: how fast one monitor core takes them, side by side with the
prediction records it takes, and how long from a label's arrival to the live metric.

The monitor runs alone on CPU 0, the clients on CPU 1. It first takes ``--predictions``
logged predictions (Arrow batches of 10,000, as model servers send them), then labels for
all of them in JSON bodies of ``--batch`` labels from four concurrent clients; each body
is acknowledged only once it is a synced file in the spool, so the figures include one
fsync per body. Rates are per CPU-second of the monitor (its core is the limit) and per
wall-clock second. Then, for a fresh prediction, the time from posting its label to the
joined counter on ``/metrics`` (Prometheus adds at most its scrape interval, 2 s in
manifests/monitoring/scrape.yml). Goals (issue 24): >= 10,000 labels/s on one core, a
label in the live metric within 15 s.

    python bench/serving/bench_labels.py [--quick]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import orjson
import pyarrow as pa
from mlops_runtime.predictionlog import records

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_serving import (  # noqa: E402 - the sibling benchmark's helpers
    CLIENT_CPU,
    SERVER_CPU,
    free_port,
    group_cpu_seconds,
    process,
)

TOKEN = "bench-token"
AUTH = {"authorization": f"Bearer {TOKEN}"}
RECORDS_BATCH = 10_000


def records_body(start: int, n: int) -> bytes:
    """``n`` logged predictions of one classifier, IDs ``p<start>``..."""
    millis = int(datetime.now(UTC).timestamp() * 1000)
    ids = [f"p{i}" for i in range(start, start + n)]
    table = pa.table({
        records.ID: ids, records.REQUEST_ID: ids,
        records.TIME: pa.array([millis] * n, pa.int64()).cast(records.TIME_TYPE),
        records.NAMESPACE: ["ml"] * n, records.DEPLOYMENT: ["iris"] * n,
        records.MODEL: ["iris"] * n, records.VERSION: ["1"] * n, records.TRACK: ["stable"] * n,
        records.PREDICTION: pa.array([i % 3 for i in range(start, start + n)], pa.int64()),
        records.LATENCY_MS: pa.array([1.0] * n, pa.float32()),
    })
    return records.to_ipc(table)


def labels_body(start: int, n: int) -> bytes:
    return orjson.dumps([{"id": f"p{i}", "label": (i * 7) % 3} for i in range(start, start + n)])


def joined(url: str) -> float:
    for line in httpx.get(f"{url}/metrics").text.splitlines():
        if line.startswith('mlops_monitor_labels_total{outcome="joined"}'):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def post_all(url: str, path: str, bodies: list[bytes], workers: int) -> None:
    with httpx.Client(base_url=url, headers=AUTH, timeout=60) as client:
        def post(body: bytes) -> None:
            answer = client.post(path, content=body)
            if answer.status_code != 202:
                raise RuntimeError(f"{path}: {answer.status_code} {answer.text[:200]}")
        with concurrent.futures.ThreadPoolExecutor(workers) as pool:
            list(pool.map(post, bodies))


def timed(pgid: int, url: str, path: str, bodies: list[bytes]) -> tuple[float, float]:
    """(wall seconds, monitor CPU seconds) to have every body acknowledged."""
    cpu, wall = group_cpu_seconds(pgid), time.perf_counter()
    post_all(url, path, bodies, 4)
    return time.perf_counter() - wall, group_cpu_seconds(pgid) - cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer predictions")
    parser.add_argument("--predictions", type=int, default=300_000)
    parser.add_argument("--batch", type=int, default=1000, help="labels per request")
    args = parser.parse_args(argv)
    n = 60_000 if args.quick else args.predictions
    os.sched_setaffinity(0, {int(CLIENT_CPU)})
    with tempfile.TemporaryDirectory(prefix="mlops-bench-labels-") as tmp:
        workdir = Path(tmp)
        (workdir / "token").write_text(TOKEN)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        cmd = ["taskset", "-c", SERVER_CPU, sys.executable, "-m", "mlops_runtime.cli",
               "monitor", "--root", (workdir / "log").as_uri(), "--spool",
               str(workdir / "spool"), "--token-file", str(workdir / "token"),
               "--flush-interval", "5", "--host", "127.0.0.1", "--port", str(port),
               "--log-level", "warning"]
        with process(cmd, workdir / "monitor.log", f"{url}/readyz", 60) as pgid:
            record_bodies = [records_body(i, RECORDS_BATCH) for i in range(0, n, RECORDS_BATCH)]
            record_wall, record_cpu = timed(pgid, url, "/v1/records", record_bodies)
            label_bodies = [labels_body(i, args.batch) for i in range(0, n, args.batch)]
            label_wall, label_cpu = timed(pgid, url, "/v1/labels", label_bodies)
            assert joined(url) == n, f"{joined(url)} of {n} labels joined"
            delays = []
            for k in range(20):
                post_all(url, "/v1/records", [records_body(n + k, 1)], 1)
                start = time.perf_counter()
                post_all(url, "/v1/labels", [labels_body(n + k, 1)], 1)
                while joined(url) < n + k + 1:
                    time.sleep(0.001)
                delays.append(time.perf_counter() - start)
    print(f"monitor on CPU {SERVER_CPU}, clients on CPU {CLIENT_CPU}; {n:,} predictions, "
          f"then {n:,} labels in bodies of {args.batch:,} from 4 clients")
    print(f"  records: {n / record_cpu:,.0f} rows per monitor CPU-second "
          f"({n / record_wall:,.0f}/s wall), batches of {RECORDS_BATCH:,}")
    print(f"  labels:  {n / label_cpu:,.0f} per monitor CPU-second "
          f"({n / label_wall:,.0f}/s wall) = {(n / label_cpu) / (n / record_cpu):.2f}x the "
          "records rate; goal >= 10,000/s on one core")
    print(f"  label -> joined on /metrics: median {statistics.median(delays) * 1000:.1f} ms, "
          f"max {max(delays) * 1000:.1f} ms (+ at most the 2 s scrape interval in "
          "Prometheus); goal <= 15 s")
    print("  the limit: one core parsing JSON and one fsync per acknowledged body "
          f"({len(label_bodies):,} bodies)")
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
