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
DOCKERFILE = REPO / "Dockerfile"
TARGETS = ("runtime", "operator")
#: What each image must not carry: the other side's package, the dev tools, and the
#: other side's heavy dependencies.
FOREIGN = {
    "runtime": {"packages": ("mlops_operator", "mlops_dev"),
                "dependencies": ("kopf", "kubernetes")},
    "operator": {"packages": ("mlops_runtime", "mlops_dev"),
                 "dependencies": ("scikit-learn", "onnxruntime", "pandas", "numpy", "skl2onnx")},
}


def lock_of(target: str) -> Path:
    return REPO / "requirements" / f"{target}.lock"


def stages() -> dict[str, str]:
    """Each named stage of the Dockerfile and its text (FROM line included)."""
    parts = re.split(r"^(?=FROM )", DOCKERFILE.read_text(), flags=re.MULTILINE)[1:]
    return {re.match(r"FROM \S+ AS (\S+)", part).group(1): part for part in parts}


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


def test_every_base_image_is_pinned_by_digest() -> None:
    """Each FROM, with its build argument's default filled in, names a digest or a stage."""
    text = DOCKERFILE.read_text()
    defaults = dict(re.findall(r"^ARG\s+(\w+)=(\S+)", text, re.MULTILINE))
    bases = [re.sub(r"\$\{(\w+)\}", lambda m: defaults.get(m.group(1), ""), base)
             for base in re.findall(r"^FROM\s+(\S+)", text, re.MULTILINE)]
    external = [b for b in bases if b not in stages()]
    assert external and all(re.search(r"@sha256:[a-f0-9]{64}$", b) for b in external), bases
    assert set(TARGETS) <= set(stages())


def test_packages_come_only_from_hashed_locks_as_wheels() -> None:
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    installs = re.findall(r"pip install ([^&\n]+)", text)
    assert len(installs) == 5  # the SBOM tool, then each target's lock and project
    for install in installs:
        if "--no-deps" in install:  # the project itself, its dependencies locked
            assert "--no-build-isolation" in install, install
            continue
        assert "--require-hashes" in install and "--only-binary :all:" in install, install
        assert re.search(r"-r requirements/\w+\.lock", install), install
    assert "--upgrade pip" not in text


@pytest.mark.parametrize("target", TARGETS)
def test_each_build_installs_its_own_lock_and_package_only(target: str) -> None:
    build = stages()[f"{target}-build"]
    assert f"-r requirements/{target}.lock" in build
    copied = " ".join(re.findall(r"^COPY (.+)$", build, re.MULTILINE))
    assert copied and not any(package in copied for package in FOREIGN[target]["packages"])
    assert "--from" not in copied


@pytest.mark.parametrize("target", TARGETS)
def test_the_final_stage_runs_as_non_root_with_an_sbom_and_no_compilers(target: str) -> None:
    final, build = stages()[target], stages()[f"{target}-build"]
    user = re.search(r"^USER (\d+):(\d+)$", final, re.MULTILINE)
    assert user and int(user.group(1)) != 0 and int(user.group(2)) != 0
    assert not re.search(r"apt-get install|gcc|build-essential|pip install", final)
    assert "cyclonedx-py environment" in build and "/opt/project/share/sbom/" in build
    # The dependencies and the project in separate layers: a change to the project's
    # sources leaves the large dependency layer as it was.
    assert (f"COPY --from={target}-build /opt/venv /opt/venv\n"
            f"COPY --from={target}-build /opt/project") in final


@pytest.mark.parametrize("target", TARGETS)
def test_each_lock_satisfies_pyproject_and_hashes_everything(target: str) -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    wanted = [Requirement(r) for r in project["dependencies"]]
    wanted += [Requirement(r) for r in project["optional-dependencies"][target]]
    entries = locked(lock_of(target))
    for requirement in wanted:
        name = canonicalize_name(requirement.name)
        assert name in entries, f"{name} is not in {target}.lock: regenerate it"
        version, _ = entries[name]
        assert requirement.specifier.contains(version, prereleases=True), (name, version)
    assert {"setuptools", "wheel"} <= set(entries)  # to build the project without isolation
    carried = [d for d in FOREIGN[target]["dependencies"] if canonicalize_name(d) in entries]
    assert carried == [], f"the {target} image would carry {carried}"
    unhashed = [name for name, (_, hashes) in entries.items() if not hashes]
    assert unhashed == [], (target, unhashed)


def test_the_sbom_tool_is_locked_and_hashed() -> None:
    entries = locked(REPO / "requirements" / "sbom.lock")
    assert "cyclonedx-bom" in entries
    assert [name for name, (_, hashes) in entries.items() if not hashes] == []
