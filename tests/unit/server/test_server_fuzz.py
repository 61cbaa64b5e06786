"""Hypothesis fuzz: nothing a client sends gets a 5xx (fault injection is off)."""

from __future__ import annotations

import json
import os
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

IRIS_NAMES = ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]
KEYS = st.sampled_from([*IRIS_NAMES, "x", "input", ""]) | st.text(max_size=4)

leaves = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.text(max_size=4)
)
json_values = st.recursive(
    leaves,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(KEYS, children, max_size=4),
    max_leaves=20,
)
# Mostly numbers, sometimes anything: the interesting bodies are almost valid.
cells = st.one_of(
    st.floats(width=32, allow_nan=False, allow_infinity=False),
    st.integers(min_value=-(10**6), max_value=10**6),
    st.floats(min_value=-1e300, max_value=1e300),
    leaves,
)
rows = st.lists(cells, max_size=6)
records = st.dictionaries(st.sampled_from([*IRIS_NAMES, "extra"]), cells, max_size=6)
full_records = st.fixed_dictionaries({name: cells for name in IRIS_NAMES})

predict_bodies = st.one_of(
    st.fixed_dictionaries({"instances": st.lists(rows | records | full_records, max_size=4)}),
    st.fixed_dictionaries({"instances": json_values}),
    st.fixed_dictionaries(
        {
            "columns": st.dictionaries(
                st.sampled_from([*IRIS_NAMES, "x"]), st.lists(cells, max_size=4)
            )
        }
    ),
    st.fixed_dictionaries({"columns": json_values}),
    json_values,
)
tensors = st.fixed_dictionaries(
    {
        "name": st.sampled_from(["input", *IRIS_NAMES, "other"]) | leaves,
        "shape": st.lists(st.integers(min_value=-2, max_value=12), max_size=3) | json_values,
        "datatype": st.sampled_from(["FP32", "FP64", "INT64", "BYTES", "BOOL"]) | leaves,
        "data": st.lists(cells | st.lists(cells, max_size=5), max_size=12) | json_values,
    },
    optional={"parameters": json_values},
)
infer_bodies = st.one_of(
    st.fixed_dictionaries(
        {"inputs": st.lists(tensors, max_size=5)},
        optional={
            "id": leaves,
            "outputs": st.lists(
                st.fixed_dictionaries({"name": st.sampled_from(["label", "probabilities", "x"])}),
                max_size=3,
            )
            | json_values,
            "parameters": json_values,
        },
    ),
    json_values,
)

FUZZ = settings(
    max_examples=int(os.environ.get("MLOPS_FUZZ_EXAMPLES", "300")),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _check(client: Any, path: str, content: bytes) -> None:
    response = client.post(path, content=content, headers={"content-type": "application/json"})
    assert response.status_code < 500, (content[:300], response.text)
    if response.status_code >= 400:
        assert isinstance(response.json()["error"], str)


@FUZZ
@given(body=predict_bodies)
def test_fuzz_predict(iris_client: Any, body: Any) -> None:
    _check(iris_client, "/predict", json.dumps(body).encode())


@FUZZ
@given(body=infer_bodies)
def test_fuzz_v2_infer(iris_client: Any, body: Any) -> None:
    _check(iris_client, "/v2/models/iris/infer", json.dumps(body).encode())


@settings(max_examples=100, deadline=None, database=None)
@given(raw=st.binary(max_size=64))
def test_fuzz_raw_bytes(iris_client: Any, raw: bytes) -> None:
    _check(iris_client, "/predict", raw)
    _check(iris_client, "/v2/models/iris/infer", raw)
