"""The model card: one trained version's record rendered as Markdown, by the same
``mlops-runtime model-card`` a Job runs, and what it says when parts are missing."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from mlops_operator import builders
from mlops_runtime import stores
from mlops_runtime.card import main as card_main
from mlops_runtime.card.render import render
from mlops_runtime.trainer.sample_credit import generate
from mlops_runtime.trainer.sample_data import to_bytes

TrainerRun = Callable[..., tuple[int, dict[str, Any]]]


@pytest.fixture(scope="module")
def credit_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("data") / "credit.csv"
    path.write_bytes(to_bytes(generate(rows=1200), "csv"))
    return path


def trained(run_trainer: TrainerRun, data: Path, out: Path) -> dict[str, Any]:
    """A ModelVersion as the operator records it from a real training, with a verdict."""
    spec = {"model": "credit", "dataset": {"uri": data.as_uri(), "target": "approved"},
            "estimator": {"name": "LogisticRegression", "params": {"max_iter": 1000}},
            "crossValidation": {"folds": 3},
            "qualityGate": {"fairness": {"sensitiveFeatures": ["sex"], "limits": [
                {"metric": "demographic_parity_difference", "max": 0.1}]}}}
    code, result = run_trainer(spec, out.as_uri())
    assert code == 0, result
    job = {"apiVersion": "mlops.dev/v1alpha1", "kind": "TrainingJob",
           "metadata": {"name": "credit-lr", "namespace": "risk", "uid": "u-1",
                        "annotations": {"mlops.dev/owner": "risk-team",
                                        "mlops.dev/intended-use": "pre-screening only"}},
           "spec": {"model": "credit"}}
    version = builders.build_model_version(job, "credit-v1", 1, result, "runtime:1")
    version["metadata"]["namespace"] = "risk"
    version["status"] = {"phase": "Rejected", "gate": [{
        "metric": "demographic_parity_difference", "value": 0.2, "threshold": 0.1,
        "passed": False, "message": "demographic_parity_difference = 0.2 above max 0.1"}]}
    return version


def test_the_card_of_a_trained_version_has_every_section_and_its_pictures(
        run_trainer: TrainerRun, credit_csv: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    version = trained(run_trainer, credit_csv, tmp_path / "out")
    uri = (tmp_path / "out" / "model-card.md").as_uri()
    log = tmp_path / "card-termination"
    monkeypatch.setenv("MLOPS_TERMINATION_LOG", str(log))
    monkeypatch.setenv("MLOPS_MODEL_VERSION", json.dumps(version))
    monkeypatch.setenv("MLOPS_OUTPUT_URI", uri)
    assert card_main.main([]) == 0
    result = json.loads(log.read_text())
    text = stores.read_bytes(uri).decode()
    assert result == {"ok": True, "uri": uri, "sha256": stores.sha256_hex(text.encode()),
                      "bytes": len(text.encode())}
    for heading in ("# Model card: credit-v1", "## Intended use and owner", "## Verdict",
                    "## Data", "## Training", "## Metrics", "## Importance", "## Fairness",
                    "## Artifact and lineage"):
        assert heading in text
    assert "- Owner: risk-team" in text and "- Intended use: pre-screening only" in text
    assert "- Phase: **Rejected**" in text and "| **no** |" in text
    assert "`LogisticRegression` with `{\"max_iter\": 1000, \"random_state\": 42}`" in text
    assert version["spec"]["dataset"]["sha256"] in text
    assert "Split: 960 training rows, 240 held out" in text  # from metadata.json
    assert "| sex=female |" in text and "demographic_parity_difference" in text
    importance = text.split("## Importance")[1].split("## Fairness")[0]
    assert "| credit_score |" in importance  # from metadata.json when not on the version
    for picture in ("confusion-matrix", "roc", "importance", "fairness"):
        assert f"![{picture}](plots/{picture}.png)" in text  # relative: beside the card
        assert (tmp_path / "out" / "plots" / f"{picture}.png").exists()
    assert "± " in text  # cross-validation beside the hold-out


def test_a_registered_version_without_metadata_still_gets_a_card_that_says_so() -> None:
    version = {"metadata": {"name": "fraud-v1", "namespace": "ml"},
               "spec": {"model": "fraud", "version": 1, "metadataUri": "file:///nowhere/m.json",
                        "artifact": {"uri": "pvc://c/fraud.onnx", "sha256": "a" * 64,
                                     "format": "onnx"},
                        "lineage": {"registeredBy": "risk-team"}},
               "status": {"phase": "Approved"}}
    text = render(version, None, "pvc://c/fraud-v1.model-card.md",
                  "The trainer's record could not be read")
    assert "> The trainer's record could not be read" in text
    assert "- Owner: _not stated_" in text and "registered by hand (`risk-team`)" in text
    assert "No metrics were recorded." in text
    assert "Not measured: the quality gate had no `fairness` block." in text


def test_bad_input_is_a_clear_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = tmp_path / "termination"
    monkeypatch.setenv("MLOPS_TERMINATION_LOG", str(log))
    monkeypatch.setenv("MLOPS_MODEL_VERSION", "{not json")
    monkeypatch.setenv("MLOPS_OUTPUT_URI", (tmp_path / "card.md").as_uri())
    assert card_main.main([]) == 1
    assert json.loads(log.read_text())["reason"] == "InvalidInput"
