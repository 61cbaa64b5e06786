"""manifests/monitoring/prometheus-operator/prometheusrule.yaml, generated from
manifests/monitoring/rules.yml (the one source of the alert rules):
``python -m tests.prometheus_rules`` writes it; the suite checks it is current."""

from __future__ import annotations

from typing import Any

import yaml

from tests.conftest import REPO

MONITORING = REPO / "manifests" / "monitoring"
RULES = MONITORING / "rules.yml"
PROMETHEUS_RULE = MONITORING / "prometheus-operator" / "prometheusrule.yaml"
HEADER = """# Generated from ../rules.yml by `python -m tests.prometheus_rules`; edit rules.yml, not
# this. The same alert rules, for a Prometheus run by prometheus-operator.
"""


def prometheus_rule() -> dict[str, Any]:
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": "mlops-model-servers",
                     "labels": {"app.kubernetes.io/part-of": "mlops-operator"}},
        "spec": {"groups": yaml.safe_load(RULES.read_text())["groups"]},
    }


class _BlockDumper(yaml.SafeDumper):
    """PromQL spanning lines stays a readable ``|`` block, as in rules.yml."""


_BlockDumper.add_representer(str, lambda dumper, value: dumper.represent_scalar(
    "tag:yaml.org,2002:str", value, style="|" if "\n" in value else None))


def rendered() -> str:
    return HEADER + yaml.dump(prometheus_rule(), Dumper=_BlockDumper, sort_keys=False,
                              width=100)


if __name__ == "__main__":
    PROMETHEUS_RULE.write_text(rendered())
