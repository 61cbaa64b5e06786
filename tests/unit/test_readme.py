"""The README's commands name files and commands that exist."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text()


def shell_lines() -> list[str]:
    blocks = re.findall(r"```sh\n(.*?)```", README, flags=re.S)
    indented = re.findall(r"^    ((?:bash|mlops-dev|python|kubectl|kind|docker) .*)$", README,
                          flags=re.M)
    return [line for block in blocks for line in block.splitlines()] + indented


@pytest.mark.parametrize("path", sorted({
    match for line in shell_lines()
    for match in re.findall(r"(?:-f|-k|--config|bash)\s+((?:manifests|crds|hack|kind-config|"
                            r"serving_image|operator)[\w./-]*)", line)
}))
def test_paths_in_readme_commands_exist(path: str) -> None:
    assert (REPO / path.rstrip("/")).exists(), f"README names {path}, which does not exist"


def test_readme_test_command_is_what_ci_runs() -> None:
    ci = (REPO / ".ci" / "run").read_text()
    assert "python -m pytest -q" in README and "python -m pytest -q" in ci
    assert "bash hack/setup.sh" in README and "bash hack/setup.sh" in ci


def test_readme_mentions_every_example() -> None:
    for example in sorted((REPO / "manifests" / "examples").glob("*.yaml")):
        if example.name.startswith(("deployment-iris-gateway", "modelversion-external")):
            continue  # shown inline in the resource reference
        assert f"manifests/examples/{example.name}" in README, example.name
