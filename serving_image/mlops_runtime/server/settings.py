"""Server configuration from command-line arguments and environment (arguments win).

The operator sets environment variables on the pod; people and tests pass flags.
Both end up in one frozen :class:`Settings`, checked once before anything loads.
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from mlops_runtime.server.mirror import MirrorSettings
from mlops_runtime.server.prediction_log import LogSettings

TRACKS = ("stable", "canary")
LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off", "")


class SettingsError(ValueError):
    """Invalid configuration: the process exits with status 2 and this message."""


@dataclass(frozen=True)
class Settings:
    """Everything the server needs; built by :func:`parse_settings`."""

    model_uri: str
    sha256: str
    model_name: str = "model"
    model_version: str = "0"
    track: str = "stable"
    #: The mlops Deployment serving it (metrics labels); outside one: the model's name.
    namespace: str = "default"
    deployment: str | None = None
    input_schema: dict[str, Any] | None = None
    host: str = "127.0.0.1"
    port: int = 8080
    model_format: str | None = None
    batching: bool = False
    batch_max_rows: int = 256
    batch_max_delay: float = 0.001
    fault_error_rate: float = 0.0
    fault_latency: float = 0.0
    max_rows: int = 10_000
    max_body_bytes: int = 64 * 1024 * 1024
    graceful_timeout: int = 20
    log_level: str = "info"
    metrics: bool = True
    mirror: MirrorSettings | None = None  # copy sampled requests to a shadow server
    prediction_log: LogSettings | None = None  # send sampled predictions to the monitor
    #: Training mean/std per feature, exported so alerting rules can detect input drift.
    reference_stats: dict[str, dict[str, float]] | None = None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mlops-runtime serve",
        description="Serve one model version over HTTP (Open Inference Protocol V2 + /predict).",
    )
    add = parser.add_argument
    add("--model-uri", help="artifact URI: file://, pvc:// or s3:// [MLOPS_MODEL_URI]")
    add("--sha256", help="expected sha256 of the artifact (required) [MLOPS_MODEL_SHA256]")
    add("--model-name", help="model name in URLs and metrics [MLOPS_MODEL_NAME]")
    add("--model-version", help="version label in metrics and responses [MLOPS_MODEL_VERSION]")
    add("--track", help="stable or canary, a metrics label [MLOPS_TRACK]")
    add("--input-schema", help="input schema JSON; default: ONNX metadata [MLOPS_INPUT_SCHEMA]")
    add("--host", help="bind address [MLOPS_HOST]; default $POD_IP, else 127.0.0.1")
    add("--port", help="bind port [MLOPS_PORT]; default 8080")
    add(
        "--format",
        dest="model_format",
        help="onnx or skops [MLOPS_MODEL_FORMAT]; default from the file extension",
    )
    add(
        "--batching",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="adaptive batching of concurrent requests [MLOPS_ADAPTIVE_BATCHING]; default off",
    )
    add("--batch-max-rows", help="rows per merged model call [MLOPS_BATCH_MAX_ROWS]; 256")
    add("--batch-max-delay", help="seconds to keep merging [MLOPS_BATCH_MAX_DELAY]; 0.001")
    add(
        "--fault-error-rate",
        help=(
            "DEMOS AND TESTS ONLY: fraction 0..1 of valid inference requests answered with "
            "HTTP 500, to simulate a misbehaving canary [MLOPS_FAULT_ERROR_RATE]; default 0"
        ),
    )
    add(
        "--fault-latency",
        help=(
            "DEMOS AND TESTS ONLY: seconds (0..60) every inference request waits before it is "
            "answered, to simulate a slow canary [MLOPS_FAULT_LATENCY]; default 0"
        ),
    )
    add("--reference-stats", help="JSON {feature: {mean, std}} from training, exported as "
        "gauges for drift alerts [MLOPS_REFERENCE_STATS]; default none")
    add("--mirror-url", help="base URL of a shadow server that gets copies of sampled "
        "requests, e.g. http://iris-canary.ns.svc [MLOPS_MIRROR_URL]; default none")
    add("--mirror-version", help="the shadow's version, a metrics label [MLOPS_MIRROR_VERSION]")
    add("--mirror-percent", help="percent of requests copied [MLOPS_MIRROR_PERCENT]; 100")
    add("--mirror-queue", help="copies waiting to be sent; more are dropped "
        "[MLOPS_MIRROR_QUEUE]; 256")
    add("--mirror-tolerance", help="regressors: a relative difference up to this agrees "
        "[MLOPS_MIRROR_TOLERANCE]; 0.1")
    add("--prediction-log-url", help="base URL of the monitor that keeps sampled "
        "predictions [MLOPS_PREDICTION_LOG_URL]; default none (nothing is logged)")
    add("--prediction-log-token-file", help="file holding the monitor's bearer token "
        "[MLOPS_PREDICTION_LOG_TOKEN_FILE]; required with --prediction-log-url")
    add("--prediction-log-percent", help="percent of requests logged "
        "[MLOPS_PREDICTION_LOG_PERCENT]; 100")
    add("--prediction-log-exclude", help="comma-separated features never logged "
        "[MLOPS_PREDICTION_LOG_EXCLUDE]; default none")
    add("--prediction-log-flush-interval", help="seconds records gather before they are "
        "sent [MLOPS_PREDICTION_LOG_FLUSH_INTERVAL]; 1")
    add("--prediction-log-buffer-rows", help="rows waiting to be acknowledged; more are "
        "dropped [MLOPS_PREDICTION_LOG_BUFFER_ROWS]; 100000")
    add("--deployment", help="the mlops Deployment this server belongs to, in log records "
        "[MLOPS_DEPLOYMENT]; default the model name")
    add("--max-rows", help="largest accepted batch in rows [MLOPS_MAX_ROWS]; 10000")
    add("--graceful-timeout", help="seconds to finish in-flight requests on SIGTERM; 20")
    add("--log-level", help="uvicorn log level [MLOPS_LOG_LEVEL]; info")
    # Hidden: only the benchmark uses it, to measure what metrics cost.
    add("--no-metrics", action="store_true", default=False, help=argparse.SUPPRESS)
    return parser


def _pick(value: str | None, env: Mapping[str, str], name: str) -> str | None:
    """Argument if given, else the environment variable if non-empty."""
    if value is not None:
        return value
    from_env = env.get(name)
    return from_env if from_env else None


def number_setting(raw: str | None, default: float, flag: str, low: float, high: float) -> float:
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{flag}: expected a number, got {raw!r}") from None
    if not math.isfinite(value) or not low <= value <= high:
        raise SettingsError(f"{flag}: {value} is outside [{low}, {high}]")
    return value


def integer_setting(raw: str | None, default: int, flag: str, low: int, high: int) -> int:
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{flag}: expected an integer, got {raw!r}") from None
    if not low <= value <= high:
        raise SettingsError(f"{flag}: {value} is outside [{low}, {high}]")
    return value


def _flag(value: bool | None, env: Mapping[str, str], name: str) -> bool:
    if value is not None:
        return value
    raw = env.get(name, "").strip().lower()
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise SettingsError(f"{name}: expected true or false, got {raw!r}")


def parse_settings(argv: Sequence[str], env: Mapping[str, str] | None = None) -> Settings:
    """Build settings; raises :class:`SettingsError` naming the bad option."""
    env = os.environ if env is None else env
    args = _parser().parse_args(list(argv))

    def pick(value: str | None, variable: str) -> str | None:
        return _pick(value, env, variable)

    track = pick(args.track, "MLOPS_TRACK") or "stable"
    if track not in TRACKS:
        raise SettingsError(f"--track: expected one of {', '.join(TRACKS)}, got {track!r}")
    log_level = (pick(args.log_level, "MLOPS_LOG_LEVEL") or "info").lower()
    if log_level not in LOG_LEVELS:
        raise SettingsError(f"--log-level: expected one of {', '.join(LOG_LEVELS)}")
    model_format = pick(args.model_format, "MLOPS_MODEL_FORMAT")
    if model_format is not None and model_format not in ("onnx", "skops"):
        raise SettingsError(f"--format: expected onnx or skops, got {model_format!r}")
    return Settings(
        model_uri=_required(pick(args.model_uri, "MLOPS_MODEL_URI"), "--model-uri",
                            "MLOPS_MODEL_URI"),
        sha256=_digest(_required(pick(args.sha256, "MLOPS_MODEL_SHA256"), "--sha256",
                                 "MLOPS_MODEL_SHA256")),
        model_name=pick(args.model_name, "MLOPS_MODEL_NAME") or "model",
        model_version=pick(args.model_version, "MLOPS_MODEL_VERSION") or "0",
        track=track,
        namespace=env.get("POD_NAMESPACE") or "default",
        deployment=pick(args.deployment, "MLOPS_DEPLOYMENT") or None,
        input_schema=_schema(pick(args.input_schema, "MLOPS_INPUT_SCHEMA")),
        host=pick(args.host, "MLOPS_HOST") or env.get("POD_IP") or "127.0.0.1",
        port=integer_setting(pick(args.port, "MLOPS_PORT"), 8080, "--port", 0, 65535),
        model_format=model_format,
        batching=_flag(args.batching, env, "MLOPS_ADAPTIVE_BATCHING"),
        batch_max_rows=integer_setting(pick(args.batch_max_rows, "MLOPS_BATCH_MAX_ROWS"), 256,
                                "--batch-max-rows", 1, 1_000_000),
        batch_max_delay=number_setting(pick(args.batch_max_delay, "MLOPS_BATCH_MAX_DELAY"), 0.001,
                                "--batch-max-delay", 0.0, 1.0),
        fault_error_rate=number_setting(pick(args.fault_error_rate, "MLOPS_FAULT_ERROR_RATE"), 0.0,
                                 "--fault-error-rate", 0.0, 1.0),
        fault_latency=number_setting(pick(args.fault_latency, "MLOPS_FAULT_LATENCY"), 0.0,
                              "--fault-latency", 0.0, 60.0),
        max_rows=integer_setting(pick(args.max_rows, "MLOPS_MAX_ROWS"), 10_000, "--max-rows", 1,
                          10_000_000),
        graceful_timeout=integer_setting(pick(args.graceful_timeout, "MLOPS_GRACEFUL_TIMEOUT"), 20,
                                  "--graceful-timeout", 1, 3600),
        log_level=log_level,
        metrics=not args.no_metrics,
        mirror=_mirror(args, pick),
        prediction_log=_prediction_log(args, pick, env),
        reference_stats=_reference(pick(args.reference_stats, "MLOPS_REFERENCE_STATS")),
    )


def _reference(raw: str | None) -> dict[str, dict[str, float]] | None:
    """``{feature: {"mean": m, "std": s}}`` of the numeric features; categorical entries
    (``{"type": "categorical", "shares": {...}}``) are kept by the ModelVersion for checks
    of their own and skipped here. Anything else names the flag."""
    stats = _json_object(raw, "--reference-stats")
    if stats is None:
        return None
    numeric = {k: v for k, v in stats.items()
               if not (isinstance(v, dict) and v.get("type") == "categorical")}
    ok = all(
        isinstance(v, dict) and all(isinstance(v.get(k), int | float) and not
                                    isinstance(v.get(k), bool) for k in ("mean", "std"))
        for v in numeric.values())
    if not ok:
        raise SettingsError('--reference-stats: expected {"feature": {"mean": m, "std": s}}')
    return {str(k): {"mean": float(v["mean"]), "std": float(v["std"])} for k, v in numeric.items()}


def _mirror(args: argparse.Namespace,
            pick: Callable[[str | None, str], str | None]) -> MirrorSettings | None:
    """The shadow to mirror to, if ``--mirror-url`` (MLOPS_MIRROR_URL) is given."""
    url = pick(args.mirror_url, "MLOPS_MIRROR_URL")
    if url is None:
        return None
    if not url.startswith(("http://", "https://")):
        raise SettingsError(f"--mirror-url: expected an http:// or https:// URL, got {url!r}")
    return MirrorSettings(
        url=url,
        version=pick(args.mirror_version, "MLOPS_MIRROR_VERSION") or "shadow",
        percent=number_setting(pick(args.mirror_percent, "MLOPS_MIRROR_PERCENT"), 100.0,
                        "--mirror-percent", 0.0, 100.0),
        queue_size=integer_setting(pick(args.mirror_queue, "MLOPS_MIRROR_QUEUE"), 256,
                            "--mirror-queue", 1, 100_000),
        tolerance=number_setting(pick(args.mirror_tolerance, "MLOPS_MIRROR_TOLERANCE"), 0.1,
                          "--mirror-tolerance", 0.0, 1_000.0),
    )


def _prediction_log(args: argparse.Namespace, pick: Callable[[str | None, str], str | None],
                    env: Mapping[str, str]) -> LogSettings | None:
    """The monitor to log predictions to, if ``--prediction-log-url`` is given."""
    url = pick(args.prediction_log_url, "MLOPS_PREDICTION_LOG_URL")
    if url is None:
        return None
    if not url.startswith(("http://", "https://")):
        raise SettingsError(
            f"--prediction-log-url: expected an http:// or https:// URL, got {url!r}")
    exclude = pick(args.prediction_log_exclude, "MLOPS_PREDICTION_LOG_EXCLUDE") or ""
    return LogSettings(
        url=url,
        token_file=_required(pick(args.prediction_log_token_file,
                                  "MLOPS_PREDICTION_LOG_TOKEN_FILE"),
                             "--prediction-log-token-file", "MLOPS_PREDICTION_LOG_TOKEN_FILE"),
        namespace=env.get("POD_NAMESPACE") or "default",
        deployment=(pick(args.deployment, "MLOPS_DEPLOYMENT")
                    or pick(args.model_name, "MLOPS_MODEL_NAME") or "model"),
        percent=number_setting(pick(args.prediction_log_percent, "MLOPS_PREDICTION_LOG_PERCENT"),
                        100.0, "--prediction-log-percent", 0.0, 100.0),
        exclude=frozenset(name.strip() for name in exclude.split(",") if name.strip()),
        flush_interval=number_setting(pick(args.prediction_log_flush_interval,
                                    "MLOPS_PREDICTION_LOG_FLUSH_INTERVAL"), 1.0,
                               "--prediction-log-flush-interval", 0.01, 60.0),
        buffer_rows=integer_setting(pick(args.prediction_log_buffer_rows,
                                  "MLOPS_PREDICTION_LOG_BUFFER_ROWS"), 100_000,
                             "--prediction-log-buffer-rows", 1, 10_000_000),
    )


def _required(value: str | None, flag: str, variable: str) -> str:
    if not value:
        raise SettingsError(f"{flag} (or {variable}) is required")
    return value


def _digest(sha256: str) -> str:
    digest = sha256.strip().lower().removeprefix("sha256:")
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise SettingsError(f"--sha256: expected 64 hex digits, got {sha256!r}")
    return digest


def _schema(raw: str | None) -> dict[str, Any] | None:
    return _json_object(raw, "--input-schema")


def _json_object(raw: str | None, flag: str) -> dict[str, Any] | None:
    """A flag's JSON object (None when the flag is absent); anything else names the flag."""
    if raw is None:
        return None
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise SettingsError(f"{flag}: invalid JSON: {error}") from None
    if not isinstance(value, dict):
        raise SettingsError(f"{flag}: expected a JSON object")
    return value
