"""One-shot promote and abort: an annotation on the Deployment whose value names the
version it is meant for (``mlops.dev/promote: iris-v2``). The rollout reads it as the
flag while it names spec.modelVersion (spec.RolloutSpec.from_dict); this module says when
it is spent, so the handler can remove it and no later rollout inherits it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from mlops_operator.domain.rollout.spec import ONE_SHOT
from mlops_operator.domain.rollout.status import RolloutPhase, RolloutStatus


@dataclass(frozen=True)
class SpentOneShot:
    annotation: str
    message: str
    ignored: bool  # it named another version and never acted


def spent_one_shots(annotations: Mapping[str, str] | None, target: str,
                    status: RolloutStatus) -> list[SpentOneShot]:
    """The one-shot annotations to remove after this decision: one naming a version other
    than the target (ignored), or one whose version was promoted, rolled back, or is
    already the stable version with no canary (nothing left for it to do)."""
    spent = []
    for flag, annotation in ONE_SHOT.items():
        value = (annotations or {}).get(annotation)
        if value is None:
            continue
        if value != target:
            spent.append(SpentOneShot(
                annotation, f"{annotation}={value} ignored: spec.modelVersion is {target}",
                ignored=True))
        elif status.phase is RolloutPhase.ROLLED_BACK and status.rolled_back_version == value:
            spent.append(SpentOneShot(
                annotation, f"{annotation}={value} removed: {value} was rolled back",
                ignored=flag != "abort"))
        elif status.canary_version is None and status.stable_version == value:
            spent.append(SpentOneShot(
                annotation, f"{annotation}={value} removed: {value} is the stable version",
                ignored=False))
    return spent
