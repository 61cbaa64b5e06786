"""The metrics the model server exports and the operator's checks read, named once.

The model server (``mlops_runtime.server.metrics``) exports these series; the
operator's check observers (``mlops_operator.providers.checks``) query them. Both
import the names from here, so renaming a series or a label cannot break one side
silently. This package imports nothing from either side.

Counters are named without ``_total``; the Prometheus client appends it on
exposition, which is the name queries use (``*_TOTAL``).
"""

from __future__ import annotations

MODEL_LABEL = "model"
VERSION_LABEL = "version"
TRACK_LABEL = "track"
#: Which mlops Deployment a series belongs to. The server exports them itself, so the
#: checks find its series in any Prometheus (a PodMonitor of kube-prometheus-stack, a
#: plain pod scrape) without relabelling.
NAMESPACE_LABEL = "namespace"
DEPLOYMENT_LABEL = "deployment"
#: Labels the server puts on every series (fixed at startup).
SERVER_LABELS = (NAMESPACE_LABEL, DEPLOYMENT_LABEL, MODEL_LABEL, VERSION_LABEL, TRACK_LABEL)

#: Inference requests by HTTP status (label ``status``): the errorRate check.
REQUESTS = "mlops_requests"
REQUESTS_TOTAL = f"{REQUESTS}_total"
STATUS_LABEL = "status"
#: Inference latency histogram in seconds: the latencyP99 check.
REQUEST_DURATION = "mlops_request_duration_seconds"
#: Rows per inference request (histogram).
BATCH_SIZE = "mlops_batch_size"
#: Predicted classes (label ``class``) of a classifier: the predictionShift check.
PREDICTIONS = "mlops_predictions"
PREDICTIONS_TOTAL = f"{PREDICTIONS}_total"
CLASS_LABEL = "class"
#: Predicted values of a regressor (histogram): the predictionShift check.
PREDICTION_VALUE = "mlops_prediction_value"
#: Per-feature sums of the inputs (label ``feature``) and the row count: inputDrift.
FEATURE_SUM = "mlops_input_feature_sum"
FEATURE_SQUARES_SUM = "mlops_input_feature_squares_sum"
FEATURE_LABEL = "feature"
INPUT_ROWS = "mlops_input_rows"
INPUT_ROWS_TOTAL = f"{INPUT_ROWS}_total"
#: Each feature's mean and standard deviation in training (label ``feature``; from the
#: ModelVersion's referenceStats), so an alerting rule can compare live inputs with them.
FEATURE_REFERENCE_MEAN = "mlops_input_feature_reference_mean"
FEATURE_REFERENCE_STD = "mlops_input_feature_reference_std"
#: Always 1; which artifact (labels ``format``, ``sha256``) is served.
MODEL_INFO = "mlops_model_info"
#: Shadow traffic, on the server that mirrors (the stable one): mirrored requests by
#: outcome (label ``outcome``: compared, failed, dropped), compared rows by
#: ``agreement`` (agree, disagree), and for regressors the absolute and relative
#: differences (histograms). Label ``shadow`` names the version that got the copies.
MIRROR_REQUESTS = "mlops_mirror_requests"
MIRROR_REQUESTS_TOTAL = f"{MIRROR_REQUESTS}_total"
MIRROR_OUTCOME_LABEL = "outcome"
MIRROR_ROWS = "mlops_mirror_rows"
MIRROR_ROWS_TOTAL = f"{MIRROR_ROWS}_total"
AGREEMENT_LABEL = "agreement"
SHADOW_LABEL = "shadow"
MIRROR_ABS_DIFFERENCE = "mlops_mirror_abs_difference"
MIRROR_REL_DIFFERENCE = "mlops_mirror_rel_difference"

#: The prediction log: rows a model server sent to the monitor, by outcome (sent,
#: dropped: its buffer was full, retried: the monitor did not acknowledge a batch).
LOG_OUTCOME_LABEL = "outcome"
PREDICTION_LOG_ROWS = "mlops_prediction_log_rows"
PREDICTION_LOG_ROWS_TOTAL = f"{PREDICTION_LOG_ROWS}_total"

#: Live quality, exported by the monitor from labels joined with logged predictions by ID.
#: Every series carries the records' own namespace, deployment, model, version and track
#: (the monitor is scraped with honor_labels). Labelled predictions by ``outcome``
#: (correct or wrong for classifiers, scored for regressors) and, for regressors, the sums
#: of absolute and squared errors: counters, so a check compares two tracks over one window.
LABELLED = "mlops_model_labelled_predictions"
LABELLED_TOTAL = f"{LABELLED}_total"
LABELLED_OUTCOME_LABEL = "outcome"
ABSOLUTE_ERROR_SUM = "mlops_model_absolute_error_sum"
SQUARED_ERROR_SUM = "mlops_model_squared_error_sum"
#: Predictions the monitor logged (the denominator of label coverage).
LOGGED = "mlops_model_logged_predictions"
LOGGED_TOTAL = f"{LOGGED}_total"
#: Gauges over the monitor's sliding window of prediction time: accuracy, macro F1
#: (classifiers), RMSE and MAE (regressors), labelled predictions and the labelled share.
LIVE_ACCURACY = "mlops_model_live_accuracy"
LIVE_F1_MACRO = "mlops_model_live_f1_macro"
LIVE_RMSE = "mlops_model_live_rmse"
LIVE_MAE = "mlops_model_live_mae"
LIVE_LABELLED = "mlops_model_live_labelled"
LABEL_COVERAGE = "mlops_model_label_coverage"
#: Seconds from a prediction to its label's arrival (histogram).
LABEL_DELAY = "mlops_model_label_delay_seconds"
