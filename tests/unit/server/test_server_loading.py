"""Fetching, verifying and loading artifacts: what is refused, and how it says so."""

from __future__ import annotations

import json
from typing import Any

import pytest
from mlops_runtime.server import main as server_main
from mlops_runtime.server.runtime import (
    ModelLoadError,
    is_allowed_type,
    load_model,
    looks_like_pickle,
    resolve_format,
)


def _load(artifact: Any, **kwargs: Any) -> Any:
    schema = kwargs.pop("schema", artifact.schema if artifact.path.suffix == ".skops" else None)
    return load_model(artifact.uri, kwargs.pop("sha256", artifact.sha256), schema=schema, **kwargs)


def test_loads_onnx_with_schema_from_metadata(models: Any) -> None:
    loaded = _load(models.artifacts["iris_lr"])
    assert loaded.model_format == "onnx"
    assert loaded.schema.feature_names == tuple(models.iris_names)
    assert loaded.schema.classes == (0, 1, 2)
    assert loaded.output_names == ("label", "probabilities")


def test_checksum_mismatch_names_both_checksums(models: Any) -> None:
    artifact = models.artifacts["iris_lr"]
    with pytest.raises(ModelLoadError, match="checksum mismatch") as info:
        _load(artifact, sha256="0" * 64)
    assert "0" * 64 in str(info.value) and artifact.sha256 in str(info.value)


def test_sha256_prefix_and_case_are_accepted(models: Any) -> None:
    artifact = models.artifacts["iris_lr"]
    _load(artifact, sha256="sha256:" + artifact.sha256.upper())


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("pickle", "unsupported model format"),
        ("pickle_as_onnx", "pickle"),
        ("garbage_onnx", "cannot load ONNX model"),
        ("evil_skops", "numpy.load"),
        ("iris_zipmap", "zipmap"),
    ],
)
def test_refused_artifacts(models: Any, name: str, fragment: str) -> None:
    with pytest.raises(ModelLoadError, match=fragment.replace(".", r"\.")):
        _load(models.artifacts[name])


def test_pickle_with_explicit_skops_format_is_refused_before_parsing(models: Any) -> None:
    artifact = models.artifacts["pickle"]
    with pytest.raises(ModelLoadError, match="pickle"):
        _load(artifact, model_format="skops", schema=artifact.schema)


def test_skops_needs_a_schema(models: Any) -> None:
    with pytest.raises(ModelLoadError, match="input-schema"):
        _load(models.artifacts["iris_skops"], schema=None)


def test_schema_must_match_the_model(models: Any) -> None:
    artifact = models.artifacts["iris_lr"]
    schema = dict(artifact.schema, features=artifact.schema["features"][:3])
    with pytest.raises(ModelLoadError, match="3 features but the model expects 4"):
        _load(artifact, schema=schema)
    with pytest.raises(ModelLoadError, match="task"):
        _load(artifact, schema=dict(artifact.schema, task="ranking"))


def test_missing_file_and_unknown_scheme(models: Any) -> None:
    artifact = models.artifacts["iris_lr"]
    with pytest.raises(ModelLoadError, match="cannot read model artifact"):
        load_model(artifact.uri + ".missing.onnx", artifact.sha256)
    with pytest.raises(ModelLoadError, match="unknown artifact URI scheme gs://"):
        load_model("gs://bucket/model.onnx", artifact.sha256)


def test_format_detection_and_helpers() -> None:
    assert resolve_format("file:///m/model.ONNX", None) == "onnx"
    assert resolve_format("pvc://claim/a/model.skops", None) == "skops"
    assert resolve_format("file:///m/model.bin", "onnx") == "onnx"
    for uri in ("file:///m/model.pkl", "file:///m/model.joblib", "file:///m/model"):
        with pytest.raises(ModelLoadError, match="unsupported model format"):
            resolve_format(uri, None)
    with pytest.raises(ModelLoadError, match="'pickle'"):
        resolve_format("file:///m/model.onnx", "pickle")
    assert looks_like_pickle(b"\x80\x04\x95.")
    assert not looks_like_pickle(b"PK\x03\x04")


@pytest.mark.parametrize(
    ("name", "allowed"),
    [
        ("sklearn.tree._tree.Tree", True),
        ("numpy.float64", True),
        ("numpy.load", False),  # a function, not a type
        ("builtins.eval", False),
        ("posix.system", False),
        ("sklearn.does_not_exist.Thing", False),
        ("sklearnx.Model", False),
    ],
)
def test_skops_allowlist(name: str, allowed: bool) -> None:
    assert is_allowed_type(name) is allowed


def test_main_exits_non_zero_with_one_line(
    models: Any, capsys: pytest.CaptureFixture[str], _termination_log: Any
) -> None:
    artifact = models.artifacts["iris_lr"]
    code = server_main.main(["--model-uri", artifact.uri, "--sha256", "1" * 64])
    assert code != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "checksum mismatch" in err and "1" * 64 in err
    assert "checksum mismatch" in _termination_log.read_text()


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        ([], "--model-uri"),
        (["--model-uri", "file:///m.onnx"], "--sha256"),
        (["--model-uri", "file:///m.onnx", "--sha256", "abc"], "64 hex digits"),
        (["--model-uri", "file:///m.onnx", "--sha256", "a" * 64, "--track", "x"], "--track"),
        (["--model-uri", "file:///m.onnx", "--sha256", "a" * 64, "--input-schema", "{"], "JSON"),
    ],
)
def test_main_rejects_bad_configuration(
    args: list[str], fragment: str, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    for key in ("MLOPS_MODEL_URI", "MLOPS_MODEL_SHA256", "MLOPS_TRACK", "MLOPS_INPUT_SCHEMA"):
        monkeypatch.delenv(key, raising=False)
    assert server_main.main(args) == 2
    assert fragment in capsys.readouterr().err


def test_schema_from_argument_overrides_metadata(models: Any) -> None:
    artifact = models.artifacts["iris_lr"]
    schema = dict(artifact.schema, classes=["setosa", "versicolor", "virginica"])
    with pytest.raises(ModelLoadError):
        _load(artifact, schema=json.dumps(dict(schema, task="nope")))
    loaded = _load(artifact, schema=json.dumps(schema))
    assert loaded.schema.classes == ("setosa", "versicolor", "virginica")
