"""The decision layer stays pure: no kopf, kubernetes, HTTP or other I/O imports."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import mlops_operator.domain as domain
import pytest

FORBIDDEN = {
    "kopf", "kubernetes", "httpx", "requests", "aiohttp", "urllib", "http", "socket",
    "asyncio", "subprocess", "os", "pathlib", "shutil", "io", "logging", "time", "random",
    "prometheus_client", "fastapi", "mlops_runtime",
}
ROOT = Path(domain.__file__).parent
#: Every module of the package, sub-packages (domain/rollout/) included.
MODULES = sorted(ROOT.rglob("*.py"))


def test_the_module_list_reaches_into_sub_packages() -> None:
    assert ROOT / "rollout" / "machine.py" in MODULES
    assert {p.name for p in MODULES} >= {"vocabulary.py", "errors.py", "conditions.py"}


def imported(node: ast.ImportFrom, where: Path) -> str:
    """The absolute name ``from ... import`` reads, relative forms resolved: ``from ..x``
    in domain/rollout/ is mlops_operator.domain.x, and further dots leave the domain."""
    if not node.level:
        return node.module or ""
    package = [*domain.__name__.split("."), *where.parent.parts]
    base = package[: len(package) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def test_relative_imports_are_resolved() -> None:
    tree = ast.parse("from ..pods import x\nfrom ... import handlers\n")
    first, second = (n for n in tree.body if isinstance(n, ast.ImportFrom))
    assert imported(first, Path("rollout/machine.py")) == "mlops_operator.domain.pods"
    assert imported(second, Path("rollout/machine.py")) == "mlops_operator"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_domain_module_imports_nothing_impure(path: Path) -> None:
    where = path.relative_to(ROOT)
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [imported(node, where)]
        else:
            continue
        for name in names:
            top = name.split(".")[0]
            assert top not in FORBIDDEN, f"{where} imports {name}"
            if top == "mlops_operator":
                assert name.startswith("mlops_operator.domain"), f"{where} imports {name}"


SUBMODULES = sorted(info.name for info in pkgutil.walk_packages(domain.__path__,
                                                                 f"{domain.__name__}."))


def test_the_walk_finds_every_module_file() -> None:
    files = {".".join(p.relative_to(ROOT).with_suffix("").parts) for p in MODULES}
    dotted = {f"{domain.__name__}.{f}".removesuffix(".__init__") for f in files}
    assert set(SUBMODULES) == dotted - {domain.__name__}


@pytest.mark.parametrize("module", SUBMODULES)
def test_every_domain_module_imports(module: str) -> None:
    importlib.import_module(module)
