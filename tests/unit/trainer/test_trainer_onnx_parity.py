"""ONNX predicts like scikit-learn for the whole mixed-type pipeline: held-out rows with
missing values, rows with unseen categories, rows with every nullable feature missing."""

from __future__ import annotations

from typing import Any

import numpy as np
import onnxruntime
import pandas as pd
import pytest
from mlops_runtime.trainer import export, preprocessing
from mlops_runtime.trainer.data import split
from mlops_runtime.trainer.pipeline import build_pipeline
from mlops_runtime.trainer.preprocessing_spec import parse_preprocessing
from mlops_runtime.trainer.sample_loans import generate
from mlops_runtime.trainer.spec import DatasetSpec, parse_estimator


def fitted(estimator: dict[str, Any], target: str = "defaulted",
           raw: dict[str, Any] | None = None) -> tuple[Any, Any, Any, dict[str, Any]]:
    """(pipeline, plan, held-out inputs, schema) for the loans table, fitted."""
    frame = generate(rows=1000, seed=11)
    features = frame.drop(columns=[target])
    spec = parse_estimator(estimator)
    plan = preprocessing.infer_plan(features, parse_preprocessing(raw, spec.name), spec.name)
    x = preprocessing.model_inputs(features, plan, {})
    classifier = target == "defaulted"
    parts = split(x, frame[target].to_numpy(), DatasetSpec(uri="file:///x", random_seed=3),
                  "classification" if classifier else "regression")
    pipeline = build_pipeline(plan, spec, 3).fit(parts.x_train, parts.y_train)
    schema = export.input_schema(plan.features, [c.schema_type for c in plan.columns],
                                 "classification" if classifier else "regression", target,
                                 [0, 1] if classifier else None, [c.nullable for c in plan.columns])
    return pipeline, plan, parts.x_test, schema


@pytest.mark.parametrize(
    ("estimator", "raw"),
    [
        ({"name": "LogisticRegression", "params": {"max_iter": 1000}}, None),
        ({"name": "RandomForestClassifier", "params": {"n_estimators": 25}}, None),
        ({"name": "GradientBoostingClassifier", "params": {"n_estimators": 30}}, None),
        ({"name": "DecisionTreeClassifier", "params": {"max_depth": 6}},
         {"categorical": {"encode": "ordinal", "impute": "most_frequent"}}),
        ({"name": "SVC"}, {"numeric": {"impute": "mean"}}),
        ({"name": "KNeighborsClassifier"}, {"columns": {"term_months": {"kind": "categorical"}}}),
    ],
    ids=lambda value: value["name"] if isinstance(value, dict) and "name" in value else "",
)
def test_classifier_parity_on_held_out_rows_and_probes(
        estimator: dict[str, Any], raw: dict[str, Any] | None) -> None:
    pipeline, _, x_test, schema = fitted(estimator, raw=raw)
    result = export.export_onnx(pipeline, x_test, True, schema)
    assert result.error is None and result.matches is True
    parity = result.parity
    assert parity is not None and parity.mismatches == 0
    assert parity.held_out == len(x_test) == 200
    assert parity.unseen_category_rows == parity.missing_value_rows == export.PROBE_ROWS
    assert parity.rows == 200 + 2 * export.PROBE_ROWS
    assert parity.max_difference is not None and parity.max_difference < 1e-5
    print(f"{estimator['name']}: {parity.as_dict()}")


@pytest.mark.parametrize("name", ["Ridge", "RandomForestRegressor", "KNeighborsRegressor"])
def test_regressor_parity(name: str) -> None:
    pipeline, _, x_test, schema = fitted({"name": name}, target="loan_amount")
    result = export.export_onnx(pipeline, x_test, False, schema)
    assert result.matches is True and result.parity is not None
    assert result.parity.mismatches == 0 and result.parity.rows == 300
    print(f"{name}: {result.parity.as_dict()}")


def test_onnxruntime_by_hand_on_gaps_and_an_unseen_category() -> None:
    """Independently of the trainer's own check: rows written by hand, fed as a client's
    values reach the model server (NaN for a missing number, "" for a missing category)."""
    pipeline, plan, _, schema = fitted({"name": "LogisticRegression",
                                        "params": {"max_iter": 1000}})
    data = export.to_onnx(pipeline, _rows([]).iloc[:0], True, schema)
    session = onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    assert len(names) == len(plan.columns)
    assert [i.type for i in session.get_inputs()] == [
        "tensor(string)" if c.kind == "categorical" else "tensor(float)" for c in plan.columns]
    rows = _rows([
        {},  # a complete row
        {"applicant_age": np.nan, "credit_score": np.nan, "has_cosigner": np.nan},
        {"loan_purpose": "space_tourism"},  # never seen in training
        {"region": "atlantis", "home_ownership": "", "employment_years": np.nan},
    ])
    labels, probabilities = session.run(None, export.onnx_feeds(names, rows))
    assert labels.tolist() == pipeline.predict(rows).tolist()
    assert np.abs(probabilities - pipeline.predict_proba(rows)).max() < 1e-5


def _rows(changes: list[dict[str, Any]]) -> pd.DataFrame:
    base = {"applicant_age": 41.0, "annual_income": 52000.0, "employment_years": 3.5,
            "home_ownership": "rent", "region": "south", "loan_purpose": "car",
            "loan_amount": 9000.0, "term_months": 36.0, "credit_score": 640.0,
            "debt_to_income": 31.0, "prior_defaults": 1.0, "has_cosigner": 0.0}
    frame = pd.DataFrame([{**base, **change} for change in changes] or [base],
                         columns=list(base))
    for name in ("home_ownership", "region", "loan_purpose"):
        frame[name] = frame[name].astype(object)
    return frame
