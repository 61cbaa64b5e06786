"""Prometheus metrics of the model server, in the app's own registry.

Every series carries ``model``, ``version`` and ``track`` (stable|canary) so the
operator's canary analysis can compare the two tracks. Label values are fixed
once at startup (``.labels()`` children for counters, constant label lists for
the numpy-backed collectors); nothing is resolved per request.

Series and how the analysis uses them:

- ``mlops_requests_total{status}``: inference requests by HTTP status; error rate.
- ``mlops_request_duration_seconds``: inference latency histogram (100µs..1s).
- ``mlops_batch_size``: rows per inference request.
- ``mlops_predictions_total{class}`` (classifiers) or ``mlops_prediction_value``
  (regressors, histogram): prediction distribution.
- ``mlops_input_feature_sum{feature}``, ``mlops_input_feature_squares_sum{feature}``
  (gauges: sums can be negative) and ``mlops_input_rows_total``: input drift. Over
  a window: ``mean = delta(sum[w]) / increase(rows[w])`` and
  ``std = sqrt(delta(squares[w]) / increase(rows[w]) - mean^2)``. Numeric and bool
  features only (string features have no mean); a missing value counts as the
  feature's training mean (0 without reference statistics), so gaps do not read as drift.
- ``mlops_model_info{format,sha256}``: always 1; which artifact is served.

Cost: a request does a few list appends. Histograms
and statistics are folded with numpy every few thousand requests and at scrape
time, because prometheus_client's per-observation path (a lock per bucket
increment, a Python loop over bounds) was most of the metrics overhead. A scrape
always sees every request answered before it. Updates and exposition both run on
the event-loop thread, so the accumulators need no lock.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from mlops_telemetry import (
    BATCH_SIZE,
    CLASS_LABEL,
    FEATURE_LABEL,
    FEATURE_REFERENCE_MEAN,
    FEATURE_REFERENCE_STD,
    FEATURE_SQUARES_SUM,
    FEATURE_SUM,
    INPUT_ROWS,
    MODEL_INFO,
    PREDICTION_VALUE,
    PREDICTIONS,
    REQUEST_DURATION,
    REQUESTS,
    SERVER_LABELS,
    STATUS_LABEL,
)
from prometheus_client import CollectorRegistry, Counter, Gauge, GCCollector, ProcessCollector
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from mlops_runtime.server.columns import Inputs, Layout, concat, numeric_matrix
from mlops_runtime.server.runtime import LoadedModel, Prediction

LABELS = SERVER_LABELS
LATENCY_BUCKETS = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
)
BATCH_BUCKETS = tuple(float(2**k) for k in range(15))  # 1 .. 16384 rows
DEFAULT_PREDICTION_BUCKETS = (-1000.0, -100.0, -10.0, -1.0, 0.0, 1.0, 10.0, 100.0, 1000.0, 1e4)
COMMON_STATUSES = (200, 400, 404, 413, 500, 503)


class Buckets:
    """Histogram state fed whole arrays (Prometheus ``le``: value <= bound)."""

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = np.asarray(bounds, dtype=np.float64)
        self.counts = np.zeros(len(bounds) + 1, dtype=np.int64)
        self.total = 0.0

    def add(self, values: np.ndarray) -> None:
        """Count finite values into their buckets."""
        v = values.astype(np.float64, copy=False).reshape(-1)
        v = v[np.isfinite(v)]
        index = np.searchsorted(self.bounds, v, side="left")
        self.counts += np.bincount(index, minlength=len(self.counts))
        self.total += float(v.sum())

    def family(self, name: str, documentation: str, labels: list[str]) -> HistogramMetricFamily:
        """Cumulative exposition with fixed label values."""
        family = HistogramMetricFamily(name, documentation, labels=list(LABELS))
        cumulative = np.cumsum(self.counts).tolist()
        buckets = [
            (floatToGoString(b), float(c))
            for b, c in zip(self.bounds.tolist(), cumulative, strict=False)
        ]
        buckets.append(("+Inf", float(cumulative[-1])))
        family.add_metric(labels, buckets, self.total)
        return family


class RequestStats(Collector):
    """Per-request status, latency and rows: appended per request, folded in bulk.

    Statuses fold into the ``mlops_requests_total`` counter children (resolved
    once with ``.labels()``); latency and rows into numpy histograms.
    """

    FLUSH = 4096

    def __init__(self, label_values: Sequence[str], requests: Counter) -> None:
        self.label_values = list(label_values)
        self._counter = requests
        self._children = {s: requests.labels(*label_values, str(s)) for s in COMMON_STATUSES}
        self.latency = Buckets(LATENCY_BUCKETS)
        self.batch = Buckets(BATCH_BUCKETS)
        self._status: list[int] = []
        self._seconds: list[float] = []
        self._rows: list[int] = []

    def add(self, status: int, seconds: float, rows: int) -> None:
        """Record one request (rows 0: rejected before a batch was decoded)."""
        self._status.append(status)
        self._seconds.append(seconds)
        self._rows.append(rows)
        if len(self._status) >= self.FLUSH:
            self.flush()

    def flush(self) -> None:
        """Fold pending observations into the counter children and histograms."""
        if not self._status:
            return
        statuses, counts = np.unique(np.asarray(self._status), return_counts=True)
        seconds = np.asarray(self._seconds, dtype=np.float64)
        rows = np.asarray(self._rows, dtype=np.float64)
        self._status, self._seconds, self._rows = [], [], []
        for status, count in zip(statuses.tolist(), counts.tolist(), strict=True):
            child = self._children.get(status)
            if child is None:  # an unusual status: resolved once, then cached
                child = self._children[status] = self._counter.labels(
                    *self.label_values, str(status)
                )
            child.inc(count)
        self.latency.add(seconds)
        self.batch.add(rows[rows > 0])

    def describe(self) -> Iterable[Metric]:
        """Names only, so registering does not run a collection."""
        return [
            HistogramMetricFamily(REQUEST_DURATION, "", labels=list(LABELS)),
            HistogramMetricFamily(BATCH_SIZE, "", labels=list(LABELS)),
        ]

    def collect(self) -> Iterable[Metric]:
        """Flush, then expose the histograms (the counter is exposed by its own object)."""
        self.flush()
        return [
            self.latency.family(
                REQUEST_DURATION,
                "Inference request latency inside the server.",
                self.label_values,
            ),
            self.batch.family(BATCH_SIZE, "Rows per inference request.", self.label_values),
        ]


class BatchStats(Collector):
    """Input statistics and prediction distribution, reduced lazily with numpy.

    ``add`` only keeps references to the batch arrays; the numpy reduction runs
    when enough rows are pending or at scrape time, so a one-row request pays a
    list append instead of half a dozen numpy calls.
    """

    FLUSH_ROWS = 8192

    def __init__(
        self,
        features: Sequence[str],
        label_values: Sequence[str],
        classes: Sequence[Any] | None,
        classifier: bool,
        bounds: Sequence[float],
        fill: Sequence[float] | None = None,
    ) -> None:
        self.features = tuple(features)
        # What a missing (NaN) input counts as; None: inputs are never missing.
        self.fill = None if fill is None else np.asarray(fill, dtype=np.float64)
        self.label_values = list(label_values)
        self.classifier = classifier
        self.sums = np.zeros(len(features), dtype=np.float64)
        self.squares = np.zeros(len(features), dtype=np.float64)
        self.rows = 0
        self.class_counts: dict[str, int] = {str(c): 0 for c in classes or ()}
        self.values = Buckets(bounds)
        self._inputs: list[Inputs] = []
        self._outputs: list[np.ndarray] = []
        self._pending = 0

    def add(self, x: Inputs, prediction: Prediction) -> None:
        """Remember one model call's inputs and predictions."""
        self._inputs.append(x)
        self._outputs.append(prediction.values)
        self._pending += len(x)
        if self._pending >= self.FLUSH_ROWS:
            self.flush()

    def flush(self) -> None:
        """Fold pending batches into the totals (float64 sums keep precision)."""
        if not self._inputs:
            return
        x = numeric_matrix(concat(self._inputs))
        if self.fill is not None:
            x = np.where(np.isnan(x), self.fill, x)
        values = np.concatenate(self._outputs)
        self._inputs, self._outputs, self._pending = [], [], 0
        self.sums += x.sum(axis=0)
        self.squares += np.einsum("ij,ij->j", x, x)
        self.rows += x.shape[0]
        if not self.classifier:
            self.values.add(values)
            return
        found, counts = np.unique(values, return_counts=True)
        for label, count in zip(found.tolist(), counts.tolist(), strict=True):
            key = str(label)
            self.class_counts[key] = self.class_counts.get(key, 0) + count

    def describe(self) -> Iterable[Metric]:
        """Names only, so registering does not run a collection."""
        return self._families(with_samples=False)

    def collect(self) -> Iterable[Metric]:
        """Flush, then expose the totals as they are at scrape time."""
        self.flush()
        return self._families(with_samples=True)

    def _families(self, with_samples: bool) -> list[Metric]:
        labels = [*LABELS, FEATURE_LABEL]
        own = self.label_values
        sums = GaugeMetricFamily(
            FEATURE_SUM, "Sum of each input feature over all rows.", labels=labels
        )
        squares = GaugeMetricFamily(
            FEATURE_SQUARES_SUM,
            "Sum of squares of each input feature over all rows.",
            labels=labels,
        )
        rows = CounterMetricFamily(
            INPUT_ROWS, "Input rows seen by the model.", labels=list(LABELS)
        )
        families: list[Metric] = [sums, squares, rows]
        if self.classifier:
            predictions = CounterMetricFamily(
                PREDICTIONS, "Predicted classes.", labels=[*LABELS, CLASS_LABEL]
            )
            families.append(predictions)
        elif with_samples:
            families.append(self.values.family(PREDICTION_VALUE, "Predicted values.", own))
        else:
            families.append(HistogramMetricFamily(PREDICTION_VALUE, "", labels=[*LABELS]))
        if with_samples:
            for name, total, square in zip(
                self.features, self.sums.tolist(), self.squares.tolist(), strict=True
            ):
                sums.add_metric([*own, name], total)
                squares.add_metric([*own, name], square)
            rows.add_metric(own, self.rows)
            if self.classifier:
                for key, count in self.class_counts.items():
                    predictions.add_metric([*own, key], count)
        return families


class ServerMetrics:
    """All metrics of one served model; label values fixed at startup."""

    def __init__(self, loaded: LoadedModel, name: str, version: str, track: str,
                 reference: Mapping[str, Mapping[str, float]] | None = None, *,
                 namespace: str = "default", deployment: str | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.label_values = (namespace, deployment or name, name, version, track)
        values = self.label_values
        info = Gauge(
            MODEL_INFO,
            "The model this server serves (always 1).",
            [*LABELS, "format", "sha256"],
            registry=self.registry,
        )
        info.labels(*values, loaded.model_format, loaded.sha256).set(1)
        self._reference_gauges(reference or {})
        ProcessCollector(registry=self.registry)  # CPU and memory of this pod's server
        GCCollector(registry=self.registry)
        # Registered after the request stats: a scrape flushes them into this counter first.
        requests = Counter(
            REQUESTS,
            "Inference requests by HTTP status.",
            [*LABELS, STATUS_LABEL],
            registry=None,  # never the global registry; registered below, in order
        )
        self.requests = RequestStats(values, requests)
        self.registry.register(self.requests)
        self.registry.register(requests)
        schema = loaded.schema
        features, fill = schema.feature_names, None
        if schema.columnar:  # drift statistics of the numeric features, gaps filled
            features = tuple(schema.feature_names[i] for i in Layout.of(schema).numeric)
            fill = [float((reference or {}).get(name, {}).get("mean", 0.0)) for name in features]
        self.batches = BatchStats(
            features,
            values,
            schema.classes,
            schema.is_classifier,
            schema.prediction_buckets or DEFAULT_PREDICTION_BUCKETS,
            fill,
        )
        self.registry.register(self.batches)
        # The hot path calls these directly: no extra Python frame per request.
        self.observe_request: Callable[[int, float, int], None] = self.requests.add
        self.observe_batch: Callable[[Inputs, Prediction], None] = self.batches.add

    def _reference_gauges(self, reference: Mapping[str, Mapping[str, float]]) -> None:
        """The training mean and std of each feature, constant for the server's life."""
        if not reference:
            return
        for name, stat in ((FEATURE_REFERENCE_MEAN, "mean"), (FEATURE_REFERENCE_STD, "std")):
            gauge = Gauge(name, f"Each input feature's {stat} in training.",
                          [*LABELS, FEATURE_LABEL], registry=self.registry)
            for feature, stats in reference.items():
                gauge.labels(*self.label_values, feature).set(float(stats[stat]))
