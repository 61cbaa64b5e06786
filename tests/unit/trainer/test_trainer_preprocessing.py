"""The preprocessing plan: spec parsing, inference from the data, errors naming the column."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from mlops_runtime.trainer.errors import TrainerError
from mlops_runtime.trainer.preprocessing import (
    MISSING_CATEGORY,
    infer_plan,
    model_inputs,
    plan_column,
)
from mlops_runtime.trainer.preprocessing_spec import (
    ENCODINGS,
    IMPUTERS,
    KINDS,
    PreprocessingSpec,
    parse_preprocessing,
)

REPO = Path(__file__).resolve().parents[3]
N = 40


def column(values: list[Any], dtype: Any = None, name: str = "c") -> pd.Series:
    """``values`` repeated to N rows."""
    repeated = (values * (N // len(values) + 1))[:N]
    return pd.Series(repeated, dtype=dtype, name=name)


def plan_of(series: pd.Series, raw: dict[str, Any] | None = None,
            estimator: str = "LogisticRegression") -> Any:
    return plan_column(series, parse_preprocessing(raw, estimator), estimator)


def failure(call: Any, *args: Any) -> TrainerError:
    with pytest.raises(TrainerError) as caught:
        call(*args)
    return caught.value


# ---- inference by dtype: kind, schema type, imputation, encoding, nullable -------------
@pytest.mark.parametrize(
    ("series", "estimator", "expected"),
    [
        (column([1.5, 2.0, 3.25]), "LogisticRegression",
         ("numeric", "float", "none", None, False)),
        (column([1, 2, 3]), "LogisticRegression", ("numeric", "int", "none", None, False)),
        (column([1, None, 3], dtype="Int64"), "LogisticRegression",
         ("numeric", "int", "median", None, True)),
        (column([1.0, np.nan, 3.0]), "RandomForestClassifier",
         ("numeric", "float", "median", None, True)),
        (column([1.0, np.nan, 3.0]), "HistGradientBoostingClassifier",
         ("numeric", "float", "none", None, True)),  # NaN taken natively
        (column([True, False]), "LogisticRegression", ("boolean", "bool", "none", None, False)),
        (column([True, None, False], dtype=object), "LogisticRegression",
         ("boolean", "bool", "most_frequent", None, True)),
        (column([True, None, False], dtype="boolean"), "LogisticRegression",
         ("boolean", "bool", "most_frequent", None, True)),
        (column(["red", "blue"]), "LogisticRegression",
         ("categorical", "string", "none", "onehot", True)),
        (column(["red", None, "blue"], dtype="str"), "LogisticRegression",
         ("categorical", "string", "constant", "onehot", True)),
        (column(["red", "", "blue"], dtype=object), "SVC",
         ("categorical", "string", "constant", "onehot", True)),  # "" is missing too
        (column(["a", "b", None], dtype="category"), "LogisticRegression",
         ("categorical", "string", "constant", "onehot", True)),
        (column(["a", "b", None], dtype="category"), "HistGradientBoostingRegressor",
         ("categorical", "string", "none", "native", True)),
        (column([1, "b", 2.5], dtype=object), "LogisticRegression",
         ("categorical", "string", "none", "onehot", True)),  # mixed objects: categories
    ],
    ids=["float", "int", "nullable-Int64", "float-gaps", "float-gaps-hgb", "bool",
         "object-bools-gaps", "boolean-dtype-gaps", "strings", "strings-gaps",
         "empty-string-is-missing", "category-dtype", "category-hgb-native", "mixed-objects"],
)
def test_inferred_plan_by_dtype(series: pd.Series, estimator: str,
                                expected: tuple[Any, ...]) -> None:
    plan = plan_of(series, estimator=estimator)
    assert (plan.kind, plan.schema_type, plan.impute, plan.encode, plan.nullable) == expected
    assert plan.inferred_kind == plan.kind


@pytest.mark.parametrize(
    ("series", "raw", "expected"),
    [
        (column([1.0, np.nan]), {"numeric": {"impute": "mean"}}, ("numeric", "mean", None, None)),
        (column([1.0, 2.0]), {"numeric": {"impute": "constant", "fillValue": -1}},
         ("numeric", "constant", -1.0, None)),  # imputes at serving even without gaps
        (column([1.0, np.nan]), {"columns": {"c": {"impute": "constant"}}},
         ("numeric", "constant", 0.0, None)),
        (column(["x", None]), {"categorical": {"impute": "most_frequent", "encode": "ordinal"}},
         ("categorical", "most_frequent", None, "ordinal")),
        (column(["x", None]), {"categorical": {"impute": "constant", "fillValue": "n/a"}},
         ("categorical", "constant", "n/a", "onehot")),
        (column([10115.0, 80331.0, np.nan]), {"columns": {"c": {"kind": "categorical"}}},
         ("categorical", "constant", "missing", "onehot")),
        (column(["1.5", "2", None], dtype=object), {"columns": {"c": {"kind": "numeric"}}},
         ("numeric", "median", None, None)),
        (column([0, 1, 1]), {"columns": {"c": {"kind": "boolean"}}},
         ("boolean", "none", None, None)),
        (column([True, None]), {"boolean": {"impute": "constant", "fillValue": True}},
         ("boolean", "constant", True, None)),
    ],
    ids=["numeric-mean", "numeric-constant-no-gaps", "column-constant-default-fill",
         "categorical-ordinal", "categorical-fill", "zip-codes-as-categories",
         "numeric-strings-as-numbers", "zero-one-as-boolean", "boolean-constant"],
)
def test_spec_overrides_the_inference(series: pd.Series, raw: dict[str, Any],
                                      expected: tuple[Any, ...]) -> None:
    plan = plan_of(series, raw)
    assert (plan.kind, plan.impute, plan.fill_value, plan.encode) == expected


def test_categories_read_as_numbers_print_as_integers() -> None:
    frame = pd.DataFrame({"zip": [10115.0, 80331.0, np.nan, 10115.0]})
    spec = parse_preprocessing({"columns": {"zip": {"kind": "categorical"}}}, "Ridge")
    plan = infer_plan(frame, spec, "Ridge")
    assert model_inputs(frame, plan, {})["zip"].tolist() == ["10115", "80331",
                                                              MISSING_CATEGORY, "10115"]


# ---- problems in the data: a clear message naming the column --------------------------
@pytest.mark.parametrize(
    ("series", "raw", "estimator", "reason", "needle"),
    [
        (pd.Series([np.nan] * N, name="notes"), None, "Ridge", "DatasetMalformed",
         "'notes' is entirely empty"),
        (pd.Series([None, ""] * (N // 2), dtype=object, name="memo"), None, "Ridge",
         "DatasetMalformed", "'memo' is entirely empty"),
        (pd.Series([f"id-{i}" for i in range(N)], name="customer_id"),
         {"maxCategories": 30}, "Ridge", "DatasetMalformed",
         "'customer_id' has 40 distinct values, more than preprocessing.maxCategories (30)"),
        (column([1.0, np.nan], name="age"), {"numeric": {"impute": "none"}},
         "RandomForestClassifier", "DatasetMalformed",
         "'age' has 20 missing value(s) and no imputation"),
        (pd.Series(pd.date_range("2024-01-01", periods=N), name="signed"), None, "Ridge",
         "DatasetMalformed", "'signed' holds dates"),
        (column(["1", "two"], name="amount"), {"columns": {"amount": {"kind": "numeric"}}},
         "Ridge", "InvalidParams", "that are not numbers, e.g. 'two'"),
        (column(["yes", "maybe"], name="ok"), {"columns": {"ok": {"kind": "boolean"}}},
         "Ridge", "InvalidParams", "holds 'yes'"),
        (column(["a", "b"], name="g"), {"columns": {"g": {"impute": "median"}}}, "Ridge",
         "InvalidParams", "median does not apply to categorical column 'g'"),
        (column([1.0, 2.0], name="x"), {"columns": {"x": {"encode": "onehot"}}}, "Ridge",
         "InvalidParams", "'x' is a numeric column; only categorical columns are encoded"),
        (column(["a", "b"], name="g"), {"columns": {"g": {"impute": "constant",
                                                          "fillValue": 3}}},
         "Ridge", "InvalidParams", "non-empty string for a categorical column"),
        (column([1.0, np.nan], name="x"), {"columns": {"x": {"impute": "median",
                                                             "fillValue": 0}}},
         "Ridge", "InvalidParams", "fillValue is used only with impute: constant"),
    ],
    ids=["all-nan", "all-missing-strings", "category-explosion", "no-imputation",
         "dates", "not-numbers", "not-booleans", "median-category", "encode-numeric",
         "fill-type", "fill-without-constant"],
)
def test_problems_name_the_column(series: pd.Series, raw: dict[str, Any] | None,
                                  estimator: str, reason: str, needle: str) -> None:
    error = failure(plan_of, series, raw, estimator)
    assert error.reason == reason
    assert needle in error.message, error.message


def test_native_categories_respect_max_bins() -> None:
    series = pd.Series([f"c{i % 30}" for i in range(N)], name="shop")
    spec = parse_preprocessing(None, "HistGradientBoostingClassifier")
    error = failure(plan_column, series, spec, "HistGradientBoostingClassifier", 20)
    assert "'shop' has 30 categories" in error.message and "max_bins" in error.message


def test_spec_names_an_unknown_column() -> None:
    frame = pd.DataFrame({"a": [1.0, 2.0]})
    spec = parse_preprocessing({"columns": {"b": {"kind": "numeric"}}}, "Ridge")
    error = failure(infer_plan, frame, spec, "Ridge")
    assert error.reason == "MissingFeature" and "'b'" in error.message


def test_column_scale_of_a_category_is_refused() -> None:
    frame = pd.DataFrame({"a": [1.0, 2.0], "g": ["x", "y"]})
    plan = infer_plan(frame, PreprocessingSpec(), "Ridge")
    error = failure(model_inputs, frame, plan, {"g": 2.0})
    assert error.reason == "InvalidParams" and "columnScale['g']" in error.message


def test_infinities_are_named() -> None:
    frame = pd.DataFrame({"a": [1.0, np.inf], "g": ["x", "y"]})
    plan = infer_plan(frame, PreprocessingSpec(), "Ridge")
    error = failure(model_inputs, frame, plan, {})
    assert error.reason == "DatasetMalformed" and "'a'" in error.message


# ---- spec.preprocessing itself, before any data --------------------------------------
@pytest.mark.parametrize(
    ("raw", "estimator", "needle"),
    [
        ([], "Ridge", "preprocessing must be an object"),
        ({"numerics": {}}, "Ridge", "unknown field 'numerics'"),
        ({"numeric": {"impute": "average"}}, "Ridge", "preprocessing.numeric.impute must be"),
        ({"boolean": {"impute": "median"}}, "Ridge", "preprocessing.boolean.impute must be"),
        ({"numeric": {"encode": "onehot"}}, "Ridge", "unknown field 'encode'"),
        ({"numeric": {"fillValue": 1}}, "Ridge", "numeric.fillValue is used only with"),
        ({"numeric": {"impute": "constant", "fillValue": "zero"}}, "Ridge", "finite number"),
        ({"boolean": {"impute": "constant", "fillValue": 2}}, "Ridge", "true or false"),
        ({"categorical": {"impute": "constant", "fillValue": ""}}, "Ridge", "non-empty string"),
        ({"categorical": {"encode": "native"}}, "Ridge", "native needs a HistGradientBoosting"),
        ({"columns": {"g": {"encode": "native"}}}, "SVC", "columns['g'].encode: native needs"),
        ({"columns": {"g": {"kind": "text"}}}, "Ridge", "columns['g'].kind must be one of"),
        ({"columns": {"g": {"kind": "numeric", "encode": "onehot"}}}, "Ridge",
         "only categorical columns are encoded"),
        ({"columns": {"g": {"fillValue": [1]}}}, "Ridge", "a number, a boolean or a string"),
        ({"columns": {"g": {"colour": 1}}}, "Ridge", "unknown field 'colour'"),
        ({"columns": ["g"]}, "Ridge", "preprocessing.columns must be an object"),
        ({"maxCategories": 1}, "Ridge", "maxCategories must be an integer from 2"),
        ({"maxCategories": True}, "Ridge", "maxCategories must be an integer"),
    ],
)
def test_invalid_spec_fields_are_named(raw: Any, estimator: str, needle: str) -> None:
    error = failure(parse_preprocessing, raw, estimator)
    assert error.reason == "InvalidParams"
    assert needle in error.message, error.message


def test_native_is_allowed_for_hist_gradient_boosting() -> None:
    spec = parse_preprocessing({"categorical": {"encode": "native"}},
                               "HistGradientBoostingClassifier")
    assert spec.categorical.encode == "native" and spec.max_categories == 100


# ---- the recorded plan --------------------------------------------------------------
def mixed_frame() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({
        "age": rng.integers(18, 80, N).astype(float),
        "amount": rng.integers(100, 1000, N),
        "rate": rng.random(N),
        "purpose": rng.choice(["car", "home", "study"], N),
        "region": pd.Series(rng.choice(["n", "s"], N), dtype="category"),
        "cosigner": rng.random(N) < 0.3,
    })
    frame.loc[[1, 5], "age"] = np.nan
    frame["purpose"] = frame["purpose"].astype(object).where(rng.random(N) > 0.1, None)
    return frame


@pytest.mark.parametrize(
    ("raw", "estimator"),
    [
        (None, "LogisticRegression"),
        (None, "HistGradientBoostingClassifier"),
        ({"numeric": {"impute": "mean"}, "columns": {"amount": {"kind": "categorical"},
                                                     "rate": {"impute": "constant",
                                                              "fillValue": 0.5}}},
         "RandomForestClassifier"),
        ({"categorical": {"impute": "most_frequent", "encode": "ordinal"},
          "columns": {"cosigner": {"impute": "constant", "fillValue": False}}}, "SVC"),
    ],
)
def test_recorded_plan_reproduces_itself(raw: dict[str, Any] | None, estimator: str) -> None:
    frame = mixed_frame()
    plan = infer_plan(frame, parse_preprocessing(raw, estimator), estimator)
    recorded = plan.to_json()
    again = infer_plan(frame, parse_preprocessing(recorded, estimator), estimator)
    assert again == plan
    assert recorded["maxCategories"] == 100


def test_recorded_plan_is_compact_for_plain_numbers() -> None:
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [1, 2, 3]})
    plan = infer_plan(frame, PreprocessingSpec(), "LogisticRegression")
    assert plan.matrix
    assert plan.to_json() == {"maxCategories": 100, "numeric": {"impute": "none"}}
    assert model_inputs(frame, plan, {}).dtype == np.float64


def test_model_inputs_of_a_mixed_frame() -> None:
    frame = mixed_frame()
    plan = infer_plan(frame, PreprocessingSpec(), "LogisticRegression")
    assert not plan.matrix
    x = model_inputs(frame, plan, {"rate": 10.0})
    assert list(x.dtypes.astype(str)) == ["float64", "float64", "float64", "object", "object",
                                          "float64"]
    assert x["cosigner"].isin([0.0, 1.0]).all() and np.isnan(x["age"][1])
    assert (x["purpose"] == MISSING_CATEGORY).sum() == frame["purpose"].isna().sum()
    assert x["rate"].max() > 1.0  # scaled
    assert np.array_equal(x["rate"], x["rate"].astype(np.float32).astype(np.float64))


# ---- the CRD says what the trainer accepts --------------------------------------------
def test_crd_enums_match_the_trainer() -> None:
    crd = yaml.safe_load((REPO / "crds" / "trainingjob.yaml").read_text())
    spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    block = spec["properties"]["preprocessing"]["properties"]
    for kind in KINDS:
        assert block[kind]["properties"]["impute"]["enum"] == list(IMPUTERS[kind]), kind
    assert block["categorical"]["properties"]["encode"]["enum"] == list(ENCODINGS)
    entry = block["columns"]["additionalProperties"]["properties"]
    assert entry["kind"]["enum"] == list(KINDS)
    assert entry["impute"]["enum"] == list(IMPUTERS["numeric"])
    assert entry["encode"]["enum"] == list(ENCODINGS)
    assert block["maxCategories"]["default"] == PreprocessingSpec().max_categories


def test_category_shares_in_the_summary_are_the_most_frequent_ones() -> None:
    from mlops_runtime.trainer import evaluate

    values = pd.Series([f"c{i:02d}" for i in range(30) for _ in range(30 - i)] + [""] * 35,
                       dtype=object)
    stats = evaluate.category_stats(values)
    assert stats["count"] == len(values) - 35 and stats["missing"] == 35
    assert list(stats["categories"])[:3] == ["c00", "c01", "c02"]
    summary = evaluate.summary_stats({"shop": stats})["shop"]
    assert list(summary["shares"]) == [f"c{i:02d}" for i in range(evaluate.SUMMARY_CATEGORIES)]
    total = sum(summary["shares"].values()) + summary["otherShare"] + summary["missingShare"]
    assert total == pytest.approx(1.0, abs=1e-3)
