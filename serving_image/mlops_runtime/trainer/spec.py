"""Parse and validate the training spec (camelCase, as in the TrainingJob CRD).

Pure: takes the decoded JSON and returns frozen dataclasses, or raises
:class:`TrainerError` with a message naming the offending field. Validation happens
before any data is fetched so a typo fails in milliseconds, not after a download.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sklearn.base import BaseEstimator, is_classifier, is_regressor
from sklearn.ensemble import (
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import Lasso, LinearRegression, LogisticRegression, Ridge
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor
from sklearn.utils.validation import has_fit_parameter

from mlops_runtime.trainer.crossval import CrossValidationSpec, parse_cross_validation
from mlops_runtime.trainer.datachecks import DataChecksSpec, parse_data_checks
from mlops_runtime.trainer.errors import TrainerError
from mlops_runtime.trainer.fairness import FairnessSpec, parse_fairness
from mlops_runtime.trainer.preprocessing_spec import PreprocessingSpec, parse_preprocessing

#: The only estimators the built-in trainer builds. Anything else is an error,
#: never a silent default; users with other needs bring their own container.
ESTIMATORS: dict[str, type[BaseEstimator]] = {
    "LogisticRegression": LogisticRegression,
    "RandomForestClassifier": RandomForestClassifier,
    "RandomForestRegressor": RandomForestRegressor,
    "GradientBoostingClassifier": GradientBoostingClassifier,
    "GradientBoostingRegressor": GradientBoostingRegressor,
    "DecisionTreeClassifier": DecisionTreeClassifier,
    "DecisionTreeRegressor": DecisionTreeRegressor,
    "LinearRegression": LinearRegression,
    "Ridge": Ridge,
    "Lasso": Lasso,
    "KNeighborsClassifier": KNeighborsClassifier,
    "KNeighborsRegressor": KNeighborsRegressor,
    "SVC": SVC,
    "HistGradientBoostingClassifier": HistGradientBoostingClassifier,
    "HistGradientBoostingRegressor": HistGradientBoostingRegressor,
}

#: Scalers by name; ``None`` means no scaling step in the pipeline.
SCALERS: dict[str, type[BaseEstimator] | None] = {"standard": StandardScaler, "none": None}

#: Trees split on thresholds, so scaling changes nothing for them except adding a
#: float32-vs-float64 step that makes ONNX disagree with scikit-learn at split
#: boundaries. Their default scaler is therefore "none"; others default to "standard".
UNSCALED_BY_DEFAULT = frozenset(
    name for name in ESTIMATORS if "Forest" in name or "Tree" in name or "Boosting" in name
)

#: Parameters we set unless the user did: reproducibility and the probabilities
#: that roc_auc and the ONNX ``probabilities`` output need.
FORCED_PARAMS: dict[str, dict[str, Any]] = {"SVC": {"probability": True}}

FORMATS = ("csv", "parquet")
TASKS = ("classification", "regression")


@dataclass(frozen=True)
class DatasetSpec:
    """Where the data is and how to read it."""

    uri: str
    target: str = "target"
    format: str | None = None
    features: tuple[str, ...] | None = None
    test_fraction: float = 0.2
    random_seed: int = 42
    column_scale: Mapping[str, float] = field(default_factory=dict)
    s3_endpoint: str | None = None


@dataclass(frozen=True)
class EstimatorSpec:
    """Which estimator to fit and with what parameters."""

    name: str
    params: Mapping[str, Any] = field(default_factory=dict)
    scaler: str = "standard"


@dataclass(frozen=True)
class EvaluationSpec:
    """One evaluation set for every version (``spec.evaluation``): the same rows each
    time, instead of each version's own hold-out."""

    uri: str
    format: str | None = None


@dataclass(frozen=True)
class TrainingSpec:
    """The whole validated spec."""

    model: str
    dataset: DatasetSpec
    estimator: EstimatorSpec
    task: str
    preprocessing: PreprocessingSpec = field(default_factory=PreprocessingSpec)
    evaluation: EvaluationSpec | None = None
    data_checks: DataChecksSpec | None = None
    cross_validation: CrossValidationSpec | None = None
    fairness: FairnessSpec | None = None


def _invalid(message: str) -> TrainerError:
    return TrainerError("InvalidParams", message)


def load_spec_json(text: str | None) -> Mapping[str, Any]:
    """Decode the spec JSON; empty or malformed input is a spec error."""
    if not text or not text.strip():
        raise _invalid("no training spec: pass --spec-json or set MLOPS_TRAINING_SPEC")
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as error:
        raise _invalid(f"training spec is not valid JSON: {error}") from None
    if not isinstance(raw, dict):
        raise _invalid("training spec must be a JSON object")
    return raw


def _object(raw: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    value = raw.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _invalid(f"{where}{key} must be an object, got {type(value).__name__}")
    return value


def _string(raw: Mapping[str, Any], key: str, where: str, default: str | None = None) -> str:
    value = raw.get(key, default)
    if not isinstance(value, str) or not value:
        raise _invalid(f"{where}{key} must be a non-empty string, got {value!r}")
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def parse_dataset(raw: Mapping[str, Any]) -> DatasetSpec:
    """Validate ``spec.dataset``."""
    where = "dataset."
    uri = _string(raw, "uri", where)
    target = _string(raw, "target", where, "target")
    fmt = raw.get("format")
    if fmt is not None and fmt not in FORMATS:
        raise _invalid(f"dataset.format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    features = raw.get("features")
    if features is not None:
        if (
            not isinstance(features, list)
            or not features
            or not all(isinstance(f, str) and f for f in features)
        ):
            raise _invalid("dataset.features must be a non-empty list of column names")
        if len(set(features)) != len(features):
            raise _invalid("dataset.features lists a column more than once")
        if target in features:
            raise _invalid(f"dataset.features must not contain the target column {target!r}")
        features = tuple(features)
    fraction = raw.get("testFraction", 0.2)
    if not _is_number(fraction) or not 0.0 < float(fraction) < 1.0:
        raise _invalid(f"dataset.testFraction must be a number between 0 and 1, got {fraction!r}")
    seed = raw.get("randomSeed", 42)
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2**32:
        raise _invalid(f"dataset.randomSeed must be an integer in [0, 2^32), got {seed!r}")
    scale = _object(raw, "columnScale", where)
    for column, factor in scale.items():
        if not _is_number(factor) or not math.isfinite(factor):
            raise _invalid(f"dataset.columnScale[{column!r}] must be a finite number")
    s3 = _object(raw, "s3", where)
    endpoint = s3.get("endpoint")
    if endpoint is not None and (not isinstance(endpoint, str) or not endpoint):
        raise _invalid("dataset.s3.endpoint must be a URL string")
    return DatasetSpec(
        uri=uri,
        target=target,
        format=fmt,
        features=features,
        test_fraction=float(fraction),
        random_seed=seed,
        column_scale={str(k): float(v) for k, v in scale.items()},
        s3_endpoint=endpoint,
    )


def parse_estimator(raw: Mapping[str, Any]) -> EstimatorSpec:
    """Validate ``spec.estimator``: allowlisted name, known params, known scaler."""
    name = _string(raw, "name", "estimator.")
    if name not in ESTIMATORS:
        raise TrainerError(
            "UnknownEstimator",
            f"unknown estimator {name!r}; allowed: {', '.join(sorted(ESTIMATORS))}",
        )
    params = dict(_object(raw, "params", "estimator."))
    valid = ESTIMATORS[name]().get_params(deep=False)
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise _invalid(
            f"unknown parameter{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(repr(p) for p in unknown)} for {name}; "
            f"valid parameters: {', '.join(sorted(valid))}"
        )
    for key, forced in FORCED_PARAMS.get(name, {}).items():
        if key in params and params[key] != forced:
            raise _invalid(f"{name} needs {key}={forced!r} (the model must give probabilities)")
    scaler = raw.get("scaler") or default_scaler(name)
    if scaler not in SCALERS:
        raise _invalid(f"estimator.scaler must be one of {', '.join(SCALERS)}, got {scaler!r}")
    return EstimatorSpec(name=name, params=params, scaler=scaler)


def default_scaler(estimator_name: str) -> str:
    """``none`` for tree models, ``standard`` for the rest."""
    return "none" if estimator_name in UNSCALED_BY_DEFAULT else "standard"


def task_of(estimator_name: str) -> str:
    """The task an allowlisted estimator performs."""
    instance = ESTIMATORS[estimator_name]()
    if is_classifier(instance):
        return "classification"
    if is_regressor(instance):
        return "regression"
    raise _invalid(f"{estimator_name} is neither a classifier nor a regressor")


def parse_spec(raw: Mapping[str, Any]) -> TrainingSpec:
    """Validate the whole spec; unknown top-level keys are ignored (the CRD owns them)."""
    model = _string(raw, "model", "")
    dataset = parse_dataset(_required_object(raw, "dataset"))
    estimator = parse_estimator(_required_object(raw, "estimator"))
    inferred = task_of(estimator.name)
    task = raw.get("task") or inferred
    if task not in TASKS:
        raise _invalid(f"task must be one of {', '.join(TASKS)}, got {task!r}")
    if task != inferred:
        raise _invalid(f"task {task!r} does not match estimator {estimator.name} ({inferred})")
    build_estimator(estimator, dataset.random_seed)  # parameter values fail here, not after I/O
    preprocessing = parse_preprocessing(raw.get("preprocessing"), estimator.name)
    fairness = parse_fairness(raw.get("qualityGate"))
    if fairness is not None and fairness.mitigation == "reweighing" and not has_fit_parameter(
            ESTIMATORS[estimator.name](), "sample_weight"):
        raise _invalid(f"qualityGate.fairness.mitigation: reweighing weights the training rows, "
                       f"and {estimator.name} cannot take weights (no sample_weight)")
    return TrainingSpec(model=model, dataset=dataset, estimator=estimator, task=task,
                        preprocessing=preprocessing,
                        evaluation=parse_evaluation(raw.get("evaluation")),
                        data_checks=parse_data_checks(raw.get("dataChecks")),
                        cross_validation=parse_cross_validation(raw.get("crossValidation")),
                        fairness=fairness)


def parse_evaluation(raw: Any) -> EvaluationSpec | None:
    """Validate ``spec.evaluation`` (absent: each version is evaluated on its hold-out)."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise _invalid(f"evaluation must be an object, got {type(raw).__name__}")
    unknown = sorted(set(raw) - {"uri", "format"})
    if unknown:
        raise _invalid(f"evaluation.{unknown[0]} is not a known field; valid: uri, format")
    fmt = raw.get("format")
    if fmt is not None and fmt not in FORMATS:
        raise _invalid(f"evaluation.format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    return EvaluationSpec(uri=_string(raw, "uri", "evaluation."), format=fmt)


def _required_object(raw: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    if key not in raw:
        raise _invalid(f"training spec has no {key!r} section")
    return _object(raw, key, "")


def effective_params(spec: EstimatorSpec, seed: int) -> dict[str, Any]:
    """User params plus the ones the trainer sets (seed, probabilities)."""
    params = dict(FORCED_PARAMS.get(spec.name, {}))
    params.update(spec.params)
    defaults = ESTIMATORS[spec.name]().get_params(deep=False)
    if "random_state" in defaults and "random_state" not in params:
        params["random_state"] = seed
    return params


def build_estimator(spec: EstimatorSpec, seed: int) -> BaseEstimator:
    """Instantiate the estimator and check parameter values with scikit-learn's own rules."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # SVC(probability=True), 1.9+
            estimator = ESTIMATORS[spec.name](**effective_params(spec, seed))
            validate = getattr(estimator, "_validate_params", None)
            if validate is not None:
                validate()
    except (TypeError, ValueError) as error:
        raise _invalid(f"invalid parameters for {spec.name}: {error}") from None
    return estimator
