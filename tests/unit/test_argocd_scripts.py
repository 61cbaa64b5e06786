"""Argo CD's health checks and actions for the three kinds, run on their fixtures the way
argo-cd's own resource_customizations tests run (health_test.yaml, action_test.yaml). The
fixtures are objects as the operator stored them on the local cluster (trimmed of server
metadata); ``tests/cluster/test_status_for_tools.py`` runs the same scripts on live ones."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import pytest
import yaml

from tests import argocd
from tests.conftest import REPO

PHASES = {
    "Deployment": {"Progressing", "Paused", "Healthy", "Degraded", "RolledBack"},
    "TrainingJob": {"Pending", "Succeeded", "Failed"},  # Running reads as Pending does
    "ModelVersion": {"Verifying", "Approved", "Rejected", "Invalid"},
}


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


@pytest.mark.parametrize("kind", argocd.KINDS)
def test_health_matches_every_fixture(kind: str) -> None:
    folder = argocd.CUSTOMIZATIONS / kind
    for case in load(folder / "health_test.yaml")["tests"]:
        obj = load(folder / case["inputPath"])
        assert argocd.health(kind, obj) == case["healthStatus"], case["inputPath"]


@pytest.mark.parametrize("kind", argocd.KINDS)
def test_the_fixtures_cover_every_phase_and_each_is_used(kind: str) -> None:
    folder = argocd.CUSTOMIZATIONS / kind
    used = {case["inputPath"] for case in load(folder / "health_test.yaml")["tests"]}
    assert used == {str(p.relative_to(folder)) for p in (folder / "testdata").glob("*.yaml")}
    phases = {(load(folder / path).get("status") or {}).get("phase") for path in used}
    assert PHASES[kind] <= phases


def test_an_object_whose_spec_the_operator_has_not_seen_is_progressing() -> None:
    for kind in argocd.KINDS:
        obj = {"metadata": {"generation": 2},
               "status": {"observedGeneration": 1, "phase": "Healthy",
                          "conditions": [{"type": "Ready", "status": "True", "message": "ok"}]}}
        assert argocd.health(kind, obj)["status"] == "Progressing", kind
        assert argocd.health(kind, {"metadata": {"generation": 1}})["status"] == "Progressing"


def test_deployment_actions_match_their_fixtures() -> None:
    folder = argocd.CUSTOMIZATIONS / "Deployment" / "actions"
    tests = load(folder / "action_test.yaml")
    for case in tests["discoveryTests"]:
        expected = {a["name"]: a["disabled"] for a in case["result"]}
        assert argocd.discover("Deployment", load(folder / case["inputPath"])) == expected
    for case in tests["actionTests"]:
        result = argocd.action("Deployment", case["action"], load(folder / case["inputPath"]))
        assert result["spec"] == load(folder / case["expectedOutputPath"])["spec"], case
    names = {p.parent.name for p in folder.glob("*/action.lua")}
    assert {case["action"] for case in tests["actionTests"]} == names


def test_the_generated_actions_config_is_current() -> None:
    assert argocd.ACTIONS_CONFIG.read_text() == argocd.actions_config(), (
        "run `python -m tests.argocd`")


def test_the_component_merges_every_script_into_argocd_cm() -> None:
    """Rendered by kustomize (kubectl's) over an Argo CD install's argocd-cm."""
    with tempfile.TemporaryDirectory() as directory:
        overlay = Path(directory)
        (overlay / "argocd-cm.yaml").write_text(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: argocd-cm}\n"
            "data: {url: 'https://argocd.example.com'}\n")
        (overlay / "kustomization.yaml").write_text(
            "resources: [argocd-cm.yaml]\n"
            f"components: [{os.path.relpath(REPO / 'manifests' / 'argocd', overlay)}]\n")
        rendered = subprocess.run(["kubectl", "kustomize", str(overlay)], check=True,
                                  capture_output=True, text=True, timeout=60).stdout
    data = yaml.safe_load(rendered)["data"]
    assert data["url"] == "https://argocd.example.com"  # the install's own settings stay
    for kind in argocd.KINDS:
        key = f"resource.customizations.health.mlops.dev_{kind}"
        assert data[key] == (argocd.CUSTOMIZATIONS / kind / "health.lua").read_text()
    actions = yaml.safe_load(data["resource.customizations.actions.mlops.dev_Deployment"])
    assert [d["name"] for d in actions["definitions"]] == ["abort", "pause", "promote",
                                                           "resume"]
