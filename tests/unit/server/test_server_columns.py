"""Models with string, bool and nullable features: one array (one ONNX input) per feature.

The model is built here the way the trainer's contract says (a ColumnTransformer
pipeline fitted on a frame; skl2onnx with one ``[n, 1]`` input per feature: strings for
string features, floats for the others), so these tests do not depend on the trainer.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mlops_runtime.server.column_payloads import ColumnDecoder
from mlops_runtime.server.columns import ColumnBatch, Layout, concat, numeric_matrix
from mlops_runtime.server.runtime import ModelLoadError, is_allowed_type, load_model
from mlops_runtime.server.schema import parse_schema
from mlops_runtime.server.settings import SettingsError, parse_settings
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType, StringTensorType
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from tests.unit.server.conftest import Artifact

SCHEMA: dict[str, Any] = {
    "features": [
        {"name": "age", "type": "float", "nullable": True},
        {"name": "loan amount", "type": "int"},  # skl2onnx renames this input: loan_amount
        {"name": "purpose", "type": "string", "nullable": True},
        {"name": "region", "type": "string", "nullable": True},
        {"name": "cosigner", "type": "bool", "nullable": True},
    ],
    "task": "classification",
    "target": "defaulted",
    "classes": [0, 1],
}
NUMBERS, STRINGS = ["age", "loan amount", "cosigner"], ["purpose", "region"]
RECORD = {"age": 41.0, "loan amount": 12000, "purpose": "car", "region": "north",
          "cosigner": False}


@dataclass
class Mixed:
    pipeline: Any
    onnx: Artifact
    skops: Artifact


def _training_frame(rows: int = 400) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(4)
    frame = pd.DataFrame({
        "age": rng.integers(18, 80, rows).astype(float),
        "loan amount": rng.integers(1000, 40000, rows).astype(float),
        "purpose": rng.choice(["car", "home", "study", ""], rows).astype(object),
        "region": rng.choice(["north", "south"], rows).astype(object),
        "cosigner": (rng.random(rows) < 0.2).astype(float),
    })
    frame.loc[rng.random(rows) < 0.1, "age"] = np.nan
    frame.loc[rng.random(rows) < 0.05, "cosigner"] = np.nan
    y = ((frame["loan amount"] > 20000) ^ (frame["purpose"] == "study")).to_numpy(dtype=int)
    return frame, y


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> Mixed:
    root = tmp_path_factory.mktemp("mixed")
    frame, y = _training_frame()
    pipeline = Pipeline([
        ("preprocess", ColumnTransformer([
            ("numbers", Pipeline([("impute", SimpleImputer(strategy="median")),
                                  ("scale", StandardScaler())]), NUMBERS),
            ("categories", Pipeline([
                ("impute", SimpleImputer(missing_values="", strategy="constant",
                                         fill_value="missing")),
                ("encode", OneHotEncoder(handle_unknown="ignore", sparse_output=False))]),
             STRINGS),
        ], sparse_threshold=0.0)),
        ("estimator", LogisticRegression(max_iter=1000)),
    ]).fit(frame[[f["name"] for f in SCHEMA["features"]]], y)
    types = [(f["name"], StringTensorType([None, 1]) if f["type"] == "string"
              else FloatTensorType([None, 1])) for f in SCHEMA["features"]]
    model = convert_sklearn(pipeline, initial_types=types,
                            options={id(pipeline.steps[-1][1]): {"zipmap": False}})
    entry = model.metadata_props.add()
    entry.key, entry.value = "mlops.input_schema", json.dumps(SCHEMA)

    def write(name: str, data: bytes) -> Artifact:
        (root / name).write_bytes(data)
        return Artifact(root / name, hashlib.sha256(data).hexdigest(), SCHEMA)

    return Mixed(pipeline, write("mixed.onnx", model.SerializeToString()),
                 write("mixed.skops", sio.dumps(pipeline)))


def expected(mixed: Mixed, records: list[dict[str, Any]]) -> tuple[list[int], np.ndarray]:
    """What scikit-learn predicts for the records (null: NaN, or "" for a category)."""
    frame = pd.DataFrame(records, columns=[f["name"] for f in SCHEMA["features"]])
    for name in STRINGS:
        frame[name] = frame[name].astype(object).where(frame[name].notna(), "")
    for name in NUMBERS:
        frame[name] = frame[name].astype(float)
    return mixed.pipeline.predict(frame).tolist(), mixed.pipeline.predict_proba(frame)


RECORDS = [
    RECORD,
    {**RECORD, "age": None, "cosigner": None},
    {**RECORD, "purpose": "space tourism", "region": "atlantis"},  # never seen in training
    {**RECORD, "purpose": None, "region": "", "loan amount": 39000, "cosigner": True},
    {**RECORD, "purpose": "study", "loan amount": 25000.5},
]


@pytest.fixture(params=["onnx", "skops"])
def client(request: pytest.FixtureRequest, mixed: Mixed, make_client: Any,
           settings_of: Any) -> Any:
    artifact = getattr(mixed, request.param)
    with make_client(settings_of(artifact, model_name="loans")) as app:
        yield app


def test_records_with_strings_nulls_and_unseen_categories(client: Any, mixed: Mixed) -> None:
    response = client.post("/predict", json={"instances": RECORDS})
    assert response.status_code == 200, response.text
    labels, probabilities = expected(mixed, RECORDS)
    assert response.json()["predictions"] == labels
    np.testing.assert_allclose(response.json()["probabilities"], probabilities, atol=1e-5)


def test_rows_and_columns_bodies(client: Any, mixed: Mixed) -> None:
    names = [f["name"] for f in SCHEMA["features"]]
    rows = [[record[n] for n in names] for record in RECORDS]
    columns = {n: [record[n] for record in RECORDS] for n in names}
    labels, _ = expected(mixed, RECORDS)
    for body in ({"instances": rows}, {"columns": columns}):
        response = client.post("/predict", json=body)
        assert response.status_code == 200, response.text
        assert response.json()["predictions"] == labels


def test_v2_infer_takes_a_bytes_tensor_per_string_feature(client: Any, mixed: Mixed) -> None:
    datatypes = {"float": "FP64", "int": "INT64", "bool": "BOOL", "string": "BYTES"}
    inputs = [{"name": f["name"], "shape": [len(RECORDS), 1],
               "datatype": datatypes[f["type"]],
               "data": [[record[f["name"]]] for record in RECORDS]}
              for f in reversed(SCHEMA["features"])]
    inputs[-1 - 1]["datatype"] = "FP32"  # 'loan amount': any numeric datatype will do
    response = client.post("/v2/models/loans/infer", json={"id": "q", "inputs": inputs})
    assert response.status_code == 200, response.text
    outputs = {o["name"]: o for o in response.json()["outputs"]}
    labels, probabilities = expected(mixed, RECORDS)
    assert outputs["label"]["data"] == labels
    np.testing.assert_allclose(np.reshape(outputs["probabilities"]["data"], (-1, 2)),
                               probabilities, atol=1e-5)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"instances": [{**RECORD, "purpose": 3}]},
         "instances[0]['purpose']: expected a string or null, got number"),
        ({"instances": [RECORD, {**RECORD, "age": "forty"}]},
         "instances[1]['age']: expected a number or null, got string"),
        ({"instances": [{**RECORD, "cosigner": "yes"}]},
         "instances[0]['cosigner']: expected a boolean or null, got string"),
        ({"instances": [{**RECORD, "cosigner": 1}]},
         "instances[0]['cosigner']: expected a boolean or null, got number"),
        ({"instances": [{**RECORD, "loan amount": None}]},
         "instances[0]['loan amount']: expected a number, got null (this feature takes no "
         "missing value)"),
        ({"instances": [{**RECORD, "loan amount": 1e39}]},
         "instances[0]['loan amount']: value 1e+39 is out of float32 range"),
        ({"instances": [{k: v for k, v in RECORD.items() if k != "region"}]},
         "instances[0]: missing feature 'region'"),
        ({"instances": [{**RECORD, "colour": "red"}]}, "instances[0]: unknown feature 'colour'"),
        ({"instances": [[41.0, 12000, "car", "north"]]},
         "instances[0]: expected 5 values (one per feature), got 4"),
        ({"instances": [[41.0, 12000, "car", 7, False]]},
         "instances[0][3] ('region'): expected a string or null, got number"),
        ({"columns": {**{k: [v] for k, v in RECORD.items()}, "purpose": [["car"]]}},
         "columns['purpose'][0]: expected a string or null, got array"),
    ],
    ids=["string-as-number", "number-as-string", "bool-as-string", "bool-as-number",
         "null-not-allowed", "float32-overflow", "missing-feature", "unknown-feature",
         "short-row", "row-wrong-type", "column-nested"],
)
def test_wrong_types_are_400_naming_the_field(client: Any, body: dict[str, Any],
                                              message: str) -> None:
    response = client.post("/predict", json=body)
    assert response.status_code == 400
    assert response.json() == {"error": message}


def _tensors(**changes: Any) -> list[dict[str, Any]]:
    datatypes = {"float": "FP32", "int": "INT64", "bool": "BOOL", "string": "BYTES"}
    tensors = {f["name"]: {"name": f["name"], "shape": [1], "datatype": datatypes[f["type"]],
                           "data": [RECORD[f["name"]]]} for f in SCHEMA["features"]}
    for name, change in changes.items():
        tensors[name.replace("_", " ")].update(change)
    return list(tensors.values())


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        (_tensors(purpose={"datatype": "FP32"}),
         "inputs[2].datatype: feature 'purpose' is a string feature; expected BYTES, got 'FP32'"),
        (_tensors(age={"datatype": "BYTES"}),
         "inputs[0].datatype: feature 'age' is a float feature; expected a numeric datatype "
         "such as FP32, got 'BYTES'"),
        (_tensors(cosigner={"datatype": "INT8"}),
         "inputs[4].datatype: feature 'cosigner' is a bool feature; expected BOOL, got 'INT8'"),
        (_tensors(region={"data": [12]}),
         "inputs[3].data[0] ('region'): expected a string or null, got number"),
        (_tensors(loan_amount={"data": ["12000"]}),
         "inputs[1].data[0] ('loan amount'): expected a number, got string"),
        ([*_tensors()[:4], {"name": "extra", "shape": [1], "datatype": "BYTES", "data": ["x"]}],
         "inputs[4].name: unknown input 'extra'"),
        ([{"name": "input", "shape": [1, 5], "datatype": "FP32", "data": [1, 2, 3, 4, 5]}],
         "inputs[0].name: this model takes one tensor per feature"),
    ],
    ids=["string-as-fp32", "number-as-bytes", "bool-as-int8", "bytes-holding-number",
         "number-holding-string", "unknown-tensor", "one-matrix"],
)
def test_v2_wrong_tensors_are_400_naming_the_field(client: Any, inputs: list[Any],
                                                   message: str) -> None:
    response = client.post("/v2/models/loans/infer", json={"inputs": inputs})
    assert response.status_code == 400
    assert response.json()["error"].startswith(message), response.json()


def test_metadata_and_openapi_describe_each_feature(client: Any) -> None:
    metadata = client.get("/v2/models/loans").json()
    assert metadata["inputs"] == [
        {"name": "age", "datatype": "FP32", "shape": [-1, 1]},
        {"name": "loan amount", "datatype": "FP32", "shape": [-1, 1]},
        {"name": "purpose", "datatype": "BYTES", "shape": [-1, 1]},
        {"name": "region", "datatype": "BYTES", "shape": [-1, 1]},
        {"name": "cosigner", "datatype": "BOOL", "shape": [-1, 1]},
    ]
    assert metadata["parameters"]["schema"] == SCHEMA
    document = client.get("/openapi.json").json()
    record = document["components"]["schemas"]["PredictRequest"]["properties"]["instances"]
    properties = record["items"]["oneOf"][0]["properties"]
    assert properties["purpose"] == {"type": "string", "nullable": True}
    assert properties["cosigner"] == {"type": "boolean", "nullable": True}
    assert properties["loan amount"] == {"type": "number"}


def test_drift_statistics_cover_the_numeric_features(
        mixed: Mixed, make_client: Any, settings_of: Any, metric: Any) -> None:
    reference = {"age": {"mean": 50.0, "std": 10.0}, "loan amount": {"mean": 1.0, "std": 1.0},
                 "cosigner": {"mean": 0.2, "std": 0.4}}
    with make_client(settings_of(mixed.onnx, model_name="loans",
                                 reference_stats=reference)) as app:
        assert app.post("/predict", json={"instances": RECORDS}).status_code == 200
        text = app.get("/metrics").text
    labels = {"model": "loans", "version": "7", "track": "stable"}
    assert metric(text, "mlops_input_rows_total", **labels) == len(RECORDS)
    # A missing age counts as the training mean (50), so gaps do not read as drift.
    assert metric(text, "mlops_input_feature_sum", feature="age", **labels) == 41 * 4 + 50
    assert metric(text, "mlops_input_feature_sum", feature="cosigner", **labels) == 1 + 0.2
    assert metric(text, "mlops_input_feature_sum", feature="loan amount", **labels) == (
        pytest.approx(12000 * 3 + 39000 + 25000.5))
    assert 'feature="purpose"' not in text


def test_reference_stats_with_categorical_features_are_accepted() -> None:
    stats = {"age": {"mean": 40, "std": 9, "missingShare": 0.1},
             "purpose": {"type": "categorical", "shares": {"car": 0.6, "home": 0.4}}}
    settings = parse_settings(["--model-uri", "file:///m.onnx", "--sha256", "0" * 64,
                               "--reference-stats", json.dumps(stats)], {})
    assert settings.reference_stats == {"age": {"mean": 40.0, "std": 9.0}}
    with pytest.raises(SettingsError, match="--reference-stats"):
        parse_settings(["--model-uri", "file:///m.onnx", "--sha256", "0" * 64,
                        "--reference-stats", '{"purpose": {"shares": {}}}'], {})


def test_concurrent_requests_are_batched_together(
        mixed: Mixed, make_client: Any, settings_of: Any) -> None:
    settings = settings_of(mixed.onnx, model_name="loans", batching=True)
    with make_client(settings) as app:
        answers = app.gather([("/predict", {"instances": [record]}) for record in RECORDS * 4])
        batcher = app.app.state.service.batcher
    labels, _ = expected(mixed, RECORDS * 4)
    assert [a.json()["predictions"][0] for a in answers] == labels
    assert batcher.calls < len(RECORDS) * 4


def test_column_batches_concatenate_and_round_trip_as_a_body(mixed: Mixed) -> None:
    decoder = ColumnDecoder(parse_schema(SCHEMA), 100)
    first = decoder.predict_body(json.dumps({"instances": RECORDS[:2]}).encode()).x
    second = decoder.predict_body(json.dumps({"instances": RECORDS[2:]}).encode()).x
    both = concat([first, second])
    assert isinstance(both, ColumnBatch) and both.shape == (5, 5) and len(both) == 5
    assert both.columns[2].dtype == object and both.columns[0].dtype == np.float32
    again = decoder.predict_body(json.dumps(both.document()).encode()).x
    for left, right in zip(both.columns, again.columns, strict=True):
        assert left.tolist() == right.tolist() or np.array_equal(left, right, equal_nan=True)
    matrix = numeric_matrix(both)
    assert matrix.shape == (5, 3) and np.isnan(matrix[1, 0]) and matrix[3, 2] == 1.0
    assert both.document()["columns"]["purpose"][3] is None  # missing -> null again


def test_loading_checks_the_inputs_against_the_schema(mixed: Mixed) -> None:
    loaded = load_model(mixed.onnx.uri, mixed.onnx.sha256)
    assert loaded.schema.columnar and loaded.model.n_features == 5
    wrong = {**SCHEMA, "features": [dict(f, type="float") for f in SCHEMA["features"]]}
    with pytest.raises(ModelLoadError, match="ONNX input 'purpose' for feature 'purpose'"):
        load_model(mixed.onnx.uri, mixed.onnx.sha256, schema=wrong)
    short = {**SCHEMA, "features": SCHEMA["features"][:4]}
    with pytest.raises(ModelLoadError, match="needs one input per feature; it has 5"):
        load_model(mixed.onnx.uri, mixed.onnx.sha256, schema=short)
    plain = {**SCHEMA, "features": [{"name": f["name"], "type": "float"}
                                    for f in SCHEMA["features"]]}
    with pytest.raises(ModelLoadError, match="one input named 'input'"):
        load_model(mixed.onnx.uri, mixed.onnx.sha256, schema=plain)
    skops = load_model(mixed.skops.uri, mixed.skops.sha256, schema=SCHEMA)
    probe = Layout.of(skops.schema).probe()
    assert len(skops.model.predict(probe).values) == 1


def test_schema_types_and_nullable_are_checked() -> None:
    from mlops_runtime.server.schema import SchemaError

    bad = {**SCHEMA, "features": [{"name": "a", "type": "text"}]}
    with pytest.raises(SchemaError, match="expected one of float, int, bool, string"):
        parse_schema(bad)
    with pytest.raises(SchemaError, match="'nullable' must be true or false"):
        parse_schema({**SCHEMA, "features": [{"name": "a", "nullable": "yes"}]})
    numeric = parse_schema({"features": [{"name": "a"}], "task": "regression"})
    assert not numeric.columnar and numeric.to_json()["features"] == [{"name": "a",
                                                                       "type": "float"}]
    assert parse_schema(SCHEMA).to_json() == SCHEMA


@pytest.mark.parametrize(
    ("name", "allowed"),
    [("functools.partial", True), ("sklearn.utils.validation.check_array", True),
     ("sklearn.utils.validation.column_or_1d", False), ("functools.reduce", False)],
)
def test_the_few_trusted_functions(name: str, allowed: bool) -> None:
    assert is_allowed_type(name) is allowed


def test_a_partial_never_smuggles_an_untrusted_function() -> None:
    import functools
    import os

    from sklearn.preprocessing import FunctionTransformer

    data = sio.dumps(FunctionTransformer(functools.partial(os.system, "true")))
    untrusted = sio.get_untrusted_types(data=data)
    assert "functools.partial" in untrusted
    assert [t for t in untrusted if not is_allowed_type(t)] == [f"{os.name}.system"]


def test_mirrored_mixed_requests_reach_the_shadow_as_columns(
        mixed: Mixed, serve: Any, metric: Any) -> None:
    args = ["--model-uri", mixed.onnx.uri, "--sha256", mixed.onnx.sha256,
            "--model-name", "loans"]
    with serve(*args, "--model-version", "2", "--track", "canary") as shadow, \
            serve(*args, "--model-version", "1", "--mirror-url", shadow.url,
                  "--mirror-version", "2") as live, \
            httpx.Client(base_url=live.url, timeout=10) as http:
        for record in RECORDS:
            assert http.post("/predict", json={"instances": [record]}).status_code == 200
        deadline = time.monotonic() + 20
        labels = {"shadow": "2", "agreement": "agree"}
        while metric(text := http.get("/metrics").text, "mlops_mirror_rows_total",
                     **labels) < len(RECORDS) and time.monotonic() < deadline:
            time.sleep(0.05)
    assert metric(text, "mlops_mirror_rows_total", **labels) == len(RECORDS)
    assert metric(text, "mlops_mirror_rows_total", shadow="2", agreement="disagree") == 0


# ---- fuzz: nothing a client sends to a mixed-type model gets a 5xx ------------------------
NAMES = [f["name"] for f in SCHEMA["features"]]
_leaves = (st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
           | st.floats() | st.text(max_size=4) | st.sampled_from(["car", "north", ""]))
_values = st.recursive(_leaves, lambda c: st.lists(c, max_size=3)
                       | st.dictionaries(st.sampled_from(NAMES) | st.text(max_size=3), c,
                                         max_size=3), max_leaves=12)
_records = st.fixed_dictionaries({name: _leaves for name in NAMES},
                                 optional={"extra": _leaves})
_bodies = st.one_of(
    st.fixed_dictionaries({"instances": st.lists(_records | st.lists(_leaves, max_size=6),
                                                 max_size=3)}),
    st.fixed_dictionaries({"columns": st.dictionaries(st.sampled_from(NAMES),
                                                      st.lists(_leaves, max_size=3))}),
    _values,
)
_tensors = st.fixed_dictionaries({
    "name": st.sampled_from([*NAMES, "input", "x"]),
    "shape": st.lists(st.integers(min_value=-1, max_value=4), max_size=2),
    "datatype": st.sampled_from(["FP32", "INT64", "BYTES", "BOOL"]) | _leaves,
    "data": st.lists(_leaves | st.lists(_leaves, max_size=2), max_size=4) | _values,
})


@pytest.fixture(scope="module")
def fuzz_client(mixed: Mixed) -> Any:
    from tests.unit.server.conftest import asgi_client, settings_for

    with asgi_client(settings_for(mixed.onnx, model_name="loans")) as app:
        yield app


@settings(max_examples=150, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(body=_bodies, inputs=st.lists(_tensors, max_size=6))
def test_fuzz_mixed_types_never_5xx(fuzz_client: Any, body: Any, inputs: Any) -> None:
    for path, content in (("/predict", body), ("/v2/models/loans/infer", {"inputs": inputs})):
        response = fuzz_client.post(path, content=json.dumps(content).encode(),
                                    headers={"content-type": "application/json"})
        assert response.status_code < 500, (content, response.text)
        if response.status_code >= 400:
            assert isinstance(response.json()["error"], str)
