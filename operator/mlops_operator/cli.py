"""``mlops-operator``: run the operator (a thin wrapper over ``kopf run``)."""

from __future__ import annotations

import sys

import kopf


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    namespaces = [a.split("=", 1)[1] for a in args if a.startswith("--namespace=")]
    kopf.configure(verbose="--verbose" in args)
    import asyncio

    from mlops_operator import main as _handlers  # noqa: F401 - registers handlers

    asyncio.run(
        kopf.operator(
            clusterwide=not namespaces,
            namespaces=namespaces or None,
            standalone=True,
            liveness_endpoint="http://127.0.0.1:8086/healthz" if "--liveness" in args else None,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
