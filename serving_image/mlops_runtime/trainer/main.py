"""``mlops-runtime train``: fit one scikit-learn model and publish its artifacts.

Inputs come from flags or the environment the operator sets on the training pod
(``MLOPS_TRAINING_SPEC``, ``MLOPS_OUTPUT_URI``, ``MLOPS_GIT_REVISION``,
``MLOPS_IMAGE``, and ``MLOPS_CHAMPION``: the version to compare with, if any).
Output: ``model.onnx`` (when convertible), ``model.skops`` and
``metadata.json`` under the output URI, and a compact JSON termination message
that the operator turns into a ModelVersion. Every failure exits 1 with a
``{"ok": false, "reason", "message"}`` termination message.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NoReturn

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from mlops_runtime import __version__ as runtime_version
from mlops_runtime import stores
from mlops_runtime.cli import write_termination_message
from mlops_runtime.trainer import (
    baseline,
    evaluate,
    export,
    fairness,
    preprocessing,
    report,
    review,
)
from mlops_runtime.trainer import data as datasets
from mlops_runtime.trainer.artifacts import check_output_uri, write_artifact
from mlops_runtime.trainer.champion import CHAMPION_ENV, ChampionRef, parse_champion
from mlops_runtime.trainer.errors import TrainerError
from mlops_runtime.trainer.pipeline import build_pipeline
from mlops_runtime.trainer.preprocessing import Plan
from mlops_runtime.trainer.profile import profile_table
from mlops_runtime.trainer.spec import (
    TrainingSpec,
    effective_params,
    load_spec_json,
    parse_spec,
)

SPEC_ENV = "MLOPS_TRAINING_SPEC"
OUTPUT_ENV = "MLOPS_OUTPUT_URI"
GIT_REVISION_ENV = "MLOPS_GIT_REVISION"
IMAGE_ENV = "MLOPS_IMAGE"
MAX_WARNINGS = 10


@dataclass(frozen=True)
class Options:
    """Command-line/environment inputs."""

    spec_json: str | None
    output_uri: str | None
    git_revision: str | None
    image: str | None
    champion_json: str | None = None


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of exiting 2, so bad flags still get a termination message."""

    def error(self, message: str) -> NoReturn:
        raise TrainerError("InvalidParams", f"bad command line: {message}")


def parse_args(argv: list[str], env: dict[str, str] | None = None) -> Options:
    """Flags win over environment variables."""
    env = dict(os.environ) if env is None else env
    parser = _Parser(prog="mlops-runtime train", description="Train a scikit-learn model.")
    parser.add_argument("--spec-json", default=env.get(SPEC_ENV), help=f"or ${SPEC_ENV}")
    parser.add_argument("--output-uri", default=env.get(OUTPUT_ENV), help=f"or ${OUTPUT_ENV}")
    parser.add_argument(
        "--git-revision", default=env.get(GIT_REVISION_ENV), help=f"or ${GIT_REVISION_ENV}"
    )
    parser.add_argument("--image", default=env.get(IMAGE_ENV), help=f"or ${IMAGE_ENV}")
    parser.add_argument("--champion-json", default=env.get(CHAMPION_ENV),
                        help=f"or ${CHAMPION_ENV}")
    args = parser.parse_args(argv)
    return Options(args.spec_json, args.output_uri, args.git_revision or None, args.image or None,
                   args.champion_json or None)


def framework_versions() -> dict[str, str]:
    """Versions of the libraries that produced and can run the artifacts."""
    import onnxruntime
    import skl2onnx
    import sklearn
    import skops

    return {
        "sklearn": sklearn.__version__,
        "onnxruntime": onnxruntime.__version__,
        "skl2onnx": skl2onnx.__version__,
        "skops": skops.__version__,
    }


def fit(pipeline: Pipeline, x: np.ndarray | pd.DataFrame, y: np.ndarray,
        weights: np.ndarray | None = None) -> list[str]:
    """Fit (with per-row ``weights`` when given), returning the (deduplicated) warnings
    raised, which go into metadata."""
    try:
        from sklearn.utils._param_validation import InvalidParameterError
    except ImportError:  # private module moved: parameter errors become TrainingError
        InvalidParameterError = ()  # type: ignore[assignment,misc]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            pipeline.fit(x, y, **({} if weights is None else {"estimator__sample_weight": weights}))
        except InvalidParameterError as error:
            raise TrainerError("InvalidParams", str(error)) from None
        except Exception as error:  # numerical failures, bad labels...
            raise TrainerError(
                "TrainingError", f"fitting failed: {type(error).__name__}: {error}"
            ) from None
    seen: list[str] = []
    for item in caught:
        if issubclass(item.category, FutureWarning | DeprecationWarning):
            continue
        text = f"{item.category.__name__}: {str(item.message).splitlines()[0]}"
        if text not in seen:
            seen.append(text)
    return seen[:MAX_WARNINGS]


def train(spec: TrainingSpec, raw_spec: dict[str, Any], options: Options) -> dict[str, Any]:
    """Run the whole training; returns the termination payload (metadata is written)."""
    output_uri = options.output_uri
    if not output_uri:
        raise TrainerError("InvalidParams", f"no output URI: pass --output-uri or set {OUTPUT_ENV}")
    check_output_uri(output_uri)
    started = time.monotonic()

    champion = parse_champion(options.champion_json)
    fetched = datasets.fetch_bytes(spec.dataset)
    fingerprint = stores.sha256_hex(fetched.data)
    frame = datasets.parse_table(fetched, spec.dataset.uri)
    profile = profile_table(frame, spec.dataset.target)
    checked = baseline.check_data(profile, champion, spec.data_checks)  # before any fitting
    plan, parts = _plan_and_split(frame, spec)
    groups = fairness.split_groups(spec.fairness, frame, parts, spec.task)
    weights = groups.weights if groups else None

    pipeline = build_pipeline(plan, spec.estimator, spec.dataset.random_seed)
    fit_warnings = fit(pipeline, parts.x_train, parts.y_train, weights)
    scored = _evaluate(pipeline, parts, spec.task == "classification")
    evaluation = _against_champion(spec, plan, pipeline, frame, parts, scored, champion)
    fair = groups.report(parts.y_test, scored.predicted) if groups else None
    reviewed = review.review(pipeline, spec, frame, parts, scored, output_uri,
                             list(plan.features), weights, fair)
    reference = evaluate.reference_stats(parts.x_train, {c.name: c.kind for c in plan.columns})
    schema = export.input_schema(
        plan.features, [c.schema_type for c in plan.columns], spec.task, spec.dataset.target,
        scored.classes, [c.nullable for c in plan.columns],
    )
    exported = _export(pipeline, parts, scored, schema, output_uri)
    payload = _payload(spec, options, scored, exported, schema, reference, plan, {
        "uri": spec.dataset.uri,
        "sha256": fingerprint,
        "rows": int(len(frame)),
        "columns": int(frame.shape[1]),
    })
    payload["metadataUri"] = f"{output_uri.rstrip('/')}/metadata.json"
    payload["evaluation"] = evaluation
    payload["dataChecks"] = checked.summary()
    payload.update(reviewed.payload)
    if fair is not None:
        payload["fairness"] = fair
    metadata = {
        **payload,
        "schemaVersion": 1,
        "model": spec.model,
        "metrics": scored.metrics,
        "referenceStats": reference,
        "dataProfile": profile,
        "dataChecks": checked.details(),
        **reviewed.details,
        "dataset": {
            **payload["dataset"],
            "format": fetched.format,
            "columnNames": list(frame.columns),
            "trainRows": int(len(parts.y_train)),
            "testRows": int(len(parts.y_test)),
        },
        "onnxError": exported.onnx.error,
        "onnxParity": exported.onnx.parity.as_dict() if exported.onnx.parity else None,
        "preprocessingPlan": _plan_details(plan),
        "skopsTrustedTypes": exported.skops.trusted_types,
        "allEstimatorParams": export.jsonable(
            pipeline.named_steps["estimator"].get_params(deep=False)
        ),
        "warnings": [*checked.warnings, *fit_warnings, *reviewed.warnings],
        "framework": {**payload["framework"], **_runtime_versions()},
        "spec": raw_spec,
        "trainedAt": datetime.now(UTC).isoformat(timespec="seconds"),
        "trainingSeconds": round(time.monotonic() - started, 3),
    }
    write_artifact(output_uri, "metadata.json", report.compact_json(metadata).encode("utf-8"))
    print(report.human_summary(metadata))
    return payload


def _plan_and_split(frame: pd.DataFrame, spec: TrainingSpec) -> tuple[Plan, Any]:
    """The features' preprocessing plan (from the data and spec.preprocessing) and the
    train/test split of the model inputs it gives."""
    if spec.fairness is not None:
        fairness.check_columns(spec.fairness, frame, spec.dataset.target, spec.dataset.features)
    prepared = datasets.prepare(fairness.model_columns(spec.fairness, frame), spec.dataset,
                                spec.task)
    plan = preprocessing.infer_plan(
        prepared.frame, spec.preprocessing, spec.estimator.name,
        effective_params(spec.estimator, spec.dataset.random_seed))
    x = preprocessing.model_inputs(prepared.frame, plan, spec.dataset.column_scale)
    return plan, datasets.split(x, prepared.y, spec.dataset, spec.task)


@dataclass(frozen=True)
class _Scored:
    """The fitted model on the test split: predictions, metrics, prediction distribution."""

    predicted: Any
    probabilities: Any
    classes: list[Any] | None
    metrics: dict[str, Any]
    prediction_stats: dict[str, Any]


def _evaluate(pipeline: Any, parts: Any, classifier: bool) -> _Scored:
    """Score the test split; a fitted model that cannot predict is a training failure."""
    try:
        predicted = pipeline.predict(parts.x_test)
        if classifier:
            classes = list(pipeline.classes_)
            proba = pipeline.predict_proba(parts.x_test)
            metrics = evaluate.classification_metrics(parts.y_test, predicted, proba, classes)
            return _Scored(predicted, proba, classes, metrics,
                           evaluate.class_distribution(predicted, classes))
        return _Scored(predicted, None, None,
                       evaluate.regression_metrics(parts.y_test, predicted),
                       evaluate.value_histogram(predicted))
    except Exception as error:
        raise TrainerError(
            "TrainingError", f"evaluation failed: {type(error).__name__}: {error}"
        ) from None


def _against_champion(spec: TrainingSpec, plan: Plan, pipeline: Any, frame: pd.DataFrame,
                      parts: Any, scored: _Scored, champion: ChampionRef | None
                      ) -> dict[str, Any]:
    """Both versions' metrics on the same rows: the hold-out, or ``spec.evaluation``."""
    classifier = spec.task == "classification"
    if spec.evaluation is not None:
        rows = baseline.evaluation_set(spec, spec.evaluation, plan)
        return baseline.evaluate_both(pipeline, rows, champion, classifier)
    rows = baseline.holdout_rows(frame, parts, spec)
    return baseline.evaluate_both(pipeline, rows, champion, classifier, scored.metrics)


@dataclass(frozen=True)
class _Exported:
    """Both serialisations and where they were written."""

    onnx: Any
    skops: Any
    artifacts: dict[str, Any]


def _export(pipeline: Any, parts: Any, scored: _Scored, schema: dict[str, Any],
            output_uri: str) -> _Exported:
    """ONNX (checked against sklearn's own predictions) and skops; without skops there is
    nothing safe to serve, so its failure fails the training."""
    onnx = export.export_onnx(pipeline, parts.x_test, scored.classes is not None, schema)
    try:
        skops = export.export_skops(pipeline)
    except Exception as error:
        raise TrainerError("TrainingError", f"skops serialisation failed: {error}") from None
    onnx_written = write_artifact(output_uri, "model.onnx", onnx.data) if onnx.data else None
    skops_written = write_artifact(output_uri, "model.skops", skops.data)
    return _Exported(onnx, skops, {
        "onnx": onnx_written.as_dict() if onnx_written else None,
        "skops": skops_written.as_dict(),
    })


def _plan_details(plan: Plan) -> list[dict[str, Any]]:
    """Every column's plan, spelled out (metadata.json only)."""
    return [{"name": c.name, "kind": c.kind, "inferredKind": c.inferred_kind,
             "impute": c.impute, "fillValue": c.fill_value, "encode": c.encode,
             "type": c.schema_type, "nullable": c.nullable, "missing": c.missing}
            for c in plan.columns]


def _payload(spec: TrainingSpec, options: Options, scored: _Scored, exported: _Exported,
             schema: dict[str, Any], reference: Any, plan: Plan,
             dataset: dict[str, Any]) -> dict[str, Any]:
    """The compact result the operator reads from the termination message; the plan goes
    into ``params.preprocessing``, which the operator copies into the ModelVersion."""
    params = {
        "estimator": spec.estimator.name,
        "scaler": spec.estimator.scaler,
        "testFraction": spec.dataset.test_fraction,
        "randomSeed": spec.dataset.random_seed,
        "estimatorParams": export.jsonable(
            effective_params(spec.estimator, spec.dataset.random_seed)
        ),
        "preprocessing": plan.to_json(),
    }
    if spec.dataset.column_scale:
        params["columnScale"] = dict(spec.dataset.column_scale)
    onnx = exported.onnx
    payload: dict[str, Any] = {
        "ok": True,
        "task": spec.task,
        "metrics": evaluate.round_metrics(scored.metrics),
        "artifacts": exported.artifacts,
        "preferredFormat": "onnx" if onnx.data and onnx.matches else "skops",
        "onnxMatches": onnx.matches,
        "dataset": dataset,
        "inputSchema": schema,
        "params": params,
        "referenceStats": evaluate.summary_stats(reference),
        "predictionStats": scored.prediction_stats,
        "framework": framework_versions(),
    }
    if options.git_revision:
        payload["gitRevision"] = options.git_revision
    if options.image:
        payload["image"] = options.image
    return payload


def _runtime_versions() -> dict[str, str]:
    return {
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "python": platform.python_version(),
        "mlopsRuntime": runtime_version,
    }


def fail(error: TrainerError) -> int:
    """Report a failure the same way on stderr and in the termination message."""
    message = report.failure_message(error.reason, error.message)
    print(f"training failed: {error.reason}: {error.message}", file=sys.stderr)
    print(message, file=sys.stderr)
    write_termination_message(message)
    return 1


def main(argv: list[str]) -> int:
    """Entry point used by ``mlops-runtime train``; returns the exit code."""
    try:
        options = parse_args(argv)
        raw = dict(load_spec_json(options.spec_json))
        spec = parse_spec(raw)
        payload = train(spec, raw, options)
    except TrainerError as error:
        return fail(error)
    except Exception as error:  # a bug must still leave a readable reason behind
        return fail(TrainerError("TrainingError", f"unexpected {type(error).__name__}: {error}"))
    message = report.success_message(payload)
    print(message)
    write_termination_message(message)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
