"""Monitor configuration from command-line arguments and environment (arguments win)."""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta

from mlops_runtime.server.settings import SettingsError, integer_setting, number_setting


@dataclass(frozen=True)
class MonitorSettings:
    """Where records are kept and how: ``root`` is the store URI the Parquet goes below,
    ``spool`` the local folder (a volume of the monitor's own) batches wait in."""

    root: str
    spool: str
    token_file: str
    host: str = "127.0.0.1"
    port: int = 8090
    flush_interval: float = 30.0
    retention: timedelta | None = None
    max_spool_bytes: int = 1 << 30
    max_body_bytes: int = 64 << 20
    quality_window: float = 3600.0  # seconds of prediction time the live gauges cover
    join_hours: int = 24  # hours a logged prediction waits for its label
    join_max_predictions: int = 500_000  # predictions held for the join (~250 B each)
    log_level: str = "info"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mlops-runtime monitor",
        description="Keep model servers' prediction records and feedback labels as Parquet "
        "in a store; join them into live quality per version.")
    add = parser.add_argument
    add("--root", help="store URI the log goes below: file://, pvc:// or s3:// "
        "[MLOPS_MONITOR_ROOT] (required)")
    add("--spool", help="local folder accepted batches wait in [MLOPS_MONITOR_SPOOL] "
        "(required)")
    add("--token-file", help="file holding the bearer token senders present "
        "[MLOPS_MONITOR_TOKEN_FILE] (required)")
    add("--host", help="bind address [MLOPS_HOST]; default $POD_IP, else 127.0.0.1")
    add("--port", help="bind port [MLOPS_PORT]; default 8090")
    add("--flush-interval", help="seconds between writes to the store "
        "[MLOPS_MONITOR_FLUSH_INTERVAL]; 30")
    add("--retention-hours", help="hours of records kept; older hour partitions are removed "
        "[MLOPS_MONITOR_RETENTION_HOURS]; default: kept")
    add("--max-spool-bytes", help="bytes waiting to be written; more are refused with 503 "
        "[MLOPS_MONITOR_MAX_SPOOL_BYTES]; 1 GiB")
    add("--quality-window", help="seconds of prediction time the live quality gauges "
        "cover [MLOPS_MONITOR_QUALITY_WINDOW]; 3600")
    add("--join-hours", help="hours a logged prediction waits for its label "
        "[MLOPS_MONITOR_JOIN_HOURS]; 24")
    add("--join-max-predictions", help="predictions held in memory for the join "
        "(about 250 bytes each) [MLOPS_MONITOR_JOIN_MAX_PREDICTIONS]; 500000")
    add("--log-level", help="log level [MLOPS_LOG_LEVEL]; info")
    return parser


def parse_monitor_settings(argv: Sequence[str],
                           env: Mapping[str, str] | None = None) -> MonitorSettings:
    """Build settings; raises :class:`SettingsError` naming the bad option."""
    env = os.environ if env is None else env
    args = _parser().parse_args(list(argv))

    def pick(value: str | None, variable: str) -> str | None:
        return value if value is not None else (env.get(variable) or None)

    def required(value: str | None, variable: str, flag: str) -> str:
        picked = pick(value, variable)
        if not picked:
            raise SettingsError(f"{flag} (or {variable}) is required")
        return picked

    hours = pick(args.retention_hours, "MLOPS_MONITOR_RETENTION_HOURS")
    return MonitorSettings(
        root=required(args.root, "MLOPS_MONITOR_ROOT", "--root"),
        spool=required(args.spool, "MLOPS_MONITOR_SPOOL", "--spool"),
        token_file=required(args.token_file, "MLOPS_MONITOR_TOKEN_FILE", "--token-file"),
        host=pick(args.host, "MLOPS_HOST") or env.get("POD_IP") or "127.0.0.1",
        port=integer_setting(pick(args.port, "MLOPS_PORT"), 8090, "--port", 0, 65535),
        flush_interval=number_setting(pick(args.flush_interval, "MLOPS_MONITOR_FLUSH_INTERVAL"),
                                      30.0, "--flush-interval", 0.05, 3600.0),
        retention=None if hours is None else timedelta(hours=integer_setting(
            hours, 0, "--retention-hours", 1, 24 * 3650)),
        max_spool_bytes=integer_setting(pick(args.max_spool_bytes,
                                             "MLOPS_MONITOR_MAX_SPOOL_BYTES"), 1 << 30,
                                        "--max-spool-bytes", 1 << 20, 1 << 40),
        quality_window=number_setting(pick(args.quality_window,
                                           "MLOPS_MONITOR_QUALITY_WINDOW"), 3600.0,
                                      "--quality-window", 10.0, 30 * 86400.0),
        join_hours=integer_setting(pick(args.join_hours, "MLOPS_MONITOR_JOIN_HOURS"), 24,
                                   "--join-hours", 1, 24 * 90),
        join_max_predictions=integer_setting(
            pick(args.join_max_predictions, "MLOPS_MONITOR_JOIN_MAX_PREDICTIONS"), 500_000,
            "--join-max-predictions", 1000, 100_000_000),
        log_level=(pick(args.log_level, "MLOPS_LOG_LEVEL") or "info").lower(),
    )
