"""``mlops-runtime serve``: load and verify the model, then run uvicorn.

The model is loaded *before* the server binds its port, so a wrong checksum or a
bad artifact exits non-zero with one clear line on stderr (and in the pod's
termination message) and never serves a single request.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

import uvicorn
from prometheus_client import disable_created_metrics

from mlops_runtime.cli import write_termination_message
from mlops_runtime.server.app import create_app
from mlops_runtime.server.runtime import ModelLoadError, load_model
from mlops_runtime.server.settings import SettingsError, parse_settings

EXIT_CONFIG = 2
EXIT_MODEL = 1


def _fail(message: str, code: int) -> int:
    line = " ".join(message.split())
    print(f"mlops-runtime serve: error: {line}", file=sys.stderr, flush=True)
    write_termination_message(line)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point used by ``mlops_runtime.cli``; returns the process exit status."""
    try:
        settings = parse_settings(list(sys.argv[1:] if argv is None else argv))
    except SettingsError as error:
        return _fail(str(error), EXIT_CONFIG)
    try:
        loaded = load_model(
            settings.model_uri, settings.sha256, settings.model_format, settings.input_schema
        )
    except ModelLoadError as error:
        return _fail(str(error), EXIT_MODEL)
    logging.basicConfig(
        level=logging.DEBUG if settings.log_level == "trace" else settings.log_level.upper(),
        format="%(levelname)s:     %(name)s: %(message)s",
    )
    # One process per pod: `_created` series would only double what Prometheus stores.
    disable_created_metrics()
    try:
        app = create_app(settings, loaded)
    except SettingsError as error:  # settings only the loaded model can check
        return _fail(str(error), EXIT_CONFIG)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        loop="auto",
        http="auto",
        ws="none",
        lifespan="on",
        access_log=False,
        server_header=False,
        log_level=settings.log_level,
        timeout_graceful_shutdown=settings.graceful_timeout,
    )
    server = uvicorn.Server(config)
    server.run()
    return 0 if server.started else 1


if __name__ == "__main__":
    sys.exit(main())
