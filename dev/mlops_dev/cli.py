"""``mlops-dev``: the local cluster and the end-to-end demo."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from mlops_dev import hollow, kubebuild
from mlops_dev.cluster import LocalCluster
from mlops_dev.node.realnode import RealNode


def _load(url: str, rate: float, seconds: float) -> int:
    """Steady traffic from this machine (e.g. to a Service of the local cluster), with a
    one-line summary every 10 s."""
    import time

    from mlops_dev.load import LoadGenerator

    with LoadGenerator(url, rate=rate, max_seconds=seconds) as generator:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            time.sleep(min(10.0, max(0.0, deadline - time.monotonic())))
            recent = generator.versions(since=time.monotonic() - 10)
            print(f"last 10 s: {dict(recent)} statuses {dict(generator.statuses())}",
                  flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mlops-dev", description=__doc__)
    parser.add_argument(
        "--home",
        type=Path,
        default=None,
        help="cluster folder (default: $MLOPS_DEV_HOME or ~/.mlops-dev)",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    cluster = commands.add_parser("cluster", help="the local Kubernetes cluster")
    actions = cluster.add_subparsers(dest="action", required=True)
    up = actions.add_parser("up", help="start it (builds the control plane the first time)")
    up.add_argument("--timeout", type=float, default=180.0)
    up.add_argument("--hollow-nodes", type=int, default=0, metavar="N",
                    help="add N kwok nodes whose pods are Ready without running (scale tests)")
    actions.add_parser("down", help="stop every process it started")
    actions.add_parser("status", help="show components and readiness as JSON")
    actions.add_parser("build", help="only build (or find) the control-plane and node binaries, "
                       "kwok and the images")
    demo = commands.add_parser("demo", help="train, canary, promote and roll back, end to end")
    demo.add_argument("--keep", action="store_true",
                      help="leave the cluster, operator and demo namespace running")
    demo.add_argument("--operator", choices=("pod", "process"), default="pod",
                      help="run the operator as a pod of its image (default) or a process")
    load = commands.add_parser("load", help="send steady iris predictions to a URL")
    load.add_argument("url", help="e.g. http://iris/predict")
    load.add_argument("--rate", type=float, default=20.0, help="requests per second")
    load.add_argument("--seconds", type=float, default=600.0, help="stop after this long")
    args = parser.parse_args(argv)
    if args.command == "load":
        return _load(args.url, args.rate, args.seconds)
    if args.command == "demo":
        from mlops_dev import demo as story

        return story.main([*(["--keep"] if args.keep else []), f"--operator={args.operator}"],
                          home=args.home)

    local = LocalCluster(args.home)
    if args.action == "build":
        print(kubebuild.ensure_binaries())
        kubebuild.gateway_api_crds()  # fetch the Gateway API module now, not at first `up`
        print(hollow.kwok_binary())  # for `up --hollow-nodes N`
        for tool, folder in RealNode.tools().items():
            print(f"{tool}: {folder}")
        RealNode.build_images()
    elif args.action == "up":
        kubeconfig = local.up(timeout=args.timeout, hollow_nodes=args.hollow_nodes)
        print(kubeconfig)
        print(f"export KUBECONFIG={kubeconfig}", file=sys.stderr)
    elif args.action == "down":
        local.down()
    elif args.action == "status":
        status = local.status()
        print(json.dumps(status, indent=2))
        return 0 if status["apiserverReady"] and status["nodeReady"] else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
