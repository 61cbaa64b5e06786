"""predictionAgreement: the share of mirrored rows on which the shadow (the target
version, fed copies of live requests by a shadow step) predicted what the live stable
version answered. The stable servers count the rows (``mlops_mirror_rows_total``,
labelled with the shadow's version); below ``minSamples`` compared rows there is no data.
"""

from __future__ import annotations

from dataclasses import replace

from mlops_telemetry import AGREEMENT_LABEL, MIRROR_ROWS_TOTAL, SHADOW_LABEL

from mlops_operator.domain.checks import Builtin, CheckSpec
from mlops_operator.ports import CanaryTarget
from mlops_operator.providers.checks.base import CheckKind, Vector, samples, selector


def query(check: CheckSpec, target: CanaryTarget) -> str:
    """Compared rows by agreement, counted on the stable track for this shadow."""
    mirrored = selector(replace(target, track="stable"), f'{SHADOW_LABEL}="{target.version}"')
    return f"sum by ({AGREEMENT_LABEL}) ({MIRROR_ROWS_TOTAL}{mirrored})"


def value(check: CheckSpec, vector: Vector, target: CanaryTarget) -> float | None:
    """agree / (agree + disagree), once enough rows were compared."""
    counts = {str(labels.get(AGREEMENT_LABEL, "")): v for labels, v in samples(vector)}
    rows = counts.get("agree", 0.0) + counts.get("disagree", 0.0)
    if rows <= 0 or rows < check.min_samples:
        return None
    return counts.get("agree", 0.0) / rows


KIND = CheckKind(Builtin.PREDICTION_AGREEMENT, query, value)
