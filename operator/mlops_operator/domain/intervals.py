"""Confidence intervals for accuracies: how sure a check is before it judges.

A live accuracy is a proportion of labelled predictions; a canary compared with its
stable version is a difference of two independent proportions. Wilson's score interval
holds up with few labels and accuracies near 1 (where the normal approximation claims
more certainty than there is); Newcombe's hybrid score interval (his method 10, 1998)
builds the interval of the difference from the two Wilson intervals. Ten lines of
arithmetic, kept here rather than pulling a statistics stack into the operator image.
"""

from __future__ import annotations

import math

#: Two-sided 95 %.
Z_95 = 1.959963984540054


def wilson(successes: float, n: float, z: float = Z_95) -> tuple[float, float]:
    """The score interval of ``successes / n`` (``n`` > 0)."""
    p = successes / n
    centre = p + z * z / (2 * n)
    spread = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    scale = 1 + z * z / n
    return max(0.0, (centre - spread) / scale), min(1.0, (centre + spread) / scale)


def difference(successes_a: float, n_a: float, successes_b: float, n_b: float,
               z: float = Z_95) -> tuple[float, float]:
    """The interval of ``p_a - p_b`` (Newcombe's hybrid score)."""
    p_a, p_b = successes_a / n_a, successes_b / n_b
    low_a, high_a = wilson(successes_a, n_a, z)
    low_b, high_b = wilson(successes_b, n_b, z)
    d = p_a - p_b
    return (d - math.sqrt((p_a - low_a) ** 2 + (high_b - p_b) ** 2),
            d + math.sqrt((high_a - p_a) ** 2 + (p_b - low_b) ** 2))
