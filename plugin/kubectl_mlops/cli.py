"""``kubectl mlops``: the commands. Each reads or patches through kubectl (``kubectl.py``)
and prints what ``views.py`` makes of the objects."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence

from mlops_operator.domain.durations import parse_duration
from mlops_operator.domain.rollout import ONE_SHOT
from mlops_operator.domain.versions import MODEL_LABEL

from kubectl_mlops import views
from kubectl_mlops.kubectl import Kubectl, KubectlFailed

DEPLOYMENT = "deployments.mlops.dev"
VERSIONS = "modelversions.mlops.dev"
KINDS = {"mld": DEPLOYMENT, "deployment": DEPLOYMENT, "tj": "trainingjobs.mlops.dev",
         "trainingjob": "trainingjobs.mlops.dev", "mv": VERSIONS, "modelversion": VERSIONS}
POLL_SECONDS = 1.0


def _tree(kube: Kubectl, name: str) -> str:
    deployment = kube.get(DEPLOYMENT, name)
    status = deployment.get("status") or {}
    versions = {v: kube.get(VERSIONS, v) for v in (status.get("stableVersion"),
                                                   status.get("canaryVersion")) if v}
    pods = kube.list("pods", f"mlops.dev/deployment={name}")
    return views.deployment_tree(deployment, versions, pods)


def get(kube: Kubectl, args: argparse.Namespace) -> int:
    shown = ""
    while True:
        tree = _tree(kube, args.name)
        if tree != shown:
            print(tree + ("\n" if args.watch else ""), flush=True)
            shown = tree
        if not args.watch:
            return 0
        time.sleep(POLL_SECONDS * 2)


def _wait(kube: Kubectl, name: str, reached: Callable[[dict], bool], timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        deployment = kube.get(DEPLOYMENT, name)
        if reached(deployment) or time.monotonic() > deadline:
            return deployment
        time.sleep(POLL_SECONDS)


def _one_shot(kube: Kubectl, name: str, flag: str, timeout: float) -> tuple[str, dict] | None:
    """Annotate the Deployment with ``mlops.dev/<flag>: <canary>`` and wait for the
    operator to spend it (it removes the annotation once the canary is promoted or rolled
    back): the canary and the Deployment then; None when there is no canary, or the wait
    timed out (the request is then withdrawn)."""
    canary = (kube.get(DEPLOYMENT, name).get("status") or {}).get("canaryVersion")
    if not canary:
        print(f"{name} has no canary to {flag}", file=sys.stderr)
        return None
    annotation = ONE_SHOT[flag]
    kube.merge_patch(DEPLOYMENT, name, {"metadata": {"annotations": {annotation: canary}}})
    done = _wait(kube, name, lambda d: annotation not in (d["metadata"].get("annotations")
                                                          or {}), timeout)
    if annotation in (done["metadata"].get("annotations") or {}):
        kube.merge_patch(DEPLOYMENT, name, {"metadata": {"annotations": {annotation: None}}})
        print(f"{canary}: {flag} not done within {timeout:.0f}s; {annotation} removed",
              file=sys.stderr)
        return None
    return canary, done


def promote(kube: Kubectl, args: argparse.Namespace) -> int:
    """Promote the canary in flight (mlops.dev/promote: <canary>, one-shot)."""
    spent = _one_shot(kube, args.name, "promote", args.timeout)
    if spent is None:
        return 1
    canary, status = spent[0], spent[1].get("status") or {}
    if status.get("stableVersion") != canary:
        print(f"{args.name}: {canary} not promoted: {status.get('message')}", file=sys.stderr)
        return 1
    print(f"{args.name}: {canary} promoted")
    return 0


def abort(kube: Kubectl, args: argparse.Namespace) -> int:
    """Roll the canary in flight back (mlops.dev/abort: <canary>, one-shot): it stays
    rolled back while the spec names it, and the next version is canaried as usual."""
    spent = _one_shot(kube, args.name, "abort", args.timeout)
    if spent is None:
        return 1
    canary, status = spent[0], spent[1].get("status") or {}
    if status.get("rolledBackVersion") != canary:
        print(f"{args.name}: {canary} not rolled back: {status.get('message')}",
              file=sys.stderr)
        return 1
    print(f"{args.name}: {canary} rolled back; serving {status.get('stableVersion')}")
    return 0


def undo(kube: Kubectl, args: argparse.Namespace) -> int:
    """Point the Deployment at the version that served before (or ``--to``)."""
    deployment = kube.get(DEPLOYMENT, args.name)
    if "model" in (deployment.get("spec") or {}):
        print(f"{args.name} follows model {deployment['spec']['model']}: undo sets "
              "spec.modelVersion, which a following Deployment does not have", file=sys.stderr)
        return 1
    previous = list((deployment.get("status") or {}).get("previousStableVersions") or [])
    target = args.to or (previous[-1] if previous else None)
    if target is None:
        print(f"{args.name} has no earlier stable version", file=sys.stderr)
        return 1
    kube.merge_patch(DEPLOYMENT, args.name, {"spec": {"modelVersion": target}})
    print(f"{args.name}: spec.modelVersion set to {target}")
    return 0


def history(kube: Kubectl, args: argparse.Namespace) -> int:
    if args.model:
        print(views.model_history(kube.list(VERSIONS, f"{MODEL_LABEL}={args.model}")))
    else:
        print(views.deployment_history(kube.get(DEPLOYMENT, args.name)))
    return 0


def diff(kube: Kubectl, args: argparse.Namespace) -> int:
    print(views.version_diff(kube.get(VERSIONS, args.old), kube.get(VERSIONS, args.new)))
    return 0


def status(kube: Kubectl, args: argparse.Namespace) -> int:
    """Wait until the object is Ready (exit 0) or Stalled (exit 1); 2 at the timeout."""
    kind, _, name = args.object.partition("/")
    if kind.lower() not in KINDS or not name:
        print(f"name the object as KIND/NAME, KIND one of {', '.join(sorted(KINDS))}",
              file=sys.stderr)
        return 2
    deadline = time.monotonic() + args.timeout
    while True:
        verdict = views.verdict(kube.get(KINDS[kind.lower()], name))
        if verdict.exit_code != 2 or time.monotonic() > deadline:
            print(f"{args.object}: {verdict.message}")
            return verdict.exit_code
        time.sleep(POLL_SECONDS)


def _seconds(text: str) -> float:
    return parse_duration(text)


def _connection(default: object) -> argparse.ArgumentParser:
    """kubectl's connection flags, taken before or after the command."""
    flags = argparse.ArgumentParser(add_help=False)
    for names in (("-n", "--namespace"), ("--context",), ("--kubeconfig",), ("--cache-dir",)):
        flags.add_argument(*names, default=default)
    return flags


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="kubectl mlops", parents=[_connection(None)],
                                  description="Inspect and steer mlops.dev resources.")
    commands = top.add_subparsers(dest="command", required=True)
    after = _connection(argparse.SUPPRESS)  # does not undo a flag given before the command

    def command(name: str, run, help_: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, parents=[after], help=help_)
        sub.set_defaults(run=run)
        return sub

    sub = command("get", get, "a Deployment's tree: tracks, versions, pods, last checks")
    sub.add_argument("name")
    sub.add_argument("-w", "--watch", action="store_true")
    for name, run, help_ in (("promote", promote, "promote the canary now (one-shot)"),
                             ("abort", abort, "roll the canary back now (one-shot)")):
        sub = command(name, run, help_)
        sub.add_argument("name")
        sub.add_argument("--timeout", type=_seconds, default=120.0)
    sub = command("undo", undo, "go back to the previous stable version")
    sub.add_argument("name")
    sub.add_argument("--to", help="a version other than the previous one")
    sub = command("history", history, "a Deployment's history, or a model's versions")
    sub.add_argument("name", nargs="?")
    sub.add_argument("--model")
    sub = command("diff", diff, "metrics, parameters and data of two ModelVersions")
    sub.add_argument("old")
    sub.add_argument("new")
    sub = command("status", status, "wait for KIND/NAME: exit 0 Ready, 1 Stalled, 2 timeout")
    sub.add_argument("object")
    sub.add_argument("--timeout", type=_seconds, default=300.0)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "history" and not (args.name or args.model):
        print("name a Deployment, or --model MODEL", file=sys.stderr)
        return 2
    flags = [f"--{flag.replace('_', '-')}={value}"
             for flag in ("namespace", "context", "kubeconfig", "cache_dir")
             if (value := getattr(args, flag))]
    try:
        return args.run(Kubectl(tuple(flags)), args)
    except KubectlFailed as error:
        print(error, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
