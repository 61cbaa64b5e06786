"""Mixed-type tabular data end to end, through ``main`` as the pod runs it: a generated
loan-applications CSV with numbers, categories, booleans and gaps."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from mlops_runtime.server.columns import ColumnBatch, Layout
from mlops_runtime.server.runtime import is_allowed_type
from mlops_runtime.server.schema import parse_schema
from mlops_runtime.trainer.sample_data import to_bytes
from mlops_runtime.trainer.sample_loans import generate

from tests.unit.trainer.test_trainer_end_to_end import load_run, onnx_session

TrainerRun = Callable[..., tuple[int, dict[str, Any]]]
TYPES = {"applicant_age": "float", "annual_income": "float", "employment_years": "float",
         "home_ownership": "string", "region": "string", "loan_purpose": "string",
         "loan_amount": "int", "term_months": "int", "credit_score": "float",
         "debt_to_income": "float", "prior_defaults": "int", "has_cosigner": "bool"}
WITH_GAPS = {"applicant_age", "annual_income", "employment_years", "credit_score",
             "has_cosigner"}


@pytest.fixture(scope="module")
def loans_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("data") / "loans.csv"
    path.write_bytes(to_bytes(generate(rows=1500, seed=7), "csv"))
    return path


def spec_for(path: Path, estimator: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"model": "loans",
            "dataset": {"uri": path.as_uri(), "target": "defaulted", "randomSeed": 7},
            "estimator": estimator, **extra}


LOGREG = {"name": "LogisticRegression", "params": {"max_iter": 1000}}


def test_loans_train_to_one_onnx_graph_that_serves_strings(
        run_trainer: TrainerRun, loans_csv: Path, tmp_path: Path) -> None:
    code, message = run_trainer(spec_for(loans_csv, LOGREG), (tmp_path / "out").as_uri())
    assert code == 0, message
    metadata = load_run(message)
    assert message["preferredFormat"] == "onnx" and message["onnxMatches"] is True
    assert message["metrics"]["roc_auc"] > 0.8 and message["metrics"]["accuracy"] > 0.75
    # 4 KiB hold everything but the importance ranking (metadata.json and the card have it).
    assert [key for key in message if key.endswith(("Truncated", "truncated"))] in (
        [], ["importanceTruncated"])
    features = message["inputSchema"]["features"]
    assert {f["name"]: f["type"] for f in features} == TYPES
    nullable = {f["name"] for f in features if f.get("nullable")}
    assert nullable == WITH_GAPS | {"home_ownership", "region", "loan_purpose"}
    assert parse_schema(message["inputSchema"]).columnar  # what the model server will do
    # The inferred plan, recorded where the operator copies it (params -> ModelVersion).
    assert message["params"]["preprocessing"] == {
        "maxCategories": 100,
        "numeric": {"impute": "median"},
        "boolean": {"impute": "most_frequent"},
        "categorical": {"impute": "constant", "fillValue": "missing", "encode": "onehot"},
        "columns": {name: {"impute": "none"} for name in
                    ("loan_amount", "term_months", "debt_to_income", "prior_defaults")},
    }
    # Reference statistics: numbers as before (with the share missing), category shares.
    stats = message["referenceStats"]
    assert set(stats["credit_score"]) == {"mean", "std", "min", "max", "missingShare"}
    assert set(stats["loan_amount"]) == {"mean", "std", "min", "max"}
    purpose = stats["loan_purpose"]
    assert purpose["type"] == "categorical" and purpose["shares"]["debt_consolidation"] > 0.25
    assert sum(purpose["shares"].values()) + purpose["missingShare"] == pytest.approx(1, abs=1e-3)
    assert metadata["referenceStats"]["region"]["categories"].keys() == {
        "north", "south", "east", "west", "central"}
    parity = metadata["onnxParity"]
    assert parity == {"rows": 400, "heldOutRows": 300, "unseenCategoryRows": 50,
                      "missingValueRows": 50, "mismatches": 0,
                      "maxDifference": parity["maxDifference"]}
    assert parity["maxDifference"] < 1e-5
    assert [c["name"] for c in metadata["preprocessingPlan"]] == list(TYPES)
    # The ONNX graph takes one tensor per feature, strings as strings.
    session = onnx_session(message)
    kinds = [(i.name, i.type) for i in session.get_inputs()]
    assert kinds == [(n, "tensor(string)" if t == "string" else "tensor(float)")
                     for n, t in TYPES.items()]
    schema = json.loads(session.get_modelmeta().custom_metadata_map["mlops.input_schema"])
    assert schema == message["inputSchema"]


def test_served_inputs_predict_alike_in_onnx_and_skops(
        run_trainer: TrainerRun, loans_csv: Path, tmp_path: Path) -> None:
    """The model server's own column batch (strings, NaN, "" and an unseen category) into
    both artifacts: the same labels, probabilities within float32 rounding."""
    code, message = run_trainer(spec_for(loans_csv, LOGREG), (tmp_path / "out").as_uri())
    assert code == 0
    metadata = load_run(message)
    layout = Layout.of(parse_schema(message["inputSchema"]))
    rows = generate(rows=40, seed=99).drop(columns=["defaulted"])
    rows.loc[0:9, "loan_purpose"] = "space_tourism"
    columns = []
    for name, kind in zip(layout.names, layout.types, strict=True):
        values = rows[name]
        if kind == "string":
            columns.append(values.astype(object).where(values.notna(), "").astype(str)
                           .to_numpy(dtype=object).reshape(-1, 1))
        else:
            columns.append(values.astype("float64").to_numpy(dtype=np.float32).reshape(-1, 1))
    batch = ColumnBatch(layout, tuple(columns))
    session = onnx_session(message)
    names = [i.name for i in session.get_inputs()]
    labels, probabilities = session.run(None, dict(zip(names, batch.columns, strict=True)))
    data = Path(message["artifacts"]["skops"]["uri"].removeprefix("file://")).read_bytes()
    assert all(is_allowed_type(t) for t in metadata["skopsTrustedTypes"])
    model = sio.loads(data, trusted=metadata["skopsTrustedTypes"])
    assert labels.tolist() == model.predict(batch.frame()).tolist()
    assert np.abs(probabilities - model.predict_proba(batch.frame())).max() < 1e-5


def test_the_recorded_plan_trains_the_same_model(
        run_trainer: TrainerRun, loans_csv: Path, tmp_path: Path) -> None:
    first = run_trainer(spec_for(loans_csv, LOGREG), (tmp_path / "a").as_uri())[1]
    replay = spec_for(loans_csv, LOGREG, preprocessing=first["params"]["preprocessing"])
    second = run_trainer(replay, (tmp_path / "b").as_uri())[1]
    assert second["ok"] and second["metrics"] == first["metrics"]
    assert second["params"]["preprocessing"] == first["params"]["preprocessing"]
    assert second["inputSchema"] == first["inputSchema"]
    assert second["artifacts"]["onnx"]["sha256"] == first["artifacts"]["onnx"]["sha256"]


def test_spec_preprocessing_changes_the_plan(
        run_trainer: TrainerRun, loans_csv: Path, tmp_path: Path) -> None:
    preprocessing = {
        "maxCategories": 20,
        "numeric": {"impute": "mean"},
        "categorical": {"impute": "most_frequent", "encode": "ordinal"},
        "columns": {"term_months": {"kind": "categorical", "encode": "onehot"},
                    "employment_years": {"impute": "constant", "fillValue": 0}},
    }
    spec = spec_for(loans_csv, {"name": "RandomForestClassifier",
                                "params": {"n_estimators": 30}}, preprocessing=preprocessing)
    code, message = run_trainer(spec, (tmp_path / "out").as_uri())
    assert code == 0, message
    assert message["onnxMatches"] is True
    types = {f["name"]: f["type"] for f in message["inputSchema"]["features"]}
    assert types["term_months"] == "string"
    assert all(f.get("nullable") for f in message["inputSchema"]["features"]
               if f["type"] in ("float", "int"))  # impute: mean applies to every number
    assert message["params"]["preprocessing"] == {
        "maxCategories": 20,
        "numeric": {"impute": "mean"},
        "boolean": {"impute": "most_frequent"},
        "categorical": {"impute": "most_frequent", "encode": "ordinal"},
        "columns": {"employment_years": {"impute": "constant", "fillValue": 0.0},
                    "term_months": {"kind": "categorical", "encode": "onehot"}},
    }
    assert message["referenceStats"]["term_months"]["shares"].keys() == {"36", "60"}


def test_hist_gradient_boosting_splits_categories_natively(
        run_trainer: TrainerRun, loans_csv: Path, tmp_path: Path) -> None:
    spec = spec_for(loans_csv, {"name": "HistGradientBoostingClassifier",
                                "params": {"max_iter": 50}})
    code, message = run_trainer(spec, (tmp_path / "out").as_uri())
    assert code == 0, message
    metadata = load_run(message)
    # skl2onnx cannot convert HistGradientBoosting* (here: any, categorical or not).
    assert message["preferredFormat"] == "skops" and metadata["onnxError"]
    recorded = message["params"]["preprocessing"]
    assert recorded["numeric"] == {"impute": "none"}  # NaN goes to the trees
    assert recorded["categorical"] == {"impute": "none", "encode": "native"}
    assert all(f.get("nullable") for f in message["inputSchema"]["features"])
    assert metadata["allEstimatorParams"]["categorical_features"] == [9, 10, 11]
    assert message["metrics"]["roc_auc"] > 0.75
    assert all(is_allowed_type(t) for t in metadata["skopsTrustedTypes"])


def test_regression_on_mixed_data(run_trainer: TrainerRun, loans_csv: Path,
                                  tmp_path: Path) -> None:
    spec = {"model": "amounts",
            "dataset": {"uri": loans_csv.as_uri(), "target": "loan_amount"},
            "estimator": {"name": "Ridge"}}
    code, message = run_trainer(spec, (tmp_path / "out").as_uri())
    assert code == 0, message
    assert message["task"] == "regression" and message["onnxMatches"] is True
    assert {f["name"] for f in message["inputSchema"]["features"]} == (
        set(TYPES) - {"loan_amount"} | {"defaulted"})


def test_parquet_keeps_the_category_dtype(run_trainer: TrainerRun, tmp_path: Path) -> None:
    frame = generate(rows=600, seed=5)
    assert isinstance(frame["home_ownership"].dtype, pd.CategoricalDtype)
    path = tmp_path / "loans.parquet"
    path.write_bytes(to_bytes(frame, "parquet"))
    code, message = run_trainer(spec_for(path, LOGREG), (tmp_path / "out").as_uri())
    assert code == 0, message
    assert {f["name"]: f["type"] for f in message["inputSchema"]["features"]} == TYPES
    assert message["onnxMatches"] is True


@pytest.mark.parametrize(
    ("change", "extra", "reason", "needle"),
    [
        (lambda f: f.assign(defaulted=f["defaulted"].astype(object).where(
            f.index % 97 != 5, None)), {}, "DatasetMalformed",
         "target column 'defaulted' has 16 missing value(s) (data rows 6, 103, 200, 297, 394, "
         "...)"),
        (lambda f: f.assign(notes=None), {}, "DatasetMalformed", "'notes' is entirely empty"),
        (lambda f: f.assign(applicant_id=[f"A{i:05d}" for i in range(len(f))]), {},
         "DatasetMalformed", "'applicant_id' has 1500 distinct values"),
        (lambda f: f, {"estimator": {"name": "RandomForestClassifier"},
                       "preprocessing": {"numeric": {"impute": "none"}}}, "DatasetMalformed",
         "'applicant_age' has"),
        (lambda f: f, {"preprocessing": {"columns": {"region": {"encode": "native"}}}},
         "InvalidParams", "native needs a HistGradientBoosting estimator"),
    ],
    ids=["missing-target", "empty-column", "category-explosion", "no-imputation",
         "native-without-hgb"],
)
def test_data_problems_fail_naming_the_column(
        run_trainer: TrainerRun, tmp_path: Path, change: Any, extra: dict[str, Any],
        reason: str, needle: str) -> None:
    path = tmp_path / "loans.csv"
    path.write_bytes(to_bytes(change(generate(rows=1500, seed=7)), "csv"))
    spec = {**spec_for(path, LOGREG), **extra}
    code, message = run_trainer(spec, (tmp_path / "out").as_uri())
    assert code == 1
    assert message["reason"] == reason and needle in message["message"], message
    assert not (tmp_path / "out").exists()


def test_sample_data_is_deterministic_and_written_by_the_cli(tmp_path: Path) -> None:
    from mlops_runtime.cli import main as cli_main

    first = to_bytes(generate(rows=300, seed=1), "csv")
    assert first == to_bytes(generate(rows=300, seed=1), "csv")
    assert first != to_bytes(generate(rows=300, seed=2), "csv")
    target = tmp_path / "nested" / "loans.csv"
    assert cli_main(["sample-data", "loans", "--rows", "300", "--seed", "1",
                     "--output", str(target)]) == 0
    assert target.read_bytes() == first
    frame = pd.read_csv(target)
    assert list(frame.columns) == [*TYPES, "defaulted"] and len(frame) == 300
    assert frame["defaulted"].isin([0, 1]).all() and 0.1 < frame["defaulted"].mean() < 0.5
    assert frame["credit_score"].isna().any() and frame["loan_purpose"].isna().any()
    with pytest.raises(ValueError, match="at least 10"):
        generate(rows=5)
