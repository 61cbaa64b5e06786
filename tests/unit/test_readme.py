"""The README's and the other documents' commands name files and commands that exist."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text()
#: The documents whose commands people copy: the README, the contributor's guide, docs/.
DOCUMENTS = [REPO / "README.md", REPO / "DEVELOPMENT.md", *sorted((REPO / "docs").glob("*.md"))]
COMMANDS = ("bash", "mlops-dev", "python", "pytest", "kubectl", "kind", "docker", "ruff",
            "lint-imports")
#: Where a command's path argument may point: the repository's own folders and files.
PATH = re.compile(r"(?:^|(?<=[\s=(\"']))((?:dev|manifests|crds|requirements|serving_image|"
                  r"operator|telemetry|bench|tests|\.ci)/[\w./-]*|kind-config\.yaml|Dockerfile)")


def _relative(document: Path) -> str:
    return document.relative_to(REPO).as_posix()


def shell_lines(text: str) -> list[str]:
    """Lines of ```sh blocks, indented command lines, and inline `command ...` spans."""
    blocks = re.findall(r"```sh\n(.*?)```", text, flags=re.S)
    starts = "|".join(re.escape(c) for c in COMMANDS)
    indented = re.findall(rf"^    ((?:{starts}) .*)$", text, flags=re.M)
    inline = re.findall(rf"`((?:{starts}) [^`\n]*)`", text)
    return [line for block in blocks for line in block.splitlines()] + indented + inline


def named_paths() -> list[tuple[str, str]]:
    found = set()
    for document in DOCUMENTS:
        for line in shell_lines(document.read_text()):
            for path in PATH.findall(line):
                if "$" not in path and "<" not in path:
                    found.add((_relative(document), path.rstrip(".,;:")))
    return sorted(found)


def test_the_documents_exist_and_have_commands() -> None:
    assert {"README.md", "DEVELOPMENT.md"} <= {_relative(d) for d in DOCUMENTS}
    assert all(shell_lines(d.read_text()) for d in DOCUMENTS[:2])
    assert any(path == "dev/setup.sh" for _, path in named_paths())


@pytest.mark.parametrize(("document", "path"), named_paths())
def test_paths_in_commands_exist(document: str, path: str) -> None:
    assert (REPO / path.rstrip("/")).exists(), f"{document} names {path}, which does not exist"


def docker_builds() -> list[tuple[str, str]]:
    return sorted({(_relative(d), line) for d in DOCUMENTS for line in shell_lines(d.read_text())
                   if line.startswith("docker build ") and " -t " in line})


@pytest.mark.parametrize(("document", "line"), docker_builds())
def test_docker_builds_name_a_dockerfile_and_target_that_exist(document: str, line: str) -> None:
    given = re.search(r"(?:-f|--file)\s+(\S+)", line)
    dockerfile = REPO / (given.group(1) if given else "Dockerfile")
    assert dockerfile.exists(), f"{document}: {line}: no {dockerfile.relative_to(REPO)}"
    target = re.search(r"--target\s+(\S+)", line)
    if target:
        stages = re.findall(r"^FROM\s+\S+\s+AS\s+(\S+)", dockerfile.read_text(), re.M | re.I)
        assert target.group(1) in stages, f"{document}: {line}: no stage {target.group(1)}"


def test_docker_builds_are_shown() -> None:
    assert any(document == "README.md" for document, _ in docker_builds())


def test_readme_test_command_is_what_ci_runs() -> None:
    ci = (REPO / ".ci" / "run").read_text()
    assert "python -m pytest -q" in README and "python -m pytest -q" in ci
    assert "bash dev/setup.sh" in README and "bash dev/setup.sh" in ci


def test_development_guide_shows_every_check_ci_runs() -> None:
    guide = (REPO / "DEVELOPMENT.md").read_text()
    ci = (REPO / ".ci" / "run").read_text()
    commands = [line.strip() for line in ci.splitlines()
                if line.strip() and not line.startswith(("#", "set ", "cd ", "source "))]
    assert "python -m pytest -q" in commands
    for command in commands:
        assert command in guide, f"CI runs {command!r}; DEVELOPMENT.md does not say so"
    assert 'pytest -m "not cluster"' in guide and 'pytest -m "not cluster"' in README


def test_readme_mentions_every_example() -> None:
    for example in sorted((REPO / "manifests" / "examples").glob("*.yaml")):
        if example.name.startswith(("deployment-iris-gateway", "modelversion-external")):
            continue  # shown inline in the resource reference
        assert f"manifests/examples/{example.name}" in README, example.name


def _anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to dashes."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def links() -> list[tuple[str, str]]:
    return sorted({(_relative(d), target) for d in DOCUMENTS
                   for target in re.findall(r"\]\(([^)\s]+)\)", d.read_text())
                   if not re.match(r"[a-z]+://", target)})


@pytest.mark.parametrize(("document", "target"), links())
def test_links_between_documents_resolve(document: str, target: str) -> None:
    path, _, anchor = target.partition("#")
    linked = (REPO / document).parent / path if path else REPO / document
    assert linked.exists(), f"{document} links to {target}, which does not exist"
    if anchor:
        headings = re.findall(r"^#+ (.+)$", linked.read_text(), flags=re.M)
        assert anchor in {_anchor(h) for h in headings}, f"{document}: no #{anchor} in {path}"
