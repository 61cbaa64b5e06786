"""The app in-process (httpx ASGI transport): predictions, protocol, metrics."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import orjson
import pytest

IRIS_ROW = [5.1, 3.5, 1.4, 0.2]


def test_predict_rows_match_sklearn(iris_client: Any, models: Any) -> None:
    x = models.iris_x
    response = iris_client.post("/predict", json={"instances": x.tolist()})
    assert response.status_code == 200
    body = response.json()
    assert body["model"] == "iris" and body["version"] == "7"
    assert body["predictions"] == models.iris_lr.predict(x).tolist()
    np.testing.assert_allclose(body["probabilities"], models.iris_lr.predict_proba(x), atol=1e-5)


def test_predict_records_and_columns_match_sklearn(iris_client: Any, models: Any) -> None:
    x = models.iris_x
    names = models.iris_names
    records = [dict(zip(names, row, strict=True)) for row in x.tolist()]
    columns = {name: x[:, j].tolist() for j, name in enumerate(names)}
    expected = models.iris_lr.predict(x).tolist()
    for body in ({"instances": records}, {"columns": columns}):
        response = iris_client.post("/predict", json=body)
        assert response.status_code == 200, response.text
        assert response.json()["predictions"] == expected


def test_v2_infer_matrix_flat_and_nested(iris_client: Any, models: Any) -> None:
    x = models.iris_x[:10]
    expected = models.iris_lr.predict(x).tolist()
    for data in (x.reshape(-1).tolist(), x.tolist()):
        request = {
            "id": "req-1",
            "inputs": [{"name": "input", "shape": [10, 4], "datatype": "FP32", "data": data}],
        }
        response = iris_client.post("/v2/models/iris/infer", json=request)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["model_name"] == "iris" and body["model_version"] == "7"
        assert body["id"] == "req-1"
        outputs = {o["name"]: o for o in body["outputs"]}
        assert outputs["label"]["data"] == expected
        assert outputs["label"]["datatype"] == "INT64"
        assert outputs["probabilities"]["shape"] == [10, 3]
        np.testing.assert_allclose(
            np.reshape(outputs["probabilities"]["data"], (10, 3)),
            models.iris_lr.predict_proba(x),
            atol=1e-5,
        )


def test_v2_infer_one_tensor_per_feature_and_output_filter(iris_client: Any, models: Any) -> None:
    x = models.iris_x[:5]
    inputs = [
        {"name": name, "shape": [5], "datatype": "FP64", "data": x[:, j].tolist()}
        for j, name in reversed(list(enumerate(models.iris_names)))
    ]
    request = {"inputs": inputs, "outputs": [{"name": "label"}]}
    response = iris_client.post("/v2/models/iris/versions/7/infer", json=request)
    assert response.status_code == 200, response.text
    outputs = response.json()["outputs"]
    assert [o["name"] for o in outputs] == ["label"]
    assert outputs[0]["data"] == models.iris_lr.predict(x).tolist()


def test_regression_matches_sklearn(diabetes_client: Any, models: Any) -> None:
    x = models.diabetes_x
    response = diabetes_client.post("/predict", json={"instances": x.tolist()})
    assert response.status_code == 200
    body = response.json()
    assert "probabilities" not in body
    np.testing.assert_allclose(body["predictions"], models.diabetes_ridge.predict(x), rtol=1e-4)
    request = {"inputs": [{"name": "input", "shape": [3, 10], "datatype": "FP32", "data": []}]}
    request["inputs"][0]["data"] = x[:3].reshape(-1).tolist()
    response = diabetes_client.post("/v2/models/diabetes/infer", json=request)
    assert response.status_code == 200
    (output,) = response.json()["outputs"]
    assert output["name"] == "prediction" and output["shape"] == [3]
    np.testing.assert_allclose(output["data"], models.diabetes_ridge.predict(x[:3]), rtol=1e-4)


@pytest.mark.parametrize(
    ("artifact", "reference", "dataset"),
    [
        ("iris_skops", "iris_lr", "iris_x"),
        ("rf_skops", "iris_rf", "iris_x"),
        ("iris_rf", "iris_rf", "iris_x"),
        ("diabetes_skops", "diabetes_ridge", "diabetes_x"),
    ],
)
def test_other_backends_match_sklearn(
    models: Any, make_client: Any, settings_of: Any, artifact: str, reference: str, dataset: str
) -> None:
    x = getattr(models, dataset)
    estimator = getattr(models, reference)
    with make_client(settings_of(models.artifacts[artifact])) as client:
        response = client.post("/predict", json={"instances": x.tolist()})
        assert response.status_code == 200, response.text
        predictions = response.json()["predictions"]
    if dataset == "iris_x":
        assert predictions == estimator.predict(x).tolist()
    else:
        np.testing.assert_allclose(predictions, estimator.predict(x), rtol=1e-4)


def test_health_metadata_and_not_found(iris_client: Any) -> None:
    for path in ("/healthz", "/readyz", "/v2/health/live", "/v2/health/ready"):
        assert iris_client.get(path).status_code == 200
    assert iris_client.get("/v2/models/iris/ready").status_code == 200
    assert iris_client.get("/v2/models/iris/versions/7/ready").status_code == 200
    meta = iris_client.get("/v2/models/iris").json()
    assert meta["name"] == "iris" and meta["versions"] == ["7"]
    assert meta["inputs"] == [{"name": "input", "datatype": "FP32", "shape": [-1, 4]}]
    assert [o["name"] for o in meta["outputs"]] == ["label", "probabilities"]
    assert iris_client.get("/v2").json()["name"] == "mlops-runtime"
    for path in ("/v2/models/other", "/v2/models/iris/versions/8", "/v2/models/other/ready"):
        response = iris_client.get(path)
        assert response.status_code == 404
        assert "other" in response.json()["error"] or "8" in response.json()["error"]
    response = iris_client.post("/v2/models/other/infer", json={"inputs": []})
    assert response.status_code == 404 and "'other'" in response.json()["error"]
    response = iris_client.post("/v2/models/iris/versions/9/infer", json={"inputs": []})
    assert response.status_code == 404
    assert iris_client.get("/nothing-here").json() == {"error": "Not Found"}
    assert iris_client.get("/predict").status_code == 405


def test_readyz_is_503_when_not_ready(models: Any, make_client: Any, settings_of: Any) -> None:
    with make_client(settings_of(models.artifacts["iris_lr"])) as client:
        client.app.state.service.ready = False
        assert client.get("/readyz").status_code == 503
        assert client.get("/v2/health/ready").status_code == 503
        assert client.get("/healthz").status_code == 200


BAD_PREDICT_BODIES: list[tuple[Any, int, str]] = [
    (b"", 400, "body"),
    (b"{not json", 400, "invalid JSON"),
    ([1, 2], 400, "body"),
    ({}, 400, "instances"),
    ({"instances": [IRIS_ROW], "extra": 1}, 400, "'extra'"),
    ({"instances": [IRIS_ROW], "columns": {}}, 400, "either"),
    ({"instances": "x"}, 400, "instances"),
    ({"instances": []}, 400, "empty batch"),
    ({"instances": [3]}, 400, "instances[0]"),
    ({"instances": [[1, 2, 3]]}, 400, "instances[0]: expected 4 values"),
    ({"instances": [IRIS_ROW, [1, 2]]}, 400, "instances[1]"),
    ({"instances": [[1, 2, "x", 4]]}, 400, "instances[0][2] ('petal length (cm)')"),
    ({"instances": [[1, 2, None, 4]]}, 400, "got null"),
    ({"instances": [[1, 2, True, 4]]}, 400, "got boolean"),
    ({"instances": [[1, 2, [3], 4]]}, 400, "got array"),
    ({"instances": [[1, 2, 3, 1e39]]}, 400, "'petal width (cm)'): value 1e+39 is out of float32"),
    ({"instances": [{"sepal length (cm)": 1}]}, 400, "missing feature 'sepal width (cm)'"),
    ({"instances": [IRIS_ROW, {}]}, 400, "instances[1]"),
    ({"columns": []}, 400, "columns"),
    ({"columns": {"a": [1]}}, 400, "missing feature 'sepal length (cm)'"),
]


@pytest.mark.parametrize(("body", "status", "fragment"), BAD_PREDICT_BODIES)
def test_bad_predict_bodies_are_4xx_naming_the_field(
    iris_client: Any, body: Any, status: int, fragment: str
) -> None:
    content = body if isinstance(body, bytes) else orjson.dumps(body)
    response = iris_client.post("/predict", content=content)
    assert response.status_code == status, response.text
    assert fragment in response.json()["error"]


def test_records_unknown_feature_and_bad_value_are_named(iris_client: Any, models: Any) -> None:
    record = dict(zip(models.iris_names, IRIS_ROW, strict=True))
    response = iris_client.post("/predict", json={"instances": [record | {"colour": 1}]})
    assert response.status_code == 400
    assert response.json()["error"] == "instances[0]: unknown feature 'colour'"
    response = iris_client.post(
        "/predict", json={"instances": [record | {"sepal width (cm)": "wide"}]}
    )
    assert response.json()["error"] == (
        "instances[0]['sepal width (cm)']: expected a number, got string"
    )
    columns = {name: [1.0, 2.0] for name in models.iris_names}
    columns["petal width (cm)"] = [1.0]
    response = iris_client.post("/predict", json={"columns": columns})
    assert response.status_code == 400 and "columns['petal width (cm)']" in response.json()["error"]


def _tensor(**overrides: Any) -> dict[str, Any]:
    tensor = {"name": "input", "shape": [1, 4], "datatype": "FP32", "data": IRIS_ROW}
    return tensor | overrides


BAD_INFER_BODIES: list[tuple[Any, str]] = [
    ({"inputs": []}, "inputs"),
    ({"inputs": [_tensor(shape=[1, 3])]}, "inputs[0].shape"),
    ({"inputs": [_tensor(shape=[0, 4], data=[])]}, "empty batch"),
    ({"inputs": [_tensor(datatype="BYTES")]}, "inputs[0].datatype"),
    ({"inputs": [_tensor(data=[1, 2, 3])]}, "inputs[0].data"),
    ({"inputs": [_tensor(data=[1, 2, "a", 4])]}, "inputs[0].data[2]"),
    ({"inputs": [_tensor(name="pixels")]}, "unknown input 'pixels'"),
    ({"inputs": [{"name": "input"}]}, "inputs[0].shape: missing"),
    ({"inputs": [_tensor()], "outputs": [{"name": "logits"}]}, "outputs[0].name"),
    ({"inputs": [_tensor()], "id": 5}, "id"),
    (
        {"inputs": [{"name": "sepal length (cm)", "shape": [1], "datatype": "FP32", "data": [1]}]},
        "missing tensor for feature 'sepal width (cm)'",
    ),
]


@pytest.mark.parametrize(("body", "fragment"), BAD_INFER_BODIES)
def test_bad_infer_bodies_are_400_naming_the_field(
    iris_client: Any, body: Any, fragment: str
) -> None:
    response = iris_client.post("/v2/models/iris/infer", json=body)
    assert response.status_code == 400, response.text
    assert fragment in response.json()["error"]


def test_limits_give_413(models: Any, make_client: Any, settings_of: Any) -> None:
    settings = settings_of(models.artifacts["iris_lr"], max_rows=5, max_body_bytes=2000)
    with make_client(settings) as client:
        response = client.post("/predict", json={"instances": [IRIS_ROW] * 6})
        assert response.status_code == 413 and "limit of 5" in response.json()["error"]
        response = client.post("/predict", content=b" " * 3000)
        assert response.status_code == 413 and "body" in response.json()["error"]
        ok = client.post("/predict", json={"instances": [IRIS_ROW] * 5})
        assert ok.status_code == 200


def test_metrics_move_as_requests_arrive(
    models: Any, make_client: Any, settings_of: Any, metric: Any
) -> None:
    settings = settings_of(models.artifacts["iris_lr"], track="canary")
    labels = {"model": "iris", "version": "7", "track": "canary"}
    with make_client(settings) as client:
        before = client.get("/metrics").text
        assert metric(before, "mlops_requests_total", status="200", **labels) == 0
        x = models.iris_x[:20]
        assert client.post("/predict", json={"instances": x.tolist()}).status_code == 200
        assert client.post("/predict", json={"instances": [IRIS_ROW]}).status_code == 200
        assert client.post("/predict", json={"instances": []}).status_code == 400
        text = client.get("/metrics").text
    assert metric(text, "mlops_requests_total", status="200", **labels) == 2
    assert metric(text, "mlops_requests_total", status="400", **labels) == 1
    assert metric(text, "mlops_request_duration_seconds_count", **labels) == 3
    assert metric(text, "mlops_batch_size_sum", **labels) == 21
    assert metric(text, "mlops_input_rows_total", **labels) == 21
    rows = np.vstack([x, np.asarray([IRIS_ROW], dtype=np.float32)]).astype(np.float64)
    for j, name in enumerate(models.iris_names):
        got = metric(text, "mlops_input_feature_sum", feature=name, **labels)
        assert got == pytest.approx(rows[:, j].sum(), rel=1e-6)
        got = metric(text, "mlops_input_feature_squares_sum", feature=name, **labels)
        assert got == pytest.approx((rows[:, j] ** 2).sum(), rel=1e-6)
    predicted = models.iris_lr.predict(rows.astype(np.float32))
    for cls in (0, 1, 2):
        got = metric(text, "mlops_predictions_total", **{"class": str(cls)}, **labels)
        assert got == int((predicted == cls).sum())
    assert metric(text, "mlops_model_info", format="onnx", **labels) == 1


def test_regression_metrics_use_schema_buckets(
    diabetes_client: Any, models: Any, metric: Any
) -> None:
    x = models.diabetes_x[:50]
    assert diabetes_client.post("/predict", json={"instances": x.tolist()}).status_code == 200
    text = diabetes_client.get("/metrics").text
    predictions = models.diabetes_ridge.predict(x)
    labels = {"model": "diabetes", "version": "7", "track": "stable"}
    assert metric(text, "mlops_prediction_value_count", **labels) >= 50
    bucket = metric(text, "mlops_prediction_value_bucket", le="150.0", **labels)
    assert bucket >= int((predictions <= 150).sum())


def test_fault_injection_answers_500_and_counts_it(
    models: Any, make_client: Any, settings_of: Any, metric: Any
) -> None:
    settings = settings_of(models.artifacts["iris_lr"], fault_error_rate=1.0)
    with make_client(settings) as client:
        response = client.post("/predict", json={"instances": [IRIS_ROW]})
        assert response.status_code == 500 and "injected" in response.json()["error"]
        assert client.post("/predict", json={"instances": []}).status_code == 400
        text = client.get("/metrics").text
    assert metric(text, "mlops_requests_total", status="500") == 1


def test_latency_fault_delays_every_answer_and_shows_in_the_histogram(
    models: Any, make_client: Any, settings_of: Any, metric: Any
) -> None:
    settings = settings_of(models.artifacts["iris_lr"], fault_latency=0.3)
    with make_client(settings) as client:
        started = time.monotonic()
        response = client.post("/predict", json={"instances": [IRIS_ROW]})
        elapsed = time.monotonic() - started
        text = client.get("/metrics").text
    assert response.status_code == 200 and elapsed >= 0.3
    labels = {"model": "iris", "track": "stable"}
    assert metric(text, "mlops_request_duration_seconds_bucket", le="0.25", **labels) == 0
    assert metric(text, "mlops_request_duration_seconds_bucket", le="0.5", **labels) == 1


def test_no_metrics_flag_keeps_serving(models: Any, make_client: Any, settings_of: Any) -> None:
    with make_client(settings_of(models.artifacts["iris_lr"], metrics=False)) as client:
        assert client.post("/predict", json={"instances": [IRIS_ROW]}).status_code == 200
        assert "mlops_requests_total" not in client.get("/metrics").text


def test_adaptive_batching_merges_concurrent_requests(
    models: Any, make_client: Any, settings_of: Any, metric: Any
) -> None:
    settings = settings_of(models.artifacts["iris_rf"], batching=True)
    x = models.iris_x
    with make_client(settings) as client:
        requests: list[tuple[str, Any]] = [("/predict", {"instances": [row]}) for row in x.tolist()]
        requests += [
            (
                "/v2/models/iris/infer",
                {"inputs": [{"name": "input", "shape": [2, 4], "datatype": "FP32", "data": row}]},
            )
            for row in np.hstack([x[:-1], x[1:]]).tolist()[:20]
        ]
        responses = client.gather(requests)
        batcher = client.app.state.service.batcher
        text = client.get("/metrics").text
    assert all(r.status_code == 200 for r in responses)
    expected = models.iris_rf.predict(x).tolist()
    assert [r.json()["predictions"][0] for r in responses[:150]] == expected
    pairs = np.hstack([x[:-1], x[1:]])[:20].reshape(-1, 4)
    merged = [label for r in responses[150:] for label in r.json()["outputs"][0]["data"]]
    assert merged == models.iris_rf.predict(pairs).tolist()
    assert batcher.rows == 190
    assert batcher.calls < len(requests)  # concurrent requests shared model calls
    assert metric(text, "mlops_input_rows_total") == 190


@pytest.mark.parametrize("depth", [3, 60, 200, 1100])
def test_deeply_nested_payloads_are_400(iris_client: Any, depth: int) -> None:
    nested = b"[" * depth + b"1" + b"]" * depth
    for path, body in (
        ("/predict", b'{"instances": [' + nested + b"]}"),
        (
            "/v2/models/iris/infer",
            b'{"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": '
            + nested
            + b"}]}",
        ),
    ):
        response = iris_client.post(path, content=body)
        assert response.status_code == 400, (depth, path, response.text)


def test_string_class_labels(models: Any, make_client: Any, settings_of: Any, metric: Any) -> None:
    x = models.iris_x
    expected = models.iris_named.predict(x).tolist()
    with make_client(settings_of(models.artifacts["iris_named"])) as client:
        response = client.post("/predict", json={"instances": x.tolist()})
        assert response.status_code == 200, response.text
        assert response.json()["predictions"] == expected
        request = {"inputs": [{"name": "input", "shape": [2, 4], "datatype": "FP32", "data": []}]}
        request["inputs"][0]["data"] = x[:2].reshape(-1).tolist()
        label = client.post("/v2/models/iris/infer", json=request).json()["outputs"][0]
        assert label["datatype"] == "BYTES" and label["data"] == expected[:2]
        assert client.get("/v2/models/iris").json()["outputs"][0]["datatype"] == "BYTES"
        text = client.get("/metrics").text
    setosa = expected.count("setosa") + expected[:2].count("setosa")
    assert metric(text, "mlops_predictions_total", **{"class": "setosa"}) == setosa


def test_schema_with_empty_class_list(models: Any, make_client: Any, settings_of: Any) -> None:
    artifact = models.artifacts["iris_lr"]
    schema = dict(artifact.schema, classes=[])
    with make_client(settings_of(artifact, input_schema=schema)) as client:
        response = client.post("/predict", json={"instances": [IRIS_ROW]})
        assert response.status_code == 200
        assert 'class="0"' in client.get("/metrics").text


def test_streamed_bodies_are_read_and_limited(
    models: Any, make_client: Any, settings_of: Any
) -> None:
    settings = settings_of(models.artifacts["iris_lr"], max_body_bytes=100)

    async def chunks(parts: list[bytes]) -> Any:
        for part in parts:
            yield part

    with make_client(settings) as client:
        ok = client.post("/predict", content=chunks([b'{"instances":', b"[[5.1,3.5,1.4,0.2]]}"]))
        assert ok.status_code == 200, ok.text
        big = client.post("/predict", content=chunks([b" " * 60, b" " * 60]))
        assert big.status_code == 413 and "more than 100 bytes" in big.json()["error"]
