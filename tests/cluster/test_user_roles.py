"""People's roles: a namespace editor manages mlops objects but can never write a status.

The ClusterRoles of manifests/operator/user-roles.yaml aggregate into the built-in
view/edit/admin roles; users are impersonated with ``kubectl --as``.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator

import pytest

from tests.cluster.conftest import wait_for
from tests.conftest import REPO, kubectl

pytestmark = pytest.mark.cluster

ROLES = REPO / "manifests" / "operator" / "user-roles.yaml"
EXAMPLES = REPO / "manifests" / "examples"


@pytest.fixture(scope="module")
def namespace(kubeconfig: str, crds: None) -> Iterator[str]:
    """A namespace where alice is an editor and bob a viewer (the built-in roles)."""
    name = f"t-roles-{uuid.uuid4().hex[:6]}"
    existed = kubectl(kubeconfig, "get", "clusterrole", "mlops-edit", check=False).returncode == 0
    kubectl(kubeconfig, "apply", "-f", str(ROLES))
    kubectl(kubeconfig, "create", "namespace", name)
    kubectl(kubeconfig, "create", "rolebinding", "alice", "--clusterrole=edit", "--user=alice",
            "-n", name)
    kubectl(kubeconfig, "create", "rolebinding", "bob", "--clusterrole=view", "--user=bob",
            "-n", name)
    try:
        # The aggregation controller folds the new rules into edit/view asynchronously.
        wait_for(lambda: can(kubeconfig, "alice", name, "create", "deployments.mlops.dev")
                 and can(kubeconfig, "bob", name, "list", "modelversions.mlops.dev"),
                 30, "mlops roles aggregated into edit and view")
        yield name
    finally:
        kubectl(kubeconfig, "delete", "namespace", name, "--wait=false", check=False)
        if not existed:
            kubectl(kubeconfig, "delete", "-f", str(ROLES), check=False)


def can(kubeconfig: str, user: str, namespace: str, verb: str, resource: str,
        subresource: str = "") -> bool:
    args = ["auth", "can-i", verb, resource, "--as", user, "-n", namespace]
    if subresource:
        args.append(f"--subresource={subresource}")
    return kubectl(kubeconfig, *args, check=False).stdout.strip() == "yes"


def as_user(kubeconfig: str, user: str, namespace: str,
            *args: str) -> subprocess.CompletedProcess[str]:
    return kubectl(kubeconfig, *args, "--as", user, "-n", namespace, check=False)


def test_an_editor_applies_the_examples(kubeconfig: str, namespace: str) -> None:
    for example in ("trainingjob-iris.yaml", "modelversion-external.yaml",
                    "deployment-iris.yaml"):
        result = as_user(kubeconfig, "alice", namespace, "apply", "-f", str(EXAMPLES / example))
        assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(("kind", "name"), [("modelversions.mlops.dev", "iris-external-v1"),
                                            ("deployments.mlops.dev", "iris")])
def test_an_editor_cannot_approve_a_version_or_forge_a_rollout(
    kubeconfig: str, namespace: str, kind: str, name: str
) -> None:
    as_user(kubeconfig, "alice", namespace, "apply", "-f", str(EXAMPLES /
            ("modelversion-external.yaml" if kind.startswith("model") else "deployment-iris.yaml")))
    forged = {"status": {"phase": "Approved" if kind.startswith("model") else "Healthy"}}
    result = as_user(kubeconfig, "alice", namespace, "patch", kind, name, "--subresource=status",
                     "--type=merge", "-p", json.dumps(forged))
    assert result.returncode != 0 and "forbidden" in result.stderr, result.stderr
    assert not can(kubeconfig, "alice", namespace, "update", kind, "status")
    stored = json.loads(kubectl(kubeconfig, "get", kind, name, "-n", namespace,
                                "-o", "json").stdout)
    assert (stored.get("status") or {}).get("phase") not in ("Approved", "Healthy")


def test_a_viewer_reads_but_cannot_change(kubeconfig: str, namespace: str) -> None:
    assert can(kubeconfig, "bob", namespace, "get", "trainingjobs.mlops.dev")
    assert not can(kubeconfig, "bob", namespace, "create", "trainingjobs.mlops.dev")
    assert not can(kubeconfig, "bob", namespace, "delete", "deployments.mlops.dev")
    job = EXAMPLES.joinpath("trainingjob-iris.yaml").read_text().replace(
        "name: iris-logreg", "name: bobs-job")
    result = kubectl(kubeconfig, "apply", "-f", "-", "--as", "bob", "-n", namespace,
                     input=job, check=False)
    assert result.returncode != 0 and "forbidden" in result.stderr, result.stderr
