"""Every answer names its request and each row, so labels that come later can be joined."""

from __future__ import annotations

from typing import Any

import pytest

IRIS_ROW = [5.1, 3.5, 1.4, 0.2]


def _infer(rows: int, **extra: Any) -> dict[str, Any]:
    tensor = {"name": "input", "shape": [rows, 4], "datatype": "FP32", "data": IRIS_ROW * rows}
    return {"inputs": [tensor], **extra}


def test_the_server_names_requests_and_rows_when_the_client_does_not(iris_client: Any) -> None:
    one = iris_client.post("/predict", json={"instances": [IRIS_ROW]}).json()
    again = iris_client.post("/predict", json={"instances": [IRIS_ROW]}).json()
    assert len(one["id"]) == 32 and int(one["id"], 16) >= 0  # a random UUID, as hex
    assert one["id"] != again["id"]
    assert one["ids"] == [one["id"]]  # a one-row request's row is the request
    three = iris_client.post("/predict", json={"instances": [IRIS_ROW] * 3}).json()
    assert three["ids"] == [f"{three['id']}-{row}" for row in range(3)]
    infer = iris_client.post("/v2/models/iris/infer", json=_infer(2)).json()
    assert infer["parameters"]["ids"] == [f"{infer['id']}-0", f"{infer['id']}-1"]


def test_the_clients_request_id_and_row_ids_come_back(iris_client: Any) -> None:
    response = iris_client.post("/predict", json={"instances": [IRIS_ROW] * 2},
                                headers={"X-Request-Id": "trace-7"})
    assert response.headers["x-request-id"] == "trace-7"
    assert (response.json()["id"], response.json()["ids"]) == ("trace-7", ["trace-7-0",
                                                                          "trace-7-1"])
    body = {"id": "batch-9", "ids": ["loan-1", "loan-2"], "columns": {
        name: [value, value] for name, value in zip(
            ("sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"),
            IRIS_ROW, strict=True)}}
    answer = iris_client.post("/predict", json=body, headers={"X-Request-Id": "ignored"}).json()
    assert (answer["id"], answer["ids"]) == ("batch-9", ["loan-1", "loan-2"])  # body wins
    infer = iris_client.post("/v2/models/iris/versions/7/infer",
                             json=_infer(2, id="q-1", parameters={"ids": ["a", "b"]})).json()
    assert (infer["id"], infer["parameters"]["ids"]) == ("q-1", ["a", "b"])


def test_a_refused_request_still_echoes_the_clients_header(iris_client: Any) -> None:
    for path in ("/predict", "/v2/models/other/infer"):  # the fast path and the router
        response = iris_client.post(path, json={"instances": []},
                                    headers={"X-Request-Id": "trace-8"})
        assert response.status_code in (400, 404)
        assert response.headers["x-request-id"] == "trace-8"


BAD_IDS: list[tuple[str, dict[str, Any], dict[str, str], str]] = [
    ("/predict", {"instances": [IRIS_ROW], "ids": "a"}, {},
     "ids: expected a list of strings, one per row"),
    ("/predict", {"instances": [IRIS_ROW] * 2, "ids": ["a"]}, {},
     "ids: 1 IDs for 2 rows; give one per row"),
    ("/predict", {"instances": [IRIS_ROW] * 2, "ids": ["a", 2]}, {},
     "ids[1]: expected a string, got number"),
    ("/predict", {"instances": [IRIS_ROW] * 3, "ids": ["a", "b", "a"]}, {},
     "ids[2]: 'a' repeats ids[0]"),
    ("/predict", {"instances": [IRIS_ROW], "id": ""}, {},
     "id: expected 1 to 128 printable characters"),
    ("/predict", {"instances": [IRIS_ROW], "id": "x" * 129}, {},
     "id: expected 1 to 128 printable characters"),
    ("/predict", {"instances": [IRIS_ROW]}, {"X-Request-Id": "y" * 200},
     "X-Request-Id: expected 1 to 128 printable characters"),
    ("/predict", {"id": "only-an-id"}, {}, "body: expected 'instances' or 'columns'"),
    ("/v2/models/iris/infer", _infer(1, id=5), {}, "id: expected a string, got number"),
    ("/v2/models/iris/infer", _infer(2, parameters={"ids": ["a", "a"]}), {},
     "parameters.ids[1]: 'a' repeats parameters.ids[0]"),
]


@pytest.mark.parametrize(("path", "body", "headers", "error"), BAD_IDS)
def test_bad_ids_are_400_naming_the_field(iris_client: Any, path: str, body: dict[str, Any],
                                          headers: dict[str, str], error: str) -> None:
    response = iris_client.post(path, json=body, headers=headers)
    assert response.status_code == 400
    assert response.json()["error"] == error
