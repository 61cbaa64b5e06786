"""manifests/monitoring/prometheus-operator, checked by a real API server against the CRDs
of the pinned prometheus-operator version: its PodMonitors and PrometheusRule render with
kustomize and pass the CRDs' schemas (strict field validation: an unknown or misspelt
field is refused, not dropped)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from mlops_dev.promoperator import crd_file

from tests.conftest import REPO, kubectl

pytestmark = pytest.mark.cluster

PLURALS = ("podmonitors", "prometheusrules")


@pytest.fixture
def prometheus_operator_crds(kubeconfig: str) -> Iterator[None]:
    """The two CRDs, server-side applied (too large for the last-applied annotation) and
    Established; removed afterwards unless they were there before."""
    names = [f"{plural}.monitoring.coreos.com" for plural in PLURALS]
    present = [kubectl(kubeconfig, "get", "crd", name, check=False).returncode == 0
               for name in names]
    for plural in PLURALS:
        kubectl(kubeconfig, "apply", "--server-side", "-f", str(crd_file(plural)))
    kubectl(kubeconfig, "wait", "--for=condition=Established", "--timeout=60s",
            *[f"crd/{name}" for name in names], timeout=90)
    yield
    for name, existed in zip(names, present, strict=True):
        if not existed:
            kubectl(kubeconfig, "delete", "crd", name, "--wait=false", check=False)


def test_the_objects_pass_the_prometheus_operator_schemas(
    kubeconfig: str, prometheus_operator_crds: None, namespace: str
) -> None:
    rendered = kubectl(kubeconfig, "kustomize",
                       str(REPO / "manifests" / "monitoring" / "prometheus-operator")).stdout
    # Into the test's namespace, so the dry run needs no mlops-system.
    rendered = rendered.replace("namespace: mlops-system", f"namespace: {namespace}")
    result = kubectl(kubeconfig, "apply", "--dry-run=server", "--validate=strict", "-f", "-",
                     input=rendered)
    created = sorted(line.split()[0] for line in result.stdout.splitlines())
    assert created == ["podmonitor.monitoring.coreos.com/mlops-model-servers",
                       "podmonitor.monitoring.coreos.com/mlops-monitor",
                       "podmonitor.monitoring.coreos.com/mlops-operator",
                       "prometheusrule.monitoring.coreos.com/mlops-model-servers"], result.stdout
    assert "unknown field" not in result.stderr, result.stderr
    # The check has teeth: a misspelt field is refused by name.
    misspelt = kubectl(kubeconfig, "apply", "--dry-run=server", "--validate=strict", "-f", "-",
                       input=rendered.replace("honorLabels", "honourLabels"), check=False)
    assert misspelt.returncode != 0 and "honourLabels" in misspelt.stderr, misspelt.stderr
