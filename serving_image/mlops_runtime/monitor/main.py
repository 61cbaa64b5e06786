"""``mlops-runtime monitor``: open the spool (redoing an unfinished flush), then serve."""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

import uvicorn
from prometheus_client import disable_created_metrics

from mlops_runtime.cli import write_termination_message
from mlops_runtime.monitor.app import create_app
from mlops_runtime.monitor.settings import parse_monitor_settings
from mlops_runtime.server.settings import SettingsError

EXIT_CONFIG = 2


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point used by ``mlops_runtime.cli``; returns the process exit status."""
    try:
        settings = parse_monitor_settings(list(sys.argv[1:] if argv is None else argv))
        app = create_app(settings)
    except (SettingsError, ValueError, OSError) as error:
        line = " ".join(str(error).split())
        print(f"mlops-runtime monitor: error: {line}", file=sys.stderr, flush=True)
        write_termination_message(line)
        return EXIT_CONFIG
    logging.basicConfig(level=settings.log_level.upper(),
                        format="%(levelname)s:     %(name)s: %(message)s")
    disable_created_metrics()
    server = uvicorn.Server(uvicorn.Config(
        app, host=settings.host, port=settings.port, lifespan="on", access_log=False,
        server_header=False, log_level=settings.log_level, timeout_graceful_shutdown=20))
    server.run()
    return 0 if server.started else 1


if __name__ == "__main__":
    sys.exit(main())
