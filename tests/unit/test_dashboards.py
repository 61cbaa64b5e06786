"""The Grafana dashboards: well-formed, and every series they query is one a component of
this project exports (the cluster suite runs each query against a real Prometheus)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import mlops_telemetry
import pytest
from mlops_operator.metrics import REGISTRY
from mlops_runtime.monitor.app import MonitorMetrics

from tests.conftest import REPO

FOLDER = REPO / "manifests" / "monitoring" / "dashboards"
DASHBOARDS = sorted(FOLDER.glob("*.json"))
#: What Grafana puts in place of the dashboard's variables, for a query Prometheus runs.
VARIABLES = {"$__rate_interval": "1m", "$namespace": ".+", "$deployment": ".+"}


def queries(path: Path, **variables: str) -> list[tuple[str, str]]:
    """(panel title, PromQL) of every target, with the variables filled in."""
    values = VARIABLES | {f"${k}": v for k, v in variables.items()}
    found = []
    for panel in json.loads(path.read_text())["panels"]:
        for target in panel["targets"]:
            expr = target["expr"]
            for name, value in sorted(values.items(), key=lambda kv: -len(kv[0])):
                expr = expr.replace(name, value)
            found.append((panel["title"], expr))
    return found


def _exported() -> set[str]:
    names = {v for k, v in vars(mlops_telemetry).items()
             if k.isupper() and isinstance(v, str) and v.startswith("mlops_")}
    for registry in (REGISTRY, MonitorMetrics().registry):
        for metric in registry.collect():
            names |= {metric.name, *(s.name for s in metric.samples)}
    suffixed = {f"{n}{s}" for n in names for s in ("_total", "_bucket", "_sum", "_count")}
    return names | suffixed


def test_there_are_dashboards_for_the_model_servers_and_the_rollouts() -> None:
    assert [p.stem for p in DASHBOARDS] == ["model-servers", "rollouts"]


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_every_panel_queries_series_this_project_exports(path: Path) -> None:
    dashboard = json.loads(path.read_text())
    assert dashboard["uid"].startswith("mlops-") and dashboard["panels"]
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    exported = _exported()
    for title, expr in queries(path):
        assert "$" not in expr, (title, expr)
        used = set(re.findall(r"\bmlops_[a-z0-9_]+", expr))
        assert used and used <= exported, (title, used - exported)
    variables = {v["name"] for v in dashboard["templating"]["list"]}
    assert variables == {"datasource", "namespace", "deployment"}
