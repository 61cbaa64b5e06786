"""``qualityGate.fairness`` in the trainer: per-group metrics of the hold-out, the
sensitive column kept out of the model, reweighing, and the errors that name the field.
Run through ``main`` as the pod runs it, on the shipped ``credit`` data (past decisions
biased against women)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from mlops_runtime.trainer.errors import TrainerError
from mlops_runtime.trainer.fairness import (
    FairnessSpec,
    group_labels,
    parse_fairness,
    reweighing_weights,
)
from mlops_runtime.trainer.sample_credit import generate
from mlops_runtime.trainer.sample_data import to_bytes

TrainerRun = Callable[..., tuple[int, dict[str, Any]]]
LIMITS = [{"metric": "demographic_parity_difference", "max": 0.1}]


@pytest.fixture(scope="module")
def credit_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("data") / "credit.csv"
    path.write_bytes(to_bytes(generate(), "csv"))
    return path


def spec_for(path: Path, fairness: dict[str, Any], estimator: str = "LogisticRegression",
             **dataset: Any) -> dict[str, Any]:
    params = {"max_iter": 1000} if estimator == "LogisticRegression" else {}
    return {"model": "credit",
            "dataset": {"uri": path.as_uri(), "target": "approved", "testFraction": 0.3,
                        "randomSeed": 7, **dataset},
            "estimator": {"name": estimator, "params": params},
            "qualityGate": {"fairness": {"limits": LIMITS, **fairness}}}


def test_a_model_fed_the_sensitive_column_treats_the_groups_very_differently(
        run_trainer: TrainerRun, credit_csv: Path, tmp_path: Path) -> None:
    code, message = run_trainer(spec_for(credit_csv, {"sensitiveFeatures": ["sex"],
                                                      "excludeFromInputs": False}),
                                (tmp_path / "out").as_uri())
    assert code == 0, message
    fair = message["fairness"]
    assert "sex" in {f["name"] for f in message["inputSchema"]["features"]}
    groups = fair["groups"]
    assert set(groups) == {"sex=female", "sex=male"}
    assert sum(g["count"] for g in groups.values()) == fair["rows"] == 900
    assert groups["sex=male"]["selectionRate"] - groups["sex=female"]["selectionRate"] == \
        pytest.approx(fair["metrics"]["demographic_parity_difference"], abs=1e-5)
    assert fair["metrics"]["demographic_parity_difference"] > 0.25
    assert fair["extremes"]["selectionRate"] == ["sex=female", "sex=male"]
    assert fair["positiveLabel"] == 1 and fair["smallGroups"] == []


def test_without_the_column_and_with_reweighing_the_gap_closes(
        run_trainer: TrainerRun, credit_csv: Path, tmp_path: Path) -> None:
    excluded = run_trainer(spec_for(credit_csv, {"sensitiveFeatures": ["sex"]}),
                           (tmp_path / "a").as_uri())[1]
    code, message = run_trainer(spec_for(credit_csv, {"sensitiveFeatures": ["sex"],
                                                      "mitigation": "reweighing"}),
                                (tmp_path / "b").as_uri())
    assert code == 0, message
    assert "sex" not in {f["name"] for f in message["inputSchema"]["features"]}
    gap = message["fairness"]["metrics"]["demographic_parity_difference"]
    # Dropping the column alone leaves the gap over the example's limit (the proxies carry
    # the bias); reweighing brings it under.
    assert gap < 0.1 < excluded["fairness"]["metrics"]["demographic_parity_difference"]
    assert message["fairness"]["mitigation"] == "reweighing"
    assert message["metrics"]["roc_auc"] > 0.8  # still a useful model


def test_groups_smaller_than_the_minimum_are_reported(
        run_trainer: TrainerRun, credit_csv: Path, tmp_path: Path) -> None:
    code, message = run_trainer(spec_for(credit_csv, {"sensitiveFeatures": ["sex", "purpose"],
                                                      "minGroupSize": 100}),
                                (tmp_path / "out").as_uri())
    assert code == 0, message
    fair = message["fairness"]
    assert len(fair["groups"]) == 10 and "sex=female,purpose=car" in fair["groups"]
    assert fair["smallGroups"] and all(fair["groups"][g]["count"] < 100
                                       for g in fair["smallGroups"])


@pytest.mark.parametrize("fairness,estimator,dataset,reason,fragment", [
    ({"sensitiveFeatures": ["gender"]}, "LogisticRegression", {}, "MissingFeature",
     "qualityGate.fairness.sensitiveFeatures[0] 'gender' is not a column of the dataset"),
    ({"sensitiveFeatures": ["sex"]}, "LogisticRegression", {"features": ["sex", "age"]},
     "InvalidParams", "sensitiveFeatures[0] 'sex' is kept out of the model's inputs"),
    ({"sensitiveFeatures": ["sex"], "positiveLabel": "yes"}, "LogisticRegression", {},
     "InvalidParams", "qualityGate.fairness.positiveLabel 'yes' is not a class"),
    ({"sensitiveFeatures": ["sex"], "mitigation": "reweighing"}, "KNeighborsClassifier", {},
     "InvalidParams", "KNeighborsClassifier cannot take weights"),
    ({"sensitiveFeatures": ["sex"]}, "Ridge", {}, "InvalidParams", "needs a classifier"),
])
def test_bad_fairness_specs_fail_naming_the_field(
        run_trainer: TrainerRun, credit_csv: Path, tmp_path: Path, fairness: dict[str, Any],
        estimator: str, dataset: dict[str, Any], reason: str, fragment: str) -> None:
    code, message = run_trainer(spec_for(credit_csv, fairness, estimator, **dataset),
                                (tmp_path / "out").as_uri())
    assert code == 1 and message["reason"] == reason, message
    assert fragment in message["message"]


def test_a_multiclass_target_is_refused(run_trainer: TrainerRun, tmp_path: Path) -> None:
    spec = {"model": "iris", "dataset": {"uri": "sklearn://iris"},
            "estimator": {"name": "LogisticRegression"},
            "qualityGate": {"fairness": {"sensitiveFeatures": ["sepal length (cm)"],
                                         "excludeFromInputs": False, "limits": LIMITS}}}
    code, message = run_trainer(spec, (tmp_path / "out").as_uri())
    assert code == 1 and "needs a binary classifier; the target has 3 classes" in \
        message["message"]


@pytest.mark.parametrize("raw,fragment", [
    ({"fairness": "x"}, "must be an object"),
    ({"fairness": {"sensitiveFeatures": []}}, "must list 1 to 3 distinct column names"),
    ({"fairness": {"sensitiveFeatures": ["a", "a"]}}, "must list 1 to 3 distinct"),
    ({"fairness": {"sensitiveFeatures": ["a"], "minGroupSize": 0}}, "minGroupSize must be"),
    ({"fairness": {"sensitiveFeatures": ["a"], "mitigation": "magic"}}, "mitigation must be"),
    ({"fairness": {"sensitiveFeatures": ["a"], "excludeFromInputs": "yes"}}, "true or false"),
    ({"fairness": {"sensitiveFeatures": ["a"], "groups": 1}}, "groups is not a known field"),
])
def test_parse_names_the_field(raw: dict[str, Any], fragment: str) -> None:
    with pytest.raises(TrainerError, match=fragment):
        parse_fairness(raw)


def test_parse_defaults() -> None:
    assert parse_fairness(None) is None and parse_fairness({"metrics": []}) is None
    assert parse_fairness({"fairness": {"sensitiveFeatures": ["sex"]}}) == FairnessSpec(("sex",))


def test_reweighing_makes_the_label_independent_of_the_group() -> None:
    groups = np.array(["a"] * 60 + ["b"] * 40, dtype=object)
    labels = np.array([1] * 45 + [0] * 15 + [1] * 10 + [0] * 30)
    weights = reweighing_weights(groups, labels)
    table = pd.DataFrame({"g": groups, "y": labels, "w": weights})
    rates = table.groupby("g").apply(lambda t: (t.w * t.y).sum() / t.w.sum(),
                                     include_groups=False)
    assert rates["a"] == pytest.approx(rates["b"]) == pytest.approx(labels.mean())
    assert weights.sum() == pytest.approx(len(labels))  # the data's size is unchanged


def test_group_labels_spell_missing_values_and_combine_columns() -> None:
    frame = pd.DataFrame({"sex": ["f", None, "m"], "region": ["n", "s", "s"]})
    spec = FairnessSpec(("sex", "region"))
    assert list(group_labels(frame, spec, np.array([0, 1, 2]))) == [
        "sex=f,region=n", "sex=(missing),region=s", "sex=m,region=s"]
