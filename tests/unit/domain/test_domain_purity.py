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
MODULES = sorted(p for p in Path(domain.__file__).parent.glob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_domain_module_imports_nothing_impure(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        else:
            continue
        for name in names:
            top = name.split(".")[0]
            assert top not in FORBIDDEN, f"{path.name} imports {name}"
            if top == "mlops_operator":
                assert name.startswith("mlops_operator.domain"), f"{path.name} imports {name}"


def test_every_domain_module_imports() -> None:
    for info in pkgutil.iter_modules(domain.__path__):
        importlib.import_module(f"mlops_operator.domain.{info.name}")
