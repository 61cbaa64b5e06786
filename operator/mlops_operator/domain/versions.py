"""ModelVersion numbering and idempotent creation.

Versions are named ``<model>-v<N>`` (the CRD's CEL rule enforces it). The next
number is derived from what exists, and a TrainingJob finds "its" version by
UID first, so a handler that crashed after creating the version never creates
a second one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from mlops_operator.domain.vocabulary import VersionPhase

#: Label put on every ModelVersion created by a TrainingJob.
TRAINING_JOB_UID_LABEL = "mlops.dev/training-job-uid"
#: Label with the model name, for listing one model's versions.
MODEL_LABEL = "mlops.dev/model"

_MODEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_NAME = re.compile(r"^(?P<model>[a-z0-9]([-a-z0-9]*[a-z0-9])?)-v(?P<n>[1-9][0-9]*)$")
MAX_MODEL_LENGTH = 50


def validate_model_name(model: str) -> None:
    """Raise ValueError unless ``model`` is a DNS label of at most 50 characters."""
    if not isinstance(model, str) or not _MODEL.match(model) or len(model) > MAX_MODEL_LENGTH:
        raise ValueError(
            f"invalid model name {model!r}: lowercase letters, digits and '-', "
            f"starting and ending alphanumeric, at most {MAX_MODEL_LENGTH} characters"
        )


def version_name(model: str, n: int) -> str:
    """``<model>-v<n>``; n starts at 1."""
    validate_model_name(model)
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"invalid version number {n!r}: must be an integer >= 1")
    return f"{model}-v{n}"


def parse_version_name(name: str, model: str | None = None) -> tuple[str, int] | None:
    """``(model, n)`` for a well-formed name, else None.

    With ``model`` given, only that model's names match: "iris-extra-v3" is not
    a version of "iris". Leading zeros ("iris-v01") are not well formed.
    """
    if not isinstance(name, str):
        return None
    if model is not None:
        prefix = f"{model}-v"
        if not name.startswith(prefix):
            return None
        digits = name[len(prefix) :]
        if not digits.isascii() or not digits.isdigit() or digits.startswith("0"):
            return None
        return model, int(digits)
    match = _NAME.match(name)
    if not match:
        return None
    return match.group("model"), int(match.group("n"))


def next_version_number(model: str, existing_names: Iterable[str]) -> int:
    """One more than the highest N among ``model``'s names (1 if none)."""
    validate_model_name(model)
    numbers = [
        parsed[1]
        for parsed in (parse_version_name(name, model) for name in existing_names)
        if parsed is not None
    ]
    return max(numbers, default=0) + 1


def next_version_name(model: str, existing_names: Iterable[str]) -> str:
    """:func:`version_name` of :func:`next_version_number`."""
    return version_name(model, next_version_number(model, existing_names))


def training_job_uid_of(version: Mapping[str, Any]) -> str | None:
    """The TrainingJob UID a ModelVersion object records (label, then lineage)."""
    metadata = version.get("metadata") or {}
    labels = metadata.get("labels") or {}
    uid = labels.get(TRAINING_JOB_UID_LABEL)
    if uid:
        return str(uid)
    spec = version.get("spec") or {}
    lineage = spec.get("lineage") or {}
    uid = lineage.get("trainingJobUID")
    return str(uid) if uid else None


def find_version_for_job(
    job_uid: str, versions: Iterable[Mapping[str, Any]]
) -> Mapping[str, Any] | None:
    """The ModelVersion object already created for ``job_uid``, if any.

    If several exist (only possible if something else created them), the one
    with the lowest number wins, so every caller picks the same one.
    """
    if not job_uid:
        return None
    matches = [v for v in versions if training_job_uid_of(v) == job_uid]
    if not matches:
        return None

    def number(version: Mapping[str, Any]) -> tuple[int, str]:
        name = str((version.get("metadata") or {}).get("name", ""))
        parsed = parse_version_name(name)
        return (parsed[1] if parsed else 2**63, name)

    return min(matches, key=number)


@dataclass(frozen=True)
class VersionPlan:
    """What a finished TrainingJob should do about its ModelVersion."""

    name: str
    number: int
    exists: bool  # True: it was created before (e.g. before a crash); do not create again


def plan_version_for_job(
    model: str, job_uid: str, versions: Iterable[Mapping[str, Any]]
) -> VersionPlan:
    """Reuse the version already made for this job, else name the next one."""
    listed = list(versions)
    existing = find_version_for_job(job_uid, listed)
    if existing is not None:
        name = str((existing.get("metadata") or {}).get("name", ""))
        parsed = parse_version_name(name)
        return VersionPlan(name=name, number=parsed[1] if parsed else 0, exists=True)
    names = [str((v.get("metadata") or {}).get("name", "")) for v in listed]
    number = next_version_number(model, names)
    return VersionPlan(name=version_name(model, number), number=number, exists=False)


def latest_approved(versions: Iterable[Mapping[str, Any]], model: str) -> str | None:
    """The name of the newest Approved ModelVersion of ``model`` (highest spec.version;
    the name breaks a tie), or None when it has none; other models' versions are ignored."""
    candidates = []
    for body in versions:
        spec, status = body.get("spec") or {}, body.get("status") or {}
        number = spec.get("version")
        if (spec.get("model") != model or status.get("phase") != VersionPhase.APPROVED
                or isinstance(number, bool) or not isinstance(number, int)):
            continue
        candidates.append((number, str((body.get("metadata") or {}).get("name") or "")))
    return max(candidates)[1] if candidates else None


def champion(versions: Iterable[Mapping[str, Any]], model: str,
             served: Iterable[str] = ()) -> Mapping[str, Any] | None:
    """The version a new one of ``model`` must beat: among its Approved versions, the newest
    one a Deployment serves as stable (``served``: names), else the newest Approved one;
    None when it has none."""
    approved = {str((v.get("metadata") or {}).get("name")): v for v in versions
                if (v.get("spec") or {}).get("model") == model
                and (v.get("status") or {}).get("phase") == VersionPhase.APPROVED}
    serving = [approved[name] for name in served if name in approved]
    pick = latest_approved(serving, model) or latest_approved(approved.values(), model)
    return approved.get(pick) if pick else None


#: The files the built-in trainer writes beside metadata.json.
TRAINER_ARTIFACTS = ("model.onnx", "model.skops")


def metadata_uri(version: Mapping[str, Any]) -> str | None:
    """Where a version's metadata.json is: recorded on it, or beside the artifact of a
    version the built-in trainer wrote; None for a registered one."""
    spec = version.get("spec") or {}
    if spec.get("metadataUri"):
        return str(spec["metadataUri"])
    uri = str((spec.get("artifact") or {}).get("uri") or "")
    directory, _, name = uri.rpartition("/")
    if directory and name in TRAINER_ARTIFACTS and (spec.get("lineage") or {}).get("trainingJob"):
        return f"{directory}/metadata.json"
    return None


#: Phases whose versions get a model card: judged by a gate or verified.
CARD_PHASES = (VersionPhase.APPROVED, VersionPhase.REJECTED)


def card_result(result: Mapping[str, Any] | None, job_failed: bool,
                job: str) -> dict[str, Any] | None:
    """``status.modelCard`` from a card Job's termination message: the card's ``uri``,
    ``sha256`` and ``bytes``, or an ``error``; None while the Job is still running."""
    if result is None:
        if not job_failed:
            return None
        return {"job": job, "error": f"model-card Job {job} failed without a result"}
    if result.get("ok") and isinstance(result.get("uri"), str):
        return {"job": job, "uri": result["uri"], "sha256": str(result.get("sha256")),
                "bytes": result.get("bytes"), "error": None}
    return {"job": job, "error": f"{result.get('reason') or 'Failed'}: "
                                 f"{result.get('message') or 'no message'}"}


def needs_card(status: Mapping[str, Any] | None) -> bool:
    """A judged version without a card (requested or written) needs one."""
    status = status or {}
    return status.get("phase") in CARD_PHASES and not status.get("modelCard")
