"""The CRDs' status schemas and what the operator writes agree: a phase the code can set
but the schema refuses would fail every status write, and a nested key the schema does not
list would be pruned by the API server, so the next reconcile would see a change and write
again, for ever. (`x-kubernetes-preserve-unknown-fields` stays on the status itself only,
where kopf may keep its own records.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from mlops_operator.domain import conditions, gates, versions
from mlops_operator.domain.retrain import RetrainState
from mlops_operator.domain.rollout.status import (
    AnalysisState,
    FiringAlert,
    HistoryEntry,
    PromotionStage,
    RolloutStatus,
)
from mlops_operator.domain.vocabulary import RolloutPhase, TrainingPhase, VersionPhase

REPO = Path(__file__).resolve().parents[2]
KINDS = ("trainingjob.yaml", "modelversion.yaml", "deployment.yaml")


def status_schema(crd: str) -> dict[str, Any]:
    document = yaml.safe_load((REPO / "crds" / crd).read_text())
    return document["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"]


def fields(schema: dict[str, Any]) -> set[str]:
    return set(schema["properties"])


@pytest.mark.parametrize(("crd", "phases"), [
    ("trainingjob.yaml", TrainingPhase), ("modelversion.yaml", VersionPhase),
    ("deployment.yaml", RolloutPhase)])
def test_the_status_phase_enum_is_the_codes(crd: str, phases: Any) -> None:
    assert sorted(status_schema(crd)["properties"]["phase"]["enum"]) == sorted(phases)


@pytest.mark.parametrize("crd", KINDS)
def test_every_kind_documents_conditions_and_observed_generation(crd: str) -> None:
    status = status_schema(crd)
    assert {"phase", "observedGeneration", "conditions", "message"} <= fields(status)
    assert all(field.get("description") or field.get("type") == "array"
               for name, field in status["properties"].items() if name != "conditions")
    condition = conditions.set_condition(
        [], conditions.make_condition("Ready", True, "Ok", "fine", observed_generation=3),
        "2026-12-04T00:00:00Z")[0]
    assert set(condition) <= fields(status["properties"]["conditions"]["items"])


def test_deployment_status_lists_every_field_the_rollout_writes() -> None:
    status = status_schema("deployment.yaml")
    written = RolloutStatus(
        phase=RolloutPhase.PROGRESSING, promotion=PromotionStage.BAKING,
        analysis=AnalysisState(step_index=1), history=(HistoryEntry("m-v2", "Promoted", "t"),),
        alerts=(FiringAlert("HighErrorRate", "x", "t", "t"),)).to_dict()
    assert set(written) | {"conditions", "observedGeneration", "weights", "effectiveWeight",
                           "targetVersion", "readyReplicas"} == fields(status)
    assert sorted(status["properties"]["promotion"]["enum"]) == sorted(PromotionStage)
    assert set(written["history"][0]) == fields(status["properties"]["history"]["items"])
    assert set(written["firingAlerts"][0]) == fields(
        status["properties"]["firingAlerts"]["items"])


def test_training_job_status_lists_the_retrain_loops_fields() -> None:
    retrain = status_schema("trainingjob.yaml")["properties"]["retrain"]
    assert set(RetrainState().to_dict()) | {"active", "nextScheduleTime"} == fields(retrain)


def test_model_version_gate_lines_fit_the_schema() -> None:
    line = gates.evaluate_gate(
        {"metrics": [{"name": "accuracy", "min": 0.9}],
         "maxRegression": {"metric": "accuracy", "tolerance": 0.01},
         "fairness": {"sensitiveFeatures": ["sex"],
                      "limits": [{"metric": "demographic_parity_difference", "max": 0.1}]}},
        {"accuracy": 0.95}, None,
        {"data": "hold-out", "rows": 30, "metrics": {"accuracy": 0.95},
         "champion": {"name": "m-v1", "metrics": {"accuracy": 0.97}}},
        {"metrics": {"demographic_parity_difference": 0.2},
         "extremes": {"selectionRate": ["sex=f", "sex=m"]}}).reason_dicts()
    items = status_schema("modelversion.yaml")["properties"]["gate"]["items"]
    assert {key for entry in line for key in entry} == fields(items)


def test_model_version_model_card_fits_the_schema() -> None:
    written = versions.card_result({"ok": True, "uri": "pvc://c/m.md", "sha256": "a",
                                    "bytes": 1}, False, "j")
    assert written is not None
    schema = status_schema("modelversion.yaml")["properties"]["modelCard"]
    assert set(written) == fields(schema)
