"""Settings (args win over env) and artifact stores (file, pvc, s3, unknown)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from mlops_runtime import stores
from mlops_runtime.server.settings import SettingsError, parse_settings

SHA = "ab" * 32
BASE = ["--model-uri", "file:///models/m.onnx", "--sha256", SHA]


def test_defaults() -> None:
    settings = parse_settings(BASE, {})
    assert settings.host == "127.0.0.1" and settings.port == 8080
    assert settings.track == "stable" and settings.batching is False
    assert settings.fault_error_rate == 0.0 and settings.metrics is True
    assert settings.max_rows == 10_000


def test_environment_is_used_and_arguments_win() -> None:
    env = {
        "MLOPS_MODEL_URI": "pvc://claim/m.onnx",
        "MLOPS_MODEL_SHA256": "sha256:" + SHA.upper(),
        "MLOPS_MODEL_NAME": "iris",
        "MLOPS_MODEL_VERSION": "3",
        "MLOPS_TRACK": "canary",
        "MLOPS_PORT": "9000",
        "MLOPS_ADAPTIVE_BATCHING": "true",
        "MLOPS_FAULT_ERROR_RATE": "0.25",
        "MLOPS_INPUT_SCHEMA": json.dumps({"features": [], "task": "regression"}),
        "POD_IP": "10.1.2.3",
    }
    from_env = parse_settings([], env)
    assert from_env.model_uri == "pvc://claim/m.onnx" and from_env.sha256 == SHA
    assert (from_env.model_name, from_env.model_version, from_env.track) == ("iris", "3", "canary")
    assert from_env.port == 9000 and from_env.host == "10.1.2.3"
    assert from_env.batching is True and from_env.fault_error_rate == 0.25
    assert from_env.input_schema == {"features": [], "task": "regression"}
    args = [*BASE, "--track", "stable", "--port", "9100", "--no-batching", "--host", "127.0.0.2"]
    from_args = parse_settings(args, env)
    assert from_args.model_uri == "file:///models/m.onnx" and from_args.track == "stable"
    assert from_args.port == 9100 and from_args.batching is False
    assert from_args.host == "127.0.0.2"


@pytest.mark.parametrize(
    ("extra", "env", "fragment"),
    [
        (["--fault-error-rate", "1.5"], {}, "--fault-error-rate"),
        (["--fault-error-rate", "lots"], {}, "--fault-error-rate"),
        (["--fault-latency", "-1"], {}, "--fault-latency"),
        ([], {"MLOPS_FAULT_LATENCY": "slow"}, "--fault-latency"),
        (["--port", "http"], {}, "--port"),
        ([], {"MLOPS_ADAPTIVE_BATCHING": "maybe"}, "MLOPS_ADAPTIVE_BATCHING"),
        (["--format", "pickle"], {}, "--format"),
        (["--input-schema", "[1]"], {}, "--input-schema"),
        (["--log-level", "loud"], {}, "--log-level"),
    ],
)
def test_invalid_settings_name_the_option(
    extra: list[str], env: dict[str, str], fragment: str
) -> None:
    with pytest.raises(SettingsError, match=fragment):
        parse_settings([*BASE, *extra], env)


def test_sha256_hex() -> None:
    assert stores.sha256_hex(b"abc") == hashlib.sha256(b"abc").hexdigest()


def test_file_store_roundtrip(tmp_path: Path) -> None:
    uri = f"file://{tmp_path}/v1/model.onnx"
    stores.write_bytes(uri, b"onnx")
    assert (tmp_path / "v1" / "model.onnx").read_bytes() == b"onnx"
    assert stores.read_bytes(uri) == b"onnx"
    assert stores.store_for(uri).local_path(uri) == str(tmp_path / "v1" / "model.onnx")
    with pytest.raises(ValueError, match="absolute"):
        stores.FileStore().local_path("file:relative/model.onnx")


def test_pvc_store_resolves_under_the_pvc_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLOPS_PVC_ROOT", str(tmp_path))
    uri = "pvc://models/iris/3/model.onnx"
    stores.write_bytes(uri, b"data")
    assert (tmp_path / "models" / "iris" / "3" / "model.onnx").read_bytes() == b"data"
    assert stores.read_bytes(uri) == b"data"
    monkeypatch.delenv("MLOPS_PVC_ROOT")
    assert stores.PvcStore().local_path(uri) == "/mnt/pvc/models/iris/3/model.onnx"
    for bad in ("pvc://models/../etc/passwd", "pvc://models", "pvc:///x"):
        with pytest.raises(ValueError, match="pvc://"):
            stores.PvcStore().local_path(bad)


def test_s3_and_unknown_schemes() -> None:
    assert stores.store_for("s3://bucket/key").local_path("s3://bucket/key") is None
    with pytest.raises(ValueError, match="bucket and a key"):
        stores.S3Store().read_bytes("s3://bucket")
    with pytest.raises(ValueError, match="ftp://"):
        stores.store_for("ftp://host/model.onnx")
    with pytest.raises(ValueError, match=r"\(none\)"):
        stores.store_for("/plain/path/model.onnx")
