"""Operator settings, read once from the environment into a frozen value."""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Settings:
    """Everything the operator reads from its environment."""

    runtime_image: str = "mlops-operator/runtime:0.1.0"
    artifact_claim: str = "mlops-artifacts"
    prometheus_url: str = "http://127.0.0.1:9090"
    metric_provider: str = "prometheus"  # providers.PROVIDERS; unknown names stop startup
    #: A bearer token (read on every query) and a CA bundle for an https:// Prometheus.
    prometheus_token_file: str | None = None
    prometheus_ca_file: str | None = None
    alert_webhook_port: int = 8085
    alert_webhook_host: str = "127.0.0.1"  # also where /metrics listens
    metrics_port: int = 8087  # the operator's own /metrics; 0 turns it off
    #: The bearer token Alertmanager must send (a mounted Secret); none: every post is 401.
    alert_webhook_token_file: str | None = None
    namespace: str | None = None  # None: watch every namespace
    #: Retrain schedules without spec.retrain.timeZone run in this zone (IANA name);
    #: None: the operator's local time zone, as CronJob uses the controller manager's.
    time_zone: str | None = None
    #: The audit trail goes to this Service's ``http`` port in each namespace (the
    #: monitor of manifests/monitor) with the token of ``audit_token_secret``; "" turns
    #: the trail off.
    audit_service: str = "mlops-monitor"
    audit_token_secret: str = "mlops-monitor-token"

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        defaults = cls()
        return cls(
            runtime_image=env.get("MLOPS_RUNTIME_IMAGE", defaults.runtime_image),
            artifact_claim=env.get("MLOPS_ARTIFACT_CLAIM", defaults.artifact_claim),
            prometheus_url=env.get("MLOPS_PROMETHEUS_URL", defaults.prometheus_url),
            prometheus_token_file=env.get("MLOPS_PROMETHEUS_TOKEN_FILE") or None,
            prometheus_ca_file=env.get("MLOPS_PROMETHEUS_CA_FILE") or None,
            metric_provider=env.get("MLOPS_METRIC_PROVIDER", defaults.metric_provider),
            alert_webhook_port=int(
                env.get("MLOPS_ALERT_WEBHOOK_PORT", defaults.alert_webhook_port)
            ),
            alert_webhook_host=env.get("MLOPS_ALERT_WEBHOOK_HOST", defaults.alert_webhook_host),
            metrics_port=int(env.get("MLOPS_METRICS_PORT", defaults.metrics_port)),
            alert_webhook_token_file=env.get("MLOPS_ALERT_WEBHOOK_TOKEN_FILE") or None,
            namespace=env.get("MLOPS_NAMESPACE") or None,
            time_zone=env.get("MLOPS_TIME_ZONE") or env.get("TZ") or None,
            audit_service=env.get("MLOPS_AUDIT_SERVICE", defaults.audit_service),
            audit_token_secret=env.get("MLOPS_AUDIT_TOKEN_SECRET",
                                       defaults.audit_token_secret),
        )
