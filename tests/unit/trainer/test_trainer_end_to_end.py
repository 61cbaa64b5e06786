"""Real training runs into temporary directories, through ``main`` as the pod runs it."""

from __future__ import annotations

import hashlib
import json
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime
import pandas as pd
import pytest
import skops.io as sio
from sklearn.datasets import load_diabetes, load_iris

TrainerRun = Callable[..., tuple[int, dict[str, Any]]]

IRIS: dict[str, Any] = {
    "model": "iris",
    "dataset": {"uri": "sklearn://iris", "target": "target", "randomSeed": 7},
    "estimator": {"name": "LogisticRegression", "params": {"max_iter": 300}},
}


def load_run(message: dict[str, Any]) -> dict[str, Any]:
    """Check every artifact's checksum against the file; return metadata.json."""
    written = [artifact for artifact in message["artifacts"].values() if artifact is not None]
    assert written, f"the run reported no artifact to check: {message['artifacts']}"
    for artifact in written:
        data = Path(artifact["uri"].removeprefix("file://")).read_bytes()
        assert hashlib.sha256(data).hexdigest() == artifact["sha256"]
    return json.loads(Path(message["metadataUri"].removeprefix("file://")).read_text())


def onnx_session(message: dict[str, Any]) -> onnxruntime.InferenceSession:
    path = message["artifacts"]["onnx"]["uri"].removeprefix("file://")
    return onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])


def skops_model(message: dict[str, Any], metadata: dict[str, Any]) -> Any:
    data = Path(message["artifacts"]["skops"]["uri"].removeprefix("file://")).read_bytes()
    return sio.loads(data, trusted=metadata["skopsTrustedTypes"])


def test_iris_classification(run_trainer: TrainerRun, tmp_path: Path) -> None:
    out = tmp_path / "out"
    code, message = run_trainer(IRIS, out.as_uri(), "--git-revision", "abc123")
    assert code == 0 and message["ok"] is True
    assert sorted(p.name for p in out.iterdir()) == [
        "metadata.json", "model.onnx", "model.skops", "plots"]
    metadata = load_run(message)
    assert message["plots"] == ["confusion-matrix", "roc", "precision-recall", "calibration",
                                "importance"]
    for name in message["plots"]:  # real PNGs, recorded with their checksums
        picture = (out / "plots" / f"{name}.png").read_bytes()
        assert picture.startswith(b"\x89PNG\r\n\x1a\n")
        assert metadata["plots"][name]["sha256"] == hashlib.sha256(picture).hexdigest()
    assert message["task"] == "classification"
    assert message["metrics"]["accuracy"] > 0.8 and 0 < message["metrics"]["roc_auc"] <= 1
    assert message["preferredFormat"] == "onnx" and message["onnxMatches"] is True
    assert message["dataset"]["rows"] == 150 and message["dataset"]["columns"] == 5
    assert message["inputSchema"]["classes"] == [0, 1, 2]
    assert [f["name"] for f in message["inputSchema"]["features"]][0] == "sepal length (cm)"
    assert message["gitRevision"] == "abc123"
    assert set(message["framework"]) >= {"sklearn", "onnxruntime", "skl2onnx"}
    assert set(message["referenceStats"]["petal width (cm)"]) == {"mean", "std", "min", "max"}
    assert len(metadata["referenceStats"]["petal width (cm)"]["quantileEdges"]) == 11
    assert metadata["dataset"]["trainRows"] + metadata["dataset"]["testRows"] == 150

    x, y = load_iris(return_X_y=True)
    session = onnx_session(message)
    assert [o.name for o in session.get_outputs()] == ["label", "probabilities"]
    schema = json.loads(session.get_modelmeta().custom_metadata_map["mlops.input_schema"])
    assert schema == message["inputSchema"]
    labels, probabilities = session.run(None, {"input": x.astype(np.float32)})
    model = skops_model(message, metadata)
    assert np.array_equal(labels, model.predict(x))
    assert np.allclose(probabilities, model.predict_proba(x), atol=1e-4)
    assert (labels == y).mean() > 0.9


def test_diabetes_regression(run_trainer: TrainerRun, tmp_path: Path) -> None:
    spec = {
        "model": "diabetes",
        "dataset": {"uri": "sklearn://diabetes"},
        "estimator": {"name": "RandomForestRegressor", "params": {"n_estimators": 20}},
    }
    code, message = run_trainer(spec, (tmp_path / "out").as_uri())
    assert code == 0
    metadata = load_run(message)
    assert message["task"] == "regression"
    assert set(message["metrics"]) == {"rmse", "mae", "r2"}
    assert 0 < message["metrics"]["rmse"] < 80 and message["metrics"]["r2"] > 0.2
    assert message["predictionStats"]["type"] == "histogram"
    assert sum(message["predictionStats"]["counts"]) == metadata["dataset"]["testRows"]
    assert message["onnxMatches"] is True
    x, _ = load_diabetes(return_X_y=True)
    (predicted,) = onnx_session(message).run(None, {"input": x.astype(np.float32)})
    expected = skops_model(message, metadata).predict(x)
    assert np.allclose(predicted.ravel(), expected, rtol=1e-4)


def test_unconvertible_model_serves_skops(run_trainer: TrainerRun, tmp_path: Path) -> None:
    spec = {
        "model": "hgb",
        "dataset": {"uri": "sklearn://iris"},
        "estimator": {"name": "HistGradientBoostingClassifier", "params": {"max_iter": 10}},
    }
    code, message = run_trainer(spec, (tmp_path / "out").as_uri())
    assert code == 0
    metadata = load_run(message)
    assert message["artifacts"]["onnx"] is None and message["preferredFormat"] == "skops"
    assert metadata["onnxError"].startswith("conversion failed")
    assert not (tmp_path / "out" / "model.onnx").exists()


def test_wide_dataset_drops_stats_from_message(run_trainer: TrainerRun, tmp_path: Path) -> None:
    spec = {
        "model": "digits",
        "dataset": {"uri": "sklearn://digits"},
        "estimator": {"name": "DecisionTreeClassifier", "params": {"max_depth": 4}},
    }
    code, message = run_trainer(spec, (tmp_path / "out").as_uri())
    assert code == 0 and message["statsTruncated"] is True
    assert "referenceStats" not in message
    assert len(load_run(message)["referenceStats"]) == 64


def test_http_dataset_and_stable_fingerprint(
    run_trainer: TrainerRun, http_root: tuple[Path, str], tmp_path: Path
) -> None:
    root, base = http_root
    frame = load_iris(as_frame=True).frame.rename(columns={"target": "species"})
    (root / "iris.csv").write_text(frame.to_csv(index=False))
    spec = {**IRIS, "dataset": {"uri": f"{base}/iris.csv", "target": "species"}}
    first = run_trainer(spec, (tmp_path / "a").as_uri())[1]
    second = run_trainer(spec, (tmp_path / "b").as_uri())[1]
    assert first["ok"] and second["ok"]
    digest = hashlib.sha256((root / "iris.csv").read_bytes()).hexdigest()
    assert first["dataset"]["sha256"] == second["dataset"]["sha256"] == digest
    assert first["metrics"] == second["metrics"]
    assert first["inputSchema"]["target"] == "species"


def test_bundled_fingerprint_is_stable(run_trainer: TrainerRun, tmp_path: Path) -> None:
    spec = {**IRIS, "estimator": {"name": "KNeighborsClassifier"}}
    first = run_trainer(spec, (tmp_path / "a").as_uri())[1]
    second = run_trainer(spec, (tmp_path / "b").as_uri())[1]
    assert first["dataset"]["sha256"] == second["dataset"]["sha256"]
    assert first["metrics"] == second["metrics"]
    assert first["referenceStats"] == second["referenceStats"]


def test_column_scale_changes_the_model_not_the_fingerprint(
    run_trainer: TrainerRun, tmp_path: Path
) -> None:
    column = "petal length (cm)"
    plain = {**IRIS, "estimator": {**IRIS["estimator"], "scaler": "none"}}
    skewed = {**plain, "dataset": {**IRIS["dataset"], "columnScale": {column: 10.0}}}
    base = run_trainer(plain, (tmp_path / "plain").as_uri())[1]
    scaled = run_trainer(skewed, (tmp_path / "skewed").as_uri())[1]
    assert base["dataset"]["sha256"] == scaled["dataset"]["sha256"]
    assert scaled["params"]["columnScale"] == {column: 10.0}
    ratio = scaled["referenceStats"][column]["mean"] / base["referenceStats"][column]["mean"]
    assert ratio == pytest.approx(10.0)
    assert base["artifacts"]["onnx"]["sha256"] != scaled["artifacts"]["onnx"]["sha256"]
    x, _ = load_iris(return_X_y=True)
    x32 = x.astype(np.float32)
    base_proba = onnx_session(base).run(["probabilities"], {"input": x32})[0]
    scaled_proba = onnx_session(scaled).run(["probabilities"], {"input": x32})[0]
    assert not np.allclose(base_proba, scaled_proba, atol=1e-3)


def test_pvc_uris_resolve_under_the_claims_mount(
    run_trainer: TrainerRun, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLOPS_PVC_ROOT", str(tmp_path))
    host = tmp_path / "models"
    (host / "data").mkdir(parents=True)
    diabetes = load_diabetes(as_frame=True).frame
    diabetes.to_parquet(host / "data" / "diabetes.parquet")
    spec = {
        "model": "diabetes",
        "dataset": {"uri": "pvc://models/data/diabetes.parquet", "format": "parquet"},
        "estimator": {"name": "Ridge", "params": {"alpha": 0.5}},
    }
    code, message = run_trainer(spec, "pvc://models/diabetes/v1")
    assert code == 0, message
    assert message["artifacts"]["skops"]["uri"] == "pvc://models/diabetes/v1/model.skops"
    assert message["metadataUri"] == "pvc://models/diabetes/v1/metadata.json"
    written = host / "diabetes" / "v1"
    assert sorted(p.name for p in written.iterdir()) == [
        "metadata.json",
        "model.onnx",
        "model.skops",
        "plots",
    ]
    assert sorted(p.name for p in (written / "plots").iterdir()) == ["importance.png",
                                                                      "residuals.png"]
    assert message["plots"] == ["residuals", "importance"]
    assert set(message["diagnostics"]["residuals"]) == {"mean", "std", "maxAbs", "quantiles"}
    skops_bytes = (written / "model.skops").read_bytes()
    assert hashlib.sha256(skops_bytes).hexdigest() == message["artifacts"]["skops"]["sha256"]
    assert message["dataset"]["rows"] == len(diabetes)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize(
    ("dataset", "reason", "needle"),
    [
        ({"uri": "http://127.0.0.1:{port}/iris.csv"}, "DatasetUnreachable", "cannot read"),
        ({"uri": "{base}/missing.csv"}, "DatasetUnreachable", "HTTP 404"),
        ({"uri": "{base}/ragged.csv"}, "DatasetMalformed", "ragged.csv"),
        ({"uri": "{base}/text.csv"}, "DatasetMalformed", "'notes' is entirely empty"),
        ({"uri": "{base}/text.csv", "target": "kind"}, "MissingTargetColumn", "'kind'"),
        ({"uri": "{base}/text.csv", "features": ["a", "z"]}, "MissingFeature", "'z'"),
        ({"uri": "ftp://host/x.csv"}, "DatasetUnreachable", "unsupported scheme"),
    ],
)
def test_dataset_failures(
    run_trainer: TrainerRun,
    http_root: tuple[Path, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    dataset: dict[str, Any],
    reason: str,
    needle: str,
) -> None:
    root, base = http_root
    (root / "ragged.csv").write_text("a,b,target\n1,2,0\n3,4,1,9,9\n")
    (root / "text.csv").write_text("a,colour,notes,target\n1,red,,0\n2,blue,,1\n")
    uri = dataset["uri"].format(base=base, port=free_port())
    spec = {**IRIS, "dataset": {**dataset, "uri": uri}}
    code, message = run_trainer(spec, (tmp_path / "out").as_uri())
    assert code == 1
    assert message == {"ok": False, "reason": reason, "message": message["message"]}
    assert needle in message["message"]
    assert message["message"] in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_spec_failure_from_environment(
    run_trainer: TrainerRun, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlops_runtime.trainer.main import main

    spec = {**IRIS, "estimator": {"name": "LogisticRegression", "params": {"maxiter": 3}}}
    monkeypatch.setenv("MLOPS_TRAINING_SPEC", json.dumps(spec))
    monkeypatch.setenv("MLOPS_OUTPUT_URI", (tmp_path / "out").as_uri())
    assert main([]) == 1
    message = json.loads((tmp_path / "termination-log").read_text())
    assert message["reason"] == "InvalidParams" and "'maxiter'" in message["message"]
    assert main(["--no-such-flag"]) == 1
    assert json.loads((tmp_path / "termination-log").read_text())["reason"] == "InvalidParams"


def test_cli_dispatches_to_the_trainer(run_trainer: TrainerRun, tmp_path: Path) -> None:
    from mlops_runtime.cli import main as cli_main

    assert cli_main(["train", "--spec-json", json.dumps(IRIS)]) == 1  # no output URI
    message = json.loads((tmp_path / "termination-log").read_text())
    assert message["reason"] == "InvalidParams" and "output" in message["message"]


@pytest.mark.parametrize("target", ["ftp://nowhere/out", "file://host/out", "file-under-a-file"])
def test_artifact_write_failures(run_trainer: TrainerRun, tmp_path: Path, target: str) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("not a directory")
    uri = (blocker / "out").as_uri() if target == "file-under-a-file" else target
    code, message = run_trainer(IRIS, uri)
    assert code == 1 and message["reason"] == "ArtifactWriteFailed"
    assert uri.split("://")[0] in message["message"]


def test_malformed_parquet_file(run_trainer: TrainerRun, tmp_path: Path) -> None:
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"PAR1 but not really")
    spec = {**IRIS, "dataset": {"uri": path.as_uri()}}
    code, message = run_trainer(spec, (tmp_path / "out").as_uri())
    assert code == 1 and message["reason"] == "DatasetMalformed"
    assert "parquet" in message["message"]


def test_string_labels_from_a_local_csv(run_trainer: TrainerRun, tmp_path: Path) -> None:
    iris = load_iris(as_frame=True)
    frame = iris.frame.assign(target=pd.Categorical.from_codes(iris.target, iris.target_names))
    path = tmp_path / "iris.csv"
    frame.to_csv(path, index=False)
    spec = {**IRIS, "dataset": {"uri": path.as_uri(), "features": ["petal length (cm)"]}}
    code, message = run_trainer(spec, (tmp_path / "out").as_uri())
    assert code == 0, message
    assert message["inputSchema"]["classes"] == ["setosa", "versicolor", "virginica"]
    assert len(message["inputSchema"]["features"]) == 1
    assert set(message["predictionStats"]["frequencies"]) == {"setosa", "versicolor", "virginica"}
    assert message["onnxMatches"] is True
