"""``mlops-operator``: run the operator (kopf) in a pod or as a local process."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.server
import os
import socket
import sys
import threading
import urllib.parse
from collections.abc import Iterator

import kopf


@contextlib.contextmanager
def standby_liveness(url: str | None) -> Iterator[None]:
    """Answer the liveness probe while waiting for the Lease (kopf serves it afterwards)."""
    if not url:
        yield
        return
    parsed = urllib.parse.urlsplit(url)

    class Alive(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server interface
            self.send_response(200 if self.path == parsed.path else 404)
            self.end_headers()
            self.wfile.write(b"standby\n")

        def log_message(self, *_: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer((parsed.hostname or "", parsed.port or 80), Alive)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mlops-operator", description=__doc__)
    parser.add_argument("--namespace", action="append", default=[],
                        help="watch only this namespace (repeatable; default: all namespaces)")
    parser.add_argument("--liveness", default=None,
                        help="serve kopf's liveness probe, e.g. http://0.0.0.0:8086/healthz")
    parser.add_argument("--log-format", choices=("plain", "json"), default="plain",
                        help="json: one JSON object per line, for log pipelines")
    parser.add_argument("--leader-elect", action="store_true",
                        help="run as one of several replicas: only the holder of the "
                             "mlops-operator Lease acts; the others wait to take over")
    parser.add_argument("--leader-elect-namespace",
                        default=os.environ.get("POD_NAMESPACE", "mlops-system"),
                        help="namespace of the Lease (default: $POD_NAMESPACE, else "
                             "mlops-system)")
    parser.add_argument("--verbose", action="store_true",
                        help="also log kopf's per-handler lines and the watch streams")
    args = parser.parse_args(argv)
    log_format = kopf.LogFormat.JSON if args.log_format == "json" else kopf.LogFormat.FULL
    kopf.configure(verbose=args.verbose, log_format=log_format)
    from mlops_operator import main as _handlers  # noqa: F401 - importing registers handlers
    identity = os.environ.get("POD_NAME") or f"{socket.gethostname()}-{os.getpid()}"
    if args.leader_elect:
        from mlops_operator.k8s.leader import await_leadership

        with standby_liveness(args.liveness):
            await_leadership(args.leader_elect_namespace, identity)
    # An explicit identity: kopf's own default asks getpass for the user's name, which a
    # container running as a uid without an /etc/passwd entry (65532 here) does not have.
    asyncio.run(kopf.operator(
        identity=identity,
        clusterwide=not args.namespace,
        namespaces=args.namespace,
        standalone=True,
        liveness_endpoint=args.liveness,
    ))
    if args.leader_elect:  # stopped gracefully (SIGTERM): hand over at once
        from mlops_operator.k8s.leader import release

        release(args.leader_elect_namespace, identity)
    return 0


if __name__ == "__main__":
    sys.exit(main())
