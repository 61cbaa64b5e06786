"""The evaluation a reviewer reads: diagnostics of the hold-out, cross-validation of the
training split (``spec.crossValidation``), and their pictures written beside the artifact.

The ModelVersion gets the compact part (:attr:`Review.payload`); metadata.json gets all
of it (:attr:`Review.details`: every curve point and every fold's scores).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mlops_runtime.trainer import crossval, diagnostics, importance, plots
from mlops_runtime.trainer.artifacts import write_artifact
from mlops_runtime.trainer.errors import TrainerError
from mlops_runtime.trainer.spec import TrainingSpec

PLOTS_FOLDER = "plots"


@dataclass(frozen=True)
class Review:
    """``payload``: for the termination message; ``details``: for metadata.json."""

    payload: dict[str, Any]
    details: dict[str, Any]
    warnings: list[str]


def hold_out_diagnostics(y_true: np.ndarray, predicted: np.ndarray,
                         probabilities: np.ndarray | None,
                         classes: list[Any] | None) -> dict[str, Any]:
    """The diagnostics of the hold-out predictions, by task."""
    if classes is None:
        return diagnostics.regression_diagnostics(y_true, predicted)
    return diagnostics.classification_diagnostics(y_true, predicted, probabilities, classes)


def cross_validation(pipeline: Any, spec: TrainingSpec, frame: pd.DataFrame,
                     parts: Any, weights: np.ndarray | None = None) -> dict[str, Any] | None:
    """Cross-validate a fresh copy of ``pipeline`` on the training split (each fold fitted
    with its rows' ``weights`` when given), or None."""
    if spec.cross_validation is None:
        return None
    cv = crossval.resolve(spec.cross_validation, spec.task)
    order = np.argsort(parts.train_rows) if cv.method == "time" else np.arange(
        len(parts.train_rows))
    x = parts.x_train.iloc[order] if isinstance(parts.x_train, pd.DataFrame) else \
        parts.x_train[order]
    groups = None
    if cv.group_column is not None:
        if cv.group_column not in frame.columns:
            raise TrainerError("MissingFeature", f"crossValidation.groupColumn "
                               f"{cv.group_column!r} is not a column of the dataset")
        groups = frame[cv.group_column].astype(str).to_numpy()[parts.train_rows[order]]
    return crossval.cross_validate(pipeline, x, parts.y_train[order], cv,
                                   spec.task == "classification", spec.dataset.random_seed,
                                   groups, None if weights is None else weights[order])


def write_plots(details: dict[str, Any], title: str, output_uri: str
                ) -> tuple[dict[str, Any], list[str]]:
    """Draw and write every picture under ``plots/``: (name -> {uri, sha256}, warnings).
    A picture that cannot be drawn is a warning, never a failed training."""
    try:
        drawn = plots.draw_all(details, title)
    except Exception as error:  # a drawing bug must not throw away a trained model
        return {}, [f"plots not drawn: {type(error).__name__}: {error}"]
    return {file_name.removesuffix(".png"): write_artifact(
        output_uri, f"{PLOTS_FOLDER}/{file_name}", data).as_dict()
        for file_name, data in drawn.items()}, []


def review(pipeline: Any, spec: TrainingSpec, frame: pd.DataFrame, parts: Any,
           scored: Any, output_uri: str, features: list[str],
           weights: np.ndarray | None = None, fairness: dict[str, Any] | None = None) -> Review:
    """Diagnostics, importance (of ``features``, the model's input columns),
    cross-validation and pictures of one trained pipeline (``fairness``, the per-group
    report, gets its picture too)."""
    details = hold_out_diagnostics(parts.y_test, scored.predicted, scored.probabilities,
                                   scored.classes)
    ranked = importance.permutation(pipeline, parts.x_test, parts.y_test, features,
                                    scored.classes is not None, spec.dataset.random_seed)
    folds = cross_validation(pipeline, spec, frame, parts, weights)
    written, problems = write_plots({**details, "importance": ranked, "fairness": fairness},
                                    spec.model, output_uri)
    # Names only: the operator knows the folder (beside metadataUri), and the termination
    # message has room for little (see report.py).
    payload: dict[str, Any] = {"diagnostics": diagnostics.summary(details),
                               "plots": list(written)}
    full: dict[str, Any] = {"diagnostics": details, "plots": written, "importance": ranked}
    if ranked is not None:
        payload["importance"] = importance.summary(ranked)
    if folds is not None:
        payload["crossValidation"] = crossval.summary(folds)
        full["crossValidation"] = folds
        problems += [f"cross-validation fold {f['fold']} failed: {f['error']}"
                     for f in folds["failedFolds"]]
    return Review(payload, full, problems)
