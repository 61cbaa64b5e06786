"""Check observers: one module per kind of check, found by discovery.

Each module here defines ``KIND``, a :class:`~.base.CheckKind` that knows its
query and how to reduce the answer to one value. Adding a built-in check is one
new module plus its ``Builtin`` entry (and the CRD enum, which a unit test holds
to the ``Builtin`` enum).
"""

from __future__ import annotations

import importlib
import pkgutil

from mlops_operator.domain.checks import Builtin, CheckSpec
from mlops_operator.providers.checks.base import CheckKind, Vector


def _discover() -> dict[Builtin | None, CheckKind]:
    kinds: dict[Builtin | None, CheckKind] = {}
    for module in pkgutil.iter_modules(__path__):
        found = getattr(importlib.import_module(f"{__name__}.{module.name}"), "KIND", None)
        if isinstance(found, CheckKind):
            if found.builtin in kinds:
                raise RuntimeError(f"two observers for check kind {found.builtin!r}")
            kinds[found.builtin] = found
    missing = sorted(set(Builtin) - set(kinds))
    if missing:
        raise RuntimeError(f"no observer for built-in check(s) {', '.join(missing)}")
    return kinds


KINDS = _discover()


def kind_of(check: CheckSpec) -> CheckKind:
    """The observer of ``check``: its built-in kind, or the custom query kind."""
    return KINDS[check.builtin]


__all__ = ["KINDS", "CheckKind", "Vector", "kind_of"]
