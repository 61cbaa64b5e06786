"""Children are re-sent only when the desired manifest changed or the object drifted."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from mlops_operator.k8s.changes import HASH_ANNOTATION, is_subset, needs_apply, with_hash

SERVICE: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {"name": "iris", "namespace": "ns", "labels": {"mlops.dev/deployment": "iris"}},
    "spec": {
        "selector": {"mlops.dev/deployment": "iris", "mlops.dev/track": "stable"},
        "ports": [{"name": "http", "port": 80, "targetPort": "http"}],
    },
}


def as_stored(manifest: dict[str, Any]) -> dict[str, Any]:
    """What the watch shows after an apply: the manifest plus the server's defaults."""
    stored = copy.deepcopy(with_hash(manifest))
    stored["metadata"]["resourceVersion"] = "42"
    stored["spec"]["clusterIP"] = "10.96.0.10"
    stored["spec"]["ports"][0]["protocol"] = "TCP"
    stored["spec"]["sessionAffinity"] = "None"
    return stored


def test_hash_is_stable_and_ignores_key_order() -> None:
    reordered = {"spec": SERVICE["spec"], "metadata": SERVICE["metadata"],
                 "kind": "Service", "apiVersion": "v1"}
    first = with_hash(SERVICE)["metadata"]["annotations"][HASH_ANNOTATION]
    assert first == with_hash(reordered)["metadata"]["annotations"][HASH_ANNOTATION]
    assert with_hash(with_hash(SERVICE)) == with_hash(SERVICE)


def test_unchanged_child_with_server_defaults_is_not_sent() -> None:
    assert not needs_apply(with_hash(SERVICE), as_stored(SERVICE))


def mutate(path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(SERVICE)
    target = changed
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return changed


@pytest.mark.parametrize(
    ("case", "desired", "observed"),
    [
        ("absent (deleted by hand)", SERVICE, None),
        ("selector narrowed by the operator",
         mutate(("spec", "selector"), {"mlops.dev/deployment": "iris"}), as_stored(SERVICE)),
        ("port changed in the spec", mutate(("spec", "ports", 0, "port"), 8080),
         as_stored(SERVICE)),
        ("edited by hand", SERVICE,
         as_stored(mutate(("spec", "selector", "mlops.dev/track"), "canary"))
         | {"metadata": as_stored(SERVICE)["metadata"]}),
        ("created by someone else (no hash)", SERVICE,
         {**copy.deepcopy(SERVICE), "metadata": {"name": "iris"}}),
    ],
)
def test_changed_or_drifted_child_is_sent(case: str, desired: dict, observed: dict | None) -> None:
    assert needs_apply(with_hash(desired), observed), case


@pytest.mark.parametrize(
    ("desired", "observed", "expected"),
    [
        ({"a": 1}, {"a": 1, "b": 2}, True),
        ({"a": 1}, {"a": 2}, False),
        ({"a": [1, 2]}, {"a": [1, 2]}, True),
        ({"a": [1]}, {"a": [1, 2]}, False),
        ({"a": [{"x": 1}]}, {"a": [{"x": 1, "y": 2}]}, True),
        ({"a": True}, {"a": 1}, False),
        ({"a": 1}, {"a": 1.0}, True),
        ({"a": {"b": None}}, {"a": {}}, False),
        ({}, {"anything": 1}, True),
    ],
)
def test_is_subset(desired: Any, observed: Any, expected: bool) -> None:
    assert is_subset(desired, observed) is expected
