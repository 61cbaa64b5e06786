"""Argo CD's resource customizations of this project (``manifests/argocd``), run as Argo CD
runs them: a Lua 5.1 script with the object as the global ``obj`` (Argo CD embeds
gopher-lua, a Lua 5.1); Debian's lua5.1 and lua-cjson carry the object in and the result
out as JSON."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from tests.conftest import REPO

CUSTOMIZATIONS = REPO / "manifests" / "argocd" / "resource_customizations" / "mlops.dev"
KINDS = ("Deployment", "TrainingJob", "ModelVersion")

#: JSON null is nil in gopher-lua's objects; lua-cjson gives a sentinel, made nil here.
_RUNNER = """
local cjson = require("cjson")
local function plain(value)
  if value == cjson.null then return nil end
  if type(value) == "table" then
    for key, item in pairs(value) do value[key] = plain(item) end
  end
  return value
end
obj = plain(cjson.decode(io.read("*a")))
io.write(cjson.encode(dofile(os.getenv("ARGOCD_SCRIPT"))))
"""


def run(script: Path, obj: dict[str, Any]) -> Any:
    """What ``script`` returns for ``obj``."""
    result = subprocess.run(["lua5.1", "-e", _RUNNER], input=json.dumps(obj),
                            env={"ARGOCD_SCRIPT": str(script), "PATH": os.environ["PATH"]},
                            capture_output=True, text=True, timeout=30, check=False)
    if result.returncode != 0:
        raise AssertionError(f"{script} failed: {result.stderr}")
    return json.loads(result.stdout)


def health(kind: str, obj: dict[str, Any]) -> dict[str, str]:
    """Argo CD's health (``status``, ``message``) of ``obj`` by the kind's health.lua."""
    return run(CUSTOMIZATIONS / kind / "health.lua", obj)


def discover(kind: str, obj: dict[str, Any]) -> dict[str, bool]:
    """Which actions Argo CD offers on ``obj`` (name -> disabled), by discovery.lua."""
    found = run(CUSTOMIZATIONS / kind / "actions" / "discovery.lua", obj)
    return {name: bool(action.get("disabled")) for name, action in found.items()}


def action(kind: str, name: str, obj: dict[str, Any]) -> dict[str, Any]:
    """The object as the action ``name`` leaves it (what Argo CD then patches)."""
    return run(CUSTOMIZATIONS / kind / "actions" / name / "action.lua", obj)


ACTIONS_CONFIG = REPO / "manifests" / "argocd" / "actions-Deployment.yaml"


def _indented(text: str, spaces: int) -> str:
    return "".join(f"{' ' * spaces}{line}\n" if line else "\n" for line in text.splitlines())


def actions_config(kind: str = "Deployment") -> str:
    """argocd-cm's ``resource.customizations.actions.mlops.dev_<kind>`` value, made from
    the kind's ``actions/`` folder (the layout argo-cd keeps them in)."""
    folder = CUSTOMIZATIONS / kind / "actions"
    text = (f"# Generated from resource_customizations/mlops.dev/{kind}/actions by\n"
            "# `python -m tests.argocd`; edit the .lua files, not this.\n"
            "discovery.lua: |\n" + _indented((folder / "discovery.lua").read_text(), 2)
            + "definitions:\n")
    for script in sorted(folder.glob("*/action.lua")):
        text += (f"  - name: {script.parent.name}\n    action.lua: |\n"
                 + _indented(script.read_text(), 6))
    return text


if __name__ == "__main__":
    ACTIONS_CONFIG.write_text(actions_config())
