"""The images' supply chain, checked from their definitions (no container engine here):
a base pinned by digest, dependencies only from a hashed lock that satisfies
pyproject.toml, wheels only, a non-root user, and an SBOM built into the image."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO = Path(__file__).resolve().parents[2]
DOCKERFILES = [REPO / "serving_image" / "Dockerfile", REPO / "operator" / "Dockerfile"]
LOCK = REPO / "requirements" / "image.lock"


def locked(path: Path) -> dict[str, tuple[Version, list[str]]]:
    """name -> (version, hashes) for every requirement in a pip-compile lock."""
    entries: dict[str, tuple[Version, list[str]]] = {}
    current = None
    for line in path.read_text().splitlines():
        pin = re.match(r"^([A-Za-z0-9_.\-\[\]]+)==([^ \\]+)", line)
        if pin:
            current = canonicalize_name(pin.group(1).split("[")[0])
            entries[current] = (Version(pin.group(2)), [])
        elif current and (digest := re.search(r"--hash=sha256:([a-f0-9]{64})", line)):
            entries[current][1].append(digest.group(1))
    return entries


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_every_base_image_is_pinned_by_digest(dockerfile: Path) -> None:
    """Each FROM, with its build argument's default filled in, names a digest."""
    text = dockerfile.read_text()
    defaults = dict(re.findall(r"^ARG\s+(\w+)=(\S+)", text, re.MULTILINE))
    bases = [re.sub(r"\$\{(\w+)\}", lambda m: defaults.get(m.group(1), ""), base)
             for base in re.findall(r"^FROM\s+(\S+)", text, re.MULTILINE)]
    assert bases and all(re.search(r"@sha256:[a-f0-9]{64}$", b) for b in bases), bases


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_packages_come_only_from_hashed_locks_as_wheels(dockerfile: Path) -> None:
    text = dockerfile.read_text().replace("\\\n", " ")
    installs = re.findall(r"pip install ([^&\n]+)", text)
    assert installs
    for install in installs:
        if "--no-deps" in install:  # the project itself, its dependencies locked
            assert "--no-build-isolation" in install, install
            continue
        assert "--require-hashes" in install and "--only-binary :all:" in install, install
        assert re.search(r"-r requirements/\w+\.lock", install), install
    assert "--upgrade pip" not in text


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_the_final_stage_runs_as_non_root_with_an_sbom_and_no_compilers(dockerfile: Path) -> None:
    stages = re.split(r"^FROM ", dockerfile.read_text(), flags=re.MULTILINE)
    final = stages[-1]
    user = re.search(r"^USER (\d+):(\d+)$", final, re.MULTILINE)
    assert user and int(user.group(1)) != 0 and int(user.group(2)) != 0
    assert not re.search(r"apt-get install|gcc|build-essential|pip install", final)
    assert "cyclonedx-py environment" in stages[-2]
    assert "/opt/project/share/sbom/" in stages[-2]
    # The dependencies and the project in separate layers: a change to the project's
    # sources leaves the large dependency layer as it was.
    assert "COPY --from=build /opt/venv /opt/venv\nCOPY --from=build /opt/project" in final


def test_the_lock_satisfies_pyproject_and_hashes_everything() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    wanted = [Requirement(r) for r in project["dependencies"]]
    wanted += [Requirement(r) for r in project["optional-dependencies"]["s3"]]
    entries = locked(LOCK)
    for requirement in wanted:
        name = canonicalize_name(requirement.name)
        assert name in entries, f"{name} is not in {LOCK.name}: regenerate it"
        version, _ = entries[name]
        assert requirement.specifier.contains(version, prereleases=True), (name, version)
    assert {"setuptools", "wheel"} <= set(entries)  # to build the project without isolation
    for path in (LOCK, REPO / "requirements" / "sbom.lock"):
        unhashed = [name for name, (_, hashes) in locked(path).items() if not hashes]
        assert unhashed == [], (path.name, unhashed)
    assert "cyclonedx-bom" in locked(REPO / "requirements" / "sbom.lock")
