"""Shadow traffic: a live server mirrors sampled requests to a shadow server and records
whether the two predictions agree; the live answers never wait for the shadow."""

from __future__ import annotations

import time
from typing import Any

import httpx
import numpy as np
import pytest
from mlops_runtime.server.mirror import agreement

AGREE_CASES = [
    # live, shadow, classifier, tolerance -> agree per row
    ([0, 1, 2], [0, 1, 1], True, 0.1, [True, True, False]),
    (["setosa", "virginica"], ["setosa", "virginica"], True, 0.1, [True, True]),
    ([0, 1, 2], [0, 1], True, 0.1, [False, False, False]),  # a short answer: none agree
    ([100.0, 10.0, 0.0], [105.0, 12.0, 0.0], False, 0.1, [True, False, True]),
    ([1.0, -1.0], [1.0, 1.0], False, 0.5, [True, False]),
]


@pytest.mark.parametrize(("live", "shadow", "classifier", "tolerance", "expected"), AGREE_CASES)
def test_agreement_per_row(live: list[Any], shadow: list[Any], classifier: bool,
                           tolerance: float, expected: list[bool]) -> None:
    agree, absolute, relative = agreement(np.array(live), shadow, classifier, tolerance)
    assert agree.tolist() == expected
    if classifier or len(live) != len(shadow):
        assert absolute is None and relative is None
    else:
        assert absolute is not None and relative is not None
        assert absolute.tolist() == [abs(a - b) for a, b in zip(live, shadow, strict=True)]


def _wait_for_metric(client: httpx.Client, metric: Any, name: str, want: float,
                     **labels: str) -> str:
    deadline = time.monotonic() + 20
    while True:
        text = client.get("/metrics").text
        if metric(text, name, **labels) >= want or time.monotonic() > deadline:
            return text
        time.sleep(0.05)


def _args(artifact: Any, version: str) -> list[str]:
    return ["--model-uri", artifact.uri, "--sha256", artifact.sha256, "--model-name", "iris",
            "--model-version", version]


def test_mirrored_requests_are_compared_with_the_shadows_own_answers(
        models: Any, serve: Any, metric: Any) -> None:
    x = models.iris_x  # 50 rows anywhere in the feature ranges, where the two models differ
    rows = np.random.default_rng(1).uniform(x.min(0), x.max(0), (50, 4)).astype(np.float32)
    with serve(*_args(models.artifacts["iris_rf"], "2"), "--track", "canary") as shadow, \
            serve(*_args(models.artifacts["iris_lr"], "1"), "--mirror-url", shadow.url,
                  "--mirror-version", "2") as live, \
            httpx.Client(base_url=live.url, timeout=10) as client:
        answers = [client.post("/predict", json={"instances": [row.tolist()]}) for row in rows]
        assert all(a.status_code == 200 and a.json()["version"] == "1" for a in answers)
        labels = {"model": "iris", "version": "1", "shadow": "2"}
        text = _wait_for_metric(client, metric, "mlops_mirror_requests_total", len(rows),
                                outcome="compared", **labels)
        own = [a.json()["predictions"][0] for a in answers]
        with httpx.Client(base_url=shadow.url, timeout=10) as direct:
            theirs = direct.post("/predict", json={"instances": rows.tolist()}).json()
        expected = sum(a == b for a, b in zip(own, theirs["predictions"], strict=True))
        assert 0 < expected < len(rows), "the two models must disagree on some rows"
        assert metric(text, "mlops_mirror_requests_total", outcome="compared",
                      **labels) == len(rows)
        assert metric(text, "mlops_mirror_rows_total", agreement="agree", **labels) == expected
        assert metric(text, "mlops_mirror_rows_total", agreement="disagree",
                      **labels) == len(rows) - expected
        shadow_text = httpx.get(f"{shadow.url}/metrics").text
        # The shadow saw every mirrored row (batched into fewer requests) and ours.
        assert metric(shadow_text, "mlops_input_rows_total", track="canary",
                      version="2") == 2 * len(rows)


def test_regressor_differences_are_histograms(models: Any, serve: Any, metric: Any) -> None:
    artifact = models.artifacts["diabetes"]
    args = ["--model-uri", artifact.uri, "--sha256", artifact.sha256, "--model-name", "d"]
    with serve(*args, "--model-version", "2") as shadow, \
            serve(*args, "--model-version", "1", "--mirror-url", shadow.url,
                  "--mirror-version", "2") as live, \
            httpx.Client(base_url=live.url, timeout=10) as client:
        for row in models.diabetes_x[:10]:
            assert client.post("/predict", json={"instances": [row.tolist()]}).status_code == 200
        text = _wait_for_metric(client, metric, "mlops_mirror_rows_total", 10,
                                agreement="agree", shadow="2")
        # The same model on both sides: every row agrees, every difference is 0.
        assert metric(text, "mlops_mirror_rows_total", agreement="agree", shadow="2") == 10
        assert metric(text, "mlops_mirror_abs_difference_count", shadow="2") == 10
        assert metric(text, "mlops_mirror_rel_difference_bucket", shadow="2", le="0.0001") == 10


def test_a_slow_or_absent_shadow_never_delays_or_fails_live_answers(
        models: Any, serve: Any, metric: Any) -> None:
    artifact = models.artifacts["iris_lr"]
    body = {"instances": models.iris_x[:5].tolist()}
    with serve(*_args(artifact, "2"), "--fault-latency", "2") as slow, \
            serve(*_args(artifact, "1"), "--mirror-url", slow.url, "--mirror-version", "2",
                  "--mirror-queue", "2") as live, \
            httpx.Client(base_url=live.url, timeout=10) as client:
        answers = [client.post("/predict", json=body) for _ in range(30)]
        text = client.get("/metrics").text
        # Every live answer came back while no copy had been answered by the shadow yet.
        assert all(a.status_code == 200 for a in answers)
        assert metric(text, "mlops_mirror_requests_total", outcome="compared") == 0
        # 2 workers with at most 1 + 2 copies each in flight, 2 queued: the rest were
        # dropped, and counted.
        assert metric(text, "mlops_mirror_requests_total", outcome="dropped") >= 30 - 8
    with serve(*_args(artifact, "1"), "--mirror-url", "http://127.0.0.1:9",
               "--mirror-version", "2") as live, \
            httpx.Client(base_url=live.url, timeout=10) as client:
        assert all(client.post("/predict", json=body).status_code == 200 for _ in range(5))
        text = _wait_for_metric(client, metric, "mlops_mirror_requests_total", 5,
                                outcome="failed")
        assert metric(text, "mlops_mirror_requests_total", outcome="failed") == 5


def test_mirror_settings_are_checked(run_serve: Any, models: Any) -> None:
    artifact = models.artifacts["iris_lr"]
    result = run_serve(*_args(artifact, "1"), "--mirror-url", "iris-canary:80")
    assert result.returncode == 2 and "--mirror-url" in result.stderr
    result = run_serve(*_args(artifact, "1"), "--mirror-url", "http://x", "--mirror-percent",
                       "150")
    assert result.returncode == 2 and "--mirror-percent" in result.stderr
