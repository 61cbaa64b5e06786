"""``mlops-runtime model-card``: write one ModelVersion's card where the operator says.

Inputs from the environment the operator sets on the card Job: ``MLOPS_MODEL_VERSION``
(the ModelVersion as JSON, status included: the verdict is part of the card) and
``MLOPS_OUTPUT_URI`` (the card's URI). The trainer's ``metadata.json`` adds the split and
the training time when it can be read; without it the card says so. The termination
message is ``{"ok": true, "uri", "sha256", "bytes"}`` or ``{"ok": false, "reason",
"message"}``.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from mlops_runtime import stores
from mlops_runtime.card.render import render
from mlops_runtime.cli import write_termination_message

VERSION_ENV = "MLOPS_MODEL_VERSION"
OUTPUT_ENV = "MLOPS_OUTPUT_URI"


def _metadata(uri: str | None) -> tuple[dict[str, Any] | None, str | None]:
    if not uri:
        return None, None
    try:
        return json.loads(stores.read_bytes(uri)), None
    except Exception as error:  # the card is still worth writing without it
        return None, f"The trainer's record {uri} could not be read ({type(error).__name__}: " \
                     f"{error}); this card shows what the ModelVersion holds."


def write_card(version: dict[str, Any], output_uri: str) -> dict[str, Any]:
    """Render and write the card; the result for the termination message."""
    metadata, note = _metadata((version.get("spec") or {}).get("metadataUri"))
    data = render(version, metadata, output_uri, note).encode("utf-8")
    stores.write_bytes(output_uri, data)
    return {"ok": True, "uri": output_uri, "sha256": stores.sha256_hex(data),
            "bytes": len(data)}


def main(argv: list[str]) -> int:
    del argv  # configured by the environment only
    try:
        version = json.loads(os.environ.get(VERSION_ENV) or "")
        output_uri = os.environ[OUTPUT_ENV]
        result = write_card(version, output_uri)
    except (KeyError, ValueError) as error:
        result = {"ok": False, "reason": "InvalidInput",
                  "message": f"model-card needs {VERSION_ENV} (JSON) and {OUTPUT_ENV}: {error}"}
    except Exception as error:
        result = {"ok": False, "reason": "WriteFailed",
                  "message": f"{type(error).__name__}: {error}"[:2000]}
    text = json.dumps(result)
    print(text, file=sys.stdout if result["ok"] else sys.stderr)
    write_termination_message(text)
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
