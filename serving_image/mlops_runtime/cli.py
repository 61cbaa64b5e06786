"""``mlops-runtime``: the one entry point of the runtime image.

Subcommands: ``serve`` (model server), ``monitor`` (the prediction log's writer),
``train`` (built-in trainer),
``verify`` (artifact checksum), ``version`` (prints versions; writes them as the
termination message), ``sample-data`` (writes a synthetic data set: loans, credit),
``model-card`` (writes a ModelVersion's model card).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys

from mlops_runtime import __version__

TERMINATION_LOG_ENV = "MLOPS_TERMINATION_LOG"
DEFAULT_TERMINATION_LOG = "/dev/termination-log"


def write_termination_message(message: str) -> None:
    """Write the pod's termination message (Kubernetes reads at most 4 KiB)."""
    path = os.environ.get(TERMINATION_LOG_ENV, DEFAULT_TERMINATION_LOG)
    try:
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(message[:4096])
    except OSError as error:  # not in a pod: the message still goes to stdout
        print(f"could not write termination message to {path}: {error}", file=sys.stderr)


def _version(_: argparse.Namespace) -> int:
    info = {"runtime": __version__, "python": platform.python_version()}
    # Where it runs, when the pod passes its identity through the downward API.
    info.update(
        {
            key: os.environ[env]
            for key, env in (
                ("pod", "POD_NAME"),
                ("namespace", "POD_NAMESPACE"),
                ("podIP", "POD_IP"),
            )
            if env in os.environ
        }
    )
    print(json.dumps(info))
    write_termination_message(json.dumps(info))
    return 0


def _verify(args: argparse.Namespace) -> int:
    """Check that an artifact exists and matches its sha256 (hand-registered versions)."""
    from mlops_runtime import stores

    try:
        data = stores.read_bytes(args.uri)
    except Exception as error:  # noqa: BLE001 - any failure to read is reported, not raised
        result = {
            "ok": False,
            "reason": "ArtifactMissing",
            "message": f"cannot read {args.uri}: {error}",
        }
    else:
        actual = stores.sha256_hex(data)
        if actual == args.sha256.lower():
            result = {"ok": True, "sha256": actual, "bytes": len(data)}
        else:
            result = {
                "ok": False,
                "reason": "ChecksumMismatch",
                "message": f"sha256 of {args.uri} is {actual}, expected {args.sha256}",
            }
    print(json.dumps(result), file=sys.stdout if result["ok"] else sys.stderr)
    write_termination_message(json.dumps(result))
    return 0 if result["ok"] else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mlops-runtime", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("version", help="print versions").set_defaults(func=_version)
    verify = commands.add_parser("verify", help="check an artifact against its sha256")
    verify.add_argument("--uri", required=True)
    verify.add_argument("--sha256", required=True)
    verify.set_defaults(func=_verify)
    serve = commands.add_parser("serve", help="run the model server", add_help=False)
    serve.set_defaults(func=None, module="mlops_runtime.server.main")
    monitor = commands.add_parser("monitor", help="keep prediction records as Parquet",
                                  add_help=False)
    monitor.set_defaults(func=None, module="mlops_runtime.monitor.main")
    train = commands.add_parser("train", help="run the built-in trainer", add_help=False)
    train.set_defaults(func=None, module="mlops_runtime.trainer.main")
    sample = commands.add_parser("sample-data", help="write a synthetic data set",
                                 add_help=False)
    sample.set_defaults(func=None, module="mlops_runtime.trainer.sample_data")
    card = commands.add_parser("model-card", help="write a ModelVersion's model card",
                               add_help=False)
    card.set_defaults(func=None, module="mlops_runtime.card.main")
    args, rest = parser.parse_known_args(argv)
    if args.func is not None:
        return int(args.func(args))
    # The other commands parse their own arguments; import them only when used.
    import importlib

    return int(importlib.import_module(args.module).main(rest))


if __name__ == "__main__":
    sys.exit(main())
