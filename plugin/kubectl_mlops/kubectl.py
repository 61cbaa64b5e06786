"""The plugin's one way to the cluster: kubectl, with the user's connection flags."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


class KubectlFailed(RuntimeError):
    """kubectl exited non-zero; the message is kubectl's own."""


@dataclass(frozen=True)
class Kubectl:
    """Runs kubectl with the connection flags the plugin was given (--namespace, --context,
    --kubeconfig), as kubectl passes them to a plugin's own command line."""

    flags: Sequence[str] = field(default_factory=tuple)

    def run(self, *args: str, input: str | None = None) -> str:
        result = subprocess.run(["kubectl", *self.flags, *args], input=input,
                                capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise KubectlFailed(result.stderr.strip() or f"kubectl {args[0]} failed")
        return result.stdout

    def get(self, resource: str, name: str) -> dict[str, Any]:
        return json.loads(self.run("get", resource, name, "-o", "json"))

    def list(self, resource: str, selector: str = "") -> list[dict[str, Any]]:
        args = ["get", resource, "-o", "json"] + (["-l", selector] if selector else [])
        return json.loads(self.run(*args))["items"]

    def merge_patch(self, resource: str, name: str, patch: dict[str, Any]) -> None:
        self.run("patch", resource, name, "--type=merge", "-p", json.dumps(patch))
