"""Metric folding: bulk (numpy) updates must equal one-by-one Prometheus semantics."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from mlops_runtime.server.metrics import BatchStats, Buckets, RequestStats, ServerMetrics
from mlops_runtime.server.runtime import Prediction, load_model
from prometheus_client import generate_latest


def test_buckets_use_le_semantics() -> None:
    buckets = Buckets([1.0, 2.0, 5.0])
    buckets.add(np.array([0.5, 1.0, 1.5, 2.0, 5.0, 7.0, np.nan, np.inf]))
    assert buckets.counts.tolist() == [2, 2, 1, 1]  # value == bound lands in that bucket
    assert buckets.total == pytest.approx(17.0)


@pytest.mark.parametrize("flush", [1, 3, 4096])
def test_folding_gives_the_same_totals_whenever_it_happens(
    models: Any, metric: Any, monkeypatch: pytest.MonkeyPatch, flush: int
) -> None:
    monkeypatch.setattr(RequestStats, "FLUSH", flush)
    monkeypatch.setattr(BatchStats, "FLUSH_ROWS", flush)
    artifact = models.artifacts["iris_lr"]
    loaded = load_model(artifact.uri, artifact.sha256)
    metrics = ServerMetrics(loaded, "iris", "1", "stable")
    rng = np.random.default_rng(0)
    statuses = [200, 200, 400, 200, 418, 500, 200]
    for i, status in enumerate(statuses):
        rows = 0 if status != 200 else i + 1
        metrics.observe_request(status, 0.0002 * (i + 1), rows)
        if rows:
            x = rng.normal(size=(rows, 4)).astype(np.float32)
            metrics.observe_batch(x, loaded.model.predict(x))
    text = generate_latest(metrics.registry).decode()
    labels = {"model": "iris", "version": "1", "track": "stable"}
    assert metric(text, "mlops_requests_total", status="200", **labels) == 4
    assert metric(text, "mlops_requests_total", status="418", **labels) == 1
    assert metric(text, "mlops_request_duration_seconds_count", **labels) == len(statuses)
    assert metric(text, "mlops_request_duration_seconds_bucket", le="0.00025", **labels) == 1
    assert metric(text, "mlops_batch_size_count", **labels) == 4
    assert metric(text, "mlops_batch_size_sum", **labels) == 1 + 2 + 4 + 7
    assert metric(text, "mlops_input_rows_total", **labels) == 14
    predicted = sum(metric(text, "mlops_predictions_total", **{"class": c}) for c in "012")
    assert predicted == 14
    assert metric(text, "process_cpu_seconds_total") > 0


def test_every_series_names_its_namespace_and_deployment(models: Any, metric: Any) -> None:
    """What the checks select on comes from the server itself: any Prometheus (a PodMonitor,
    a plain pod scrape) sees it without relabelling; outside a Deployment, the model's name."""
    artifact = models.artifacts["iris_lr"]
    loaded = load_model(artifact.uri, artifact.sha256)
    metrics = ServerMetrics(loaded, "iris", "iris-v2", "canary", namespace="ml",
                            deployment="serve")
    metrics.observe_request(200, 0.001, 1)
    x = np.zeros((1, 4), np.float32)
    metrics.observe_batch(x, loaded.model.predict(x))
    text = generate_latest(metrics.registry).decode()
    labels = {"namespace": "ml", "deployment": "serve", "model": "iris", "version": "iris-v2",
              "track": "canary"}
    for name in ("mlops_requests_total", "mlops_request_duration_seconds_count",
                 "mlops_input_rows_total", "mlops_model_info"):
        assert metric(text, name, **labels) >= 1, name
    alone = generate_latest(ServerMetrics(loaded, "iris", "1", "stable").registry).decode()
    assert metric(alone, "mlops_model_info", namespace="default", deployment="iris") == 1


def test_regression_predictions_histogram() -> None:
    stats = BatchStats(["a"], ["ml", "m", "m", "1", "canary"], None, False, [0.0, 10.0])
    stats.add(np.zeros((3, 1), np.float32), Prediction(np.array([-1.0, 5.0, 50.0])))
    families = {f.name: f for f in stats.collect()}
    samples = {
        (s.name, s.labels.get("le")): s.value for s in families["mlops_prediction_value"].samples
    }
    assert samples[("mlops_prediction_value_bucket", "0.0")] == 1
    assert samples[("mlops_prediction_value_bucket", "10.0")] == 2
    assert samples[("mlops_prediction_value_bucket", "+Inf")] == 3
    assert samples[("mlops_prediction_value_sum", None)] == pytest.approx(54.0)


def test_training_reference_stats_are_exported_for_drift_alerts(
        models: Any, metric: Any, run_serve: Any) -> None:
    artifact = models.artifacts["iris_lr"]
    loaded = load_model(artifact.uri, artifact.sha256)
    reference = {"petal length (cm)": {"mean": 3.76, "std": 1.76}}
    metrics = ServerMetrics(loaded, "iris", "1", "stable", reference)
    text = generate_latest(metrics.registry).decode()
    labels = {"model": "iris", "version": "1", "feature": "petal length (cm)"}
    assert metric(text, "mlops_input_feature_reference_mean", **labels) == 3.76
    assert metric(text, "mlops_input_feature_reference_std", **labels) == 1.76
    plain = generate_latest(ServerMetrics(loaded, "iris", "1", "stable").registry).decode()
    assert "reference_mean" not in plain
    result = run_serve("--model-uri", artifact.uri, "--sha256", artifact.sha256,
                       "--reference-stats", '{"a": {"mean": "x"}}')
    assert result.returncode == 2 and "--reference-stats" in result.stderr
