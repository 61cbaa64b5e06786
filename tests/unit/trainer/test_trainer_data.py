"""Dataset parsing and validation, without any network."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest
from mlops_runtime.trainer.data import (
    Fetched,
    infer_format,
    parse_table,
    prepare,
    sklearn_csv_bytes,
    split,
)
from mlops_runtime.trainer.errors import TrainerError
from mlops_runtime.trainer.preprocessing import infer_plan, model_inputs
from mlops_runtime.trainer.preprocessing_spec import PreprocessingSpec
from mlops_runtime.trainer.spec import DatasetSpec


def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "a": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
            "b": [1, 0, 1, 0, 1, 0],
            "label": ["x", "y", "x", "y", "x", "y"],
        }
    )


def spec(**kwargs: Any) -> DatasetSpec:
    kwargs.setdefault("target", "label")
    return DatasetSpec(uri="file:///data.csv", **kwargs)


def error_of(call: Callable[..., Any], *args: Any) -> TrainerError:
    with pytest.raises(TrainerError) as caught:
        call(*args)
    return caught.value


def test_prepare_all_other_columns_are_features() -> None:
    prepared = prepare(frame(), spec(), "classification")
    assert prepared.features == ("a", "b")
    assert list(prepared.frame.columns) == ["a", "b"] and len(prepared.frame) == 6
    assert list(prepared.y) == ["x", "y", "x", "y", "x", "y"]


def test_missing_target_is_named() -> None:
    error = error_of(prepare, frame(), spec(target="species"), "classification")
    assert error.reason == "MissingTargetColumn"
    assert "'species'" in error.message and "'a'" in error.message


def test_missing_feature_is_named() -> None:
    error = error_of(prepare, frame(), spec(features=("a", "petal")), "classification")
    assert error.reason == "MissingFeature"
    assert "'petal'" in error.message


def test_text_features_are_kept_for_the_plan() -> None:
    data = frame().assign(colour=["red"] * 6)
    assert prepare(data, spec(), "classification").features == ("a", "b", "colour")


def test_missing_targets_are_reported_with_their_rows() -> None:
    data = frame()
    data.loc[[2, 4], "label"] = None
    error = error_of(prepare, data, spec(), "classification")
    assert error.reason == "DatasetMalformed"
    assert "target column 'label' has 2 missing value(s) (data rows 3, 5)" in error.message


def test_regression_needs_numeric_target() -> None:
    error = error_of(prepare, frame(), spec(), "regression")
    assert error.reason == "DatasetMalformed" and "'label'" in error.message


def test_single_class_is_rejected() -> None:
    data = frame().assign(label="x")
    assert "single class" in error_of(prepare, data, spec(), "classification").message


def test_column_scale_multiplies_and_keeps_raw_type() -> None:
    dataset = spec(column_scale={"b": 10.0})
    prepared = prepare(frame(), dataset, "classification")
    plan = infer_plan(prepared.frame, PreprocessingSpec(), "LogisticRegression")
    x = model_inputs(prepared.frame, plan, dataset.column_scale)
    assert list(x[:, 1]) == [10.0, 0.0, 10.0, 0.0, 10.0, 0.0]
    assert [c.schema_type for c in plan.columns] == ["float", "int"]


def test_column_scale_of_unknown_column() -> None:
    error = error_of(prepare, frame(), spec(column_scale={"zz": 2.0}), "classification")
    assert error.reason == "MissingFeature" and "'zz'" in error.message


def test_float_labels_become_integer_classes() -> None:
    data = frame().assign(label=[0.0, 1.0] * 3)
    assert prepare(data, spec(), "classification").y.dtype.kind == "i"


def test_split_is_stratified_and_seeded() -> None:
    data = pd.DataFrame({"a": range(40), "label": [0] * 30 + [1] * 10})
    prepared = prepare(data, spec(test_fraction=0.25), "classification")
    x = prepared.frame.to_numpy(dtype="float64")
    first = split(x, prepared.y, spec(test_fraction=0.25), "classification")
    again = split(x, prepared.y, spec(test_fraction=0.25), "classification")
    assert len(first.y_test) == 10 and list(first.y_test).count(1) in (2, 3)
    assert np.array_equal(first.x_test, again.x_test)


def test_split_too_small_for_stratification() -> None:
    data = pd.DataFrame({"a": [1, 2, 3], "label": [0, 1, 2]})
    prepared = prepare(data, spec(), "classification")
    error = error_of(split, prepared.frame, prepared.y, spec(), "classification")
    assert error.reason == "DatasetMalformed"


@pytest.mark.parametrize(
    "data",
    [b"a,b\n1,2\n3,4,5,6\n", b"", b"a,b\n"],
    ids=["ragged", "empty", "header-only"],
)
def test_malformed_csv(data: bytes) -> None:
    error = error_of(parse_table, Fetched(data, "csv"), "file:///x.csv")
    assert error.reason == "DatasetMalformed"
    assert "file:///x.csv" in error.message


def test_malformed_parquet() -> None:
    error = error_of(parse_table, Fetched(b"not parquet", "parquet"), "file:///x.parquet")
    assert error.reason == "DatasetMalformed"


def test_format_inference() -> None:
    assert infer_format("s3://b/k.parquet", None) == "parquet"
    assert infer_format("https://h/x.csv?token=1", None) == "csv"
    assert infer_format("https://h/x.csv", "parquet") == "parquet"


def test_bundled_dataset_bytes_are_deterministic() -> None:
    assert sklearn_csv_bytes("wine") == sklearn_csv_bytes("wine")
    error = error_of(sklearn_csv_bytes, "mnist")
    assert error.reason == "DatasetUnreachable" and "iris" in error.message
