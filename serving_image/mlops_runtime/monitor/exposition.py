"""The join's numbers as Prometheus series, built at scrape time from
:class:`~.quality.Quality` (names in ``mlops_telemetry``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from mlops_telemetry import (
    ABSOLUTE_ERROR_SUM,
    DEPLOYMENT_LABEL,
    LABEL_COVERAGE,
    LABEL_DELAY,
    LABELLED,
    LABELLED_OUTCOME_LABEL,
    LIVE_ACCURACY,
    LIVE_F1_MACRO,
    LIVE_LABELLED,
    LIVE_MAE,
    LIVE_RMSE,
    LOGGED,
    MODEL_LABEL,
    NAMESPACE_LABEL,
    SQUARED_ERROR_SUM,
    TRACK_LABEL,
    VERSION_LABEL,
)
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from mlops_runtime.monitor.quality import DELAY_BUCKETS, Quality

LABELS = [NAMESPACE_LABEL, DEPLOYMENT_LABEL, MODEL_LABEL, VERSION_LABEL, TRACK_LABEL]


class QualityCollector(Collector):
    """Counters since start, gauges over the window, the label-delay histogram."""

    def __init__(self, quality: Quality, clock: Callable[[], float]) -> None:
        self.quality = quality
        self.clock = clock

    def collect(self) -> Iterator[Metric]:
        quality = self.quality
        windows = quality.windows(self.clock())
        labelled = CounterMetricFamily(LABELLED, "Labelled predictions by outcome.",
                                       labels=[*LABELS, LABELLED_OUTCOME_LABEL])
        logged = CounterMetricFamily(LOGGED, "Predictions logged.", labels=LABELS)
        absolute = CounterMetricFamily(ABSOLUTE_ERROR_SUM, "Sum of absolute errors.",
                                       labels=LABELS)
        squared = CounterMetricFamily(SQUARED_ERROR_SUM, "Sum of squared errors.",
                                      labels=LABELS)
        delay = HistogramMetricFamily(LABEL_DELAY, "Seconds from prediction to label.",
                                      labels=LABELS)
        window = f"over the last {quality.window:g}s of prediction time"
        gauges = {
            "accuracy": GaugeMetricFamily(LIVE_ACCURACY, f"Accuracy {window}.", labels=LABELS),
            "f1_macro": GaugeMetricFamily(LIVE_F1_MACRO, f"Macro F1 {window}.", labels=LABELS),
            "rmse": GaugeMetricFamily(LIVE_RMSE, f"RMSE {window}.", labels=LABELS),
            "mae": GaugeMetricFamily(LIVE_MAE, f"MAE {window}.", labels=LABELS),
            "labelled": GaugeMetricFamily(LIVE_LABELLED, f"Labelled predictions {window}.",
                                          labels=LABELS),
            "coverage": GaugeMetricFamily(LABEL_COVERAGE, f"Labelled share {window}.",
                                          labels=LABELS),
        }
        for series, totals in quality.totals.items():
            key = list(series)
            logged.add_metric(key, totals.logged)
            if totals.regressor:
                labelled.add_metric([*key, "scored"], totals.scored)
                absolute.add_metric(key, totals.absolute)
                squared.add_metric(key, totals.squared)
            else:
                labelled.add_metric([*key, "correct"], totals.correct)
                labelled.add_metric([*key, "wrong"], totals.wrong)
            cumulative, buckets = 0, []
            for bound, count in zip([*map(str, DELAY_BUCKETS), "+Inf"], totals.delays,
                                    strict=True):
                cumulative += count
                buckets.append((bound, cumulative))
            delay.add_metric(key, buckets, totals.delay_sum)
            summary = windows.get(series)
            if summary is None:
                continue
            for name, value in (("accuracy", summary.accuracy), ("f1_macro", summary.f1_macro),
                                ("rmse", summary.rmse), ("mae", summary.mae),
                                ("labelled", summary.labelled), ("coverage", summary.coverage)):
                if value is not None:
                    gauges[name].add_metric(key, value)
        unknown = CounterMetricFamily("mlops_monitor_labels_unknown",
                                      "Labels whose prediction never reached the monitor.",
                                      value=quality.unknown)
        pending = GaugeMetricFamily("mlops_monitor_labels_pending",
                                    "Labels waiting for their prediction (grace period).",
                                    value=quality.pending())
        indexed = GaugeMetricFamily("mlops_monitor_join_predictions",
                                    "Logged predictions held for the join.",
                                    value=quality.indexed())
        yield from (labelled, logged, absolute, squared, delay, *gauges.values(),
                    unknown, pending, indexed)
