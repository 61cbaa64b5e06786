"""A custom check: the user's PromQL with ``{{namespace}}``, ``{{deployment}}``,
``{{track}}``, ``{{model}}`` and ``{{version}}`` filled in; the worst series counts."""

from __future__ import annotations

from mlops_operator.domain.checks import PLACEHOLDER, CheckSpec, template_placeholders
from mlops_operator.ports import CanaryTarget
from mlops_operator.providers.checks.base import CheckKind, worst


def render(template: str, target: CanaryTarget) -> str:
    """Fill the placeholders (validated again: a template may come from anywhere)."""
    template_placeholders(template)
    values = {
        "deployment": target.deployment,
        "namespace": target.namespace,
        "track": target.track,
        "model": target.model,
        "version": target.version,
    }
    return PLACEHOLDER.sub(lambda match: values[match.group(1)], template)


def query(check: CheckSpec, target: CanaryTarget) -> str:
    """The check's own template, rendered for ``target``."""
    return render(check.query or "", target)


KIND = CheckKind(None, query, lambda check, vector, _: worst(check, vector))
