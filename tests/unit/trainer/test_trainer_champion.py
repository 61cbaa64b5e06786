"""The champion re-scored on the new version's rows, and the data checks against its data:
real training runs through ``main``, the champion loaded as the model server loads it."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from mlops_operator.builders.training import hold_out_evaluation
from mlops_runtime.trainer.sample_data import to_bytes
from mlops_runtime.trainer.sample_loans import generate

from tests.unit.trainer.test_trainer_end_to_end import load_run

TrainerRun = Callable[..., tuple[int, dict[str, Any]]]
LOGREG = {"name": "LogisticRegression", "params": {"max_iter": 1000}}
STUMP = {"name": "DecisionTreeClassifier", "params": {"max_depth": 1}}


@pytest.fixture(scope="module")
def loans() -> pd.DataFrame:
    return generate(rows=1500, seed=7)


def write(frame: pd.DataFrame, path: Path) -> Path:
    path.write_bytes(to_bytes(frame, "csv"))
    return path


def spec_for(path: Path, estimator: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"model": "loans",
            "dataset": {"uri": path.as_uri(), "target": "defaulted", "randomSeed": 7},
            "estimator": estimator, **extra}


def champion_of(message: dict[str, Any], name: str = "loans-v1", fmt: str | None = None,
                sha256: str | None = None) -> str:
    """The reference the operator passes (MLOPS_CHAMPION) for a finished run."""
    fmt = fmt or message["preferredFormat"]
    artifact = message["artifacts"][fmt]
    return json.dumps({"name": name, "metadataUri": message["metadataUri"],
                       "inputSchema": message["inputSchema"],
                       "artifact": {"uri": artifact["uri"], "format": fmt,
                                    "sha256": sha256 or artifact["sha256"]}})


@pytest.fixture(scope="module")
def first(loans: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory,
          ) -> tuple[Path, dict[str, Any]]:
    """loans-v1: LogisticRegression on the generated applications (categories and gaps)."""
    from mlops_runtime.trainer.main import main

    root = tmp_path_factory.mktemp("v1")
    csv = write(loans, root / "loans.csv")
    log = root / "termination-log"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLOPS_TERMINATION_LOG", str(log))
        patch.delenv("MLOPS_CHAMPION", raising=False)
        code = main(["--spec-json", json.dumps(spec_for(csv, LOGREG)),
                     "--output-uri", (root / "out").as_uri()])
    message = json.loads(log.read_text())
    assert code == 0, message
    return csv, message


@pytest.mark.parametrize("fmt", ["onnx", "skops"])
def test_the_same_model_scores_the_same_on_the_same_rows(
        run_trainer: TrainerRun, first: tuple[Path, dict[str, Any]], tmp_path: Path,
        fmt: str) -> None:
    csv, v1 = first
    code, message = run_trainer(spec_for(csv, LOGREG), (tmp_path / "out").as_uri(),
                                "--champion-json", champion_of(v1, fmt=fmt))
    assert code == 0, message
    evaluation = hold_out_evaluation(message)  # as the operator reads it
    assert evaluation["data"] == "hold-out" and evaluation["rows"] == 300  # 20% of 1,500
    assert "metrics" not in message["evaluation"]  # the hold-out's are message["metrics"]
    assert evaluation["metrics"] == message["metrics"]
    champion = evaluation["champion"]
    assert champion["name"] == "loans-v1", champion
    # Strings, booleans and missing values went through the server's decoder unchanged.
    assert champion["metrics"]["accuracy"] == pytest.approx(message["metrics"]["accuracy"])
    assert champion["metrics"]["roc_auc"] == pytest.approx(message["metrics"]["roc_auc"],
                                                           abs=1e-4)
    assert message["dataChecks"] == {"baseline": "loans-v1", "findings": 0}


def test_a_worse_challenger_is_scored_below_the_champion_on_its_own_rows(
        run_trainer: TrainerRun, first: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    csv, v1 = first
    code, message = run_trainer(spec_for(csv, STUMP), (tmp_path / "out").as_uri(),
                                "--champion-json", champion_of(v1))
    assert code == 0, message
    evaluation = hold_out_evaluation(message)  # as the operator reads it
    assert evaluation["metrics"]["roc_auc"] < evaluation["champion"]["metrics"]["roc_auc"] - 0.05


def test_a_champion_that_cannot_be_verified_is_reported_not_fatal(
        run_trainer: TrainerRun, first: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    csv, v1 = first
    code, message = run_trainer(spec_for(csv, LOGREG), (tmp_path / "out").as_uri(),
                                "--champion-json", champion_of(v1, sha256="0" * 64))
    assert code == 0, message
    assert "checksum mismatch" in message["evaluation"]["champion"]["error"]
    assert "metrics" not in message["evaluation"]["champion"]


def test_a_fixed_evaluation_set_scores_both_on_its_rows(
        run_trainer: TrainerRun, first: tuple[Path, dict[str, Any]], loans: pd.DataFrame,
        tmp_path: Path) -> None:
    csv, v1 = first
    held = write(generate(rows=400, seed=99), tmp_path / "evaluation.csv")
    spec = spec_for(csv, STUMP, evaluation={"uri": held.as_uri()})
    code, message = run_trainer(spec, (tmp_path / "out").as_uri(),
                                "--champion-json", champion_of(v1))
    assert code == 0, message
    evaluation = message["evaluation"]
    assert evaluation["data"] == "evaluation" and evaluation["rows"] == 400
    assert evaluation["uri"] == held.as_uri() and len(evaluation["sha256"]) == 64
    assert evaluation["metrics"] != message["metrics"]  # other rows than the hold-out
    assert evaluation["metrics"]["roc_auc"] < evaluation["champion"]["metrics"]["roc_auc"]


def test_a_column_that_changed_type_fails_before_fitting(
        run_trainer: TrainerRun, first: tuple[Path, dict[str, Any]], loans: pd.DataFrame,
        tmp_path: Path) -> None:
    _, v1 = first
    changed = loans.copy()
    changed["credit_score"] = pd.cut(changed["credit_score"], 3,
                                     labels=["low", "mid", "high"]).astype(str)
    csv = write(changed, tmp_path / "loans.csv")
    code, message = run_trainer(spec_for(csv, LOGREG, dataChecks={}),
                                (tmp_path / "out").as_uri(), "--champion-json", champion_of(v1))
    assert code == 1 and message["reason"] == "DataCheckFailed", message
    assert "'credit_score' changed type: numeric in loans-v1, categorical now" in \
        message["message"]
    assert not (tmp_path / "out").exists()  # nothing was fitted or written


def test_without_data_checks_a_moved_column_is_a_warning(
        run_trainer: TrainerRun, first: tuple[Path, dict[str, Any]], loans: pd.DataFrame,
        tmp_path: Path) -> None:
    _, v1 = first
    moved = loans.copy()
    moved.loc[moved.index[: len(moved) // 2], "region"] = None  # half the regions missing
    csv = write(moved.drop(columns=["loan_purpose"]), tmp_path / "loans.csv")
    code, message = run_trainer(spec_for(csv, LOGREG), (tmp_path / "out").as_uri(),
                                "--champion-json", champion_of(v1))
    assert code == 0, message
    checks = message["dataChecks"]
    assert checks["baseline"] == "loans-v1" and checks["findings"] == 2
    assert any("'loan_purpose' is in loans-v1's data but not in this dataset" in w
               for w in checks["warnings"])
    assert any("'region'" in w and "missing" in w for w in checks["warnings"])
    metadata = load_run(message)
    assert {f["check"] for f in metadata["dataChecks"]["findings"]} == {"columnMissing",
                                                                        "nullShare"}
    assert metadata["warnings"][:2] == checks["warnings"][:2]
    # The champion takes loan_purpose, which these rows lack: said, not a crash.
    assert "'loan_purpose'" in message["evaluation"]["champion"]["error"]


def test_the_profile_is_recorded_for_the_next_version(
        first: tuple[Path, dict[str, Any]]) -> None:
    metadata = load_run(first[1])
    profile = metadata["dataProfile"]
    assert profile["rows"] == 1500 and profile["target"] == "defaulted"
    assert profile["columns"]["region"]["type"] == "categorical"
    assert profile["columns"]["applicant_age"]["nullShare"] > 0
