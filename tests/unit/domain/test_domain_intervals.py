"""Confidence intervals, checked against Newcombe (1998), Statistics in Medicine 17."""

from __future__ import annotations

import pytest
from mlops_operator.domain.intervals import difference, wilson


@pytest.mark.parametrize(("successes", "n", "low", "high"), [
    (81, 263, 0.2553, 0.3662), (15, 148, 0.0624, 0.1605), (0, 20, 0.0, 0.1611),
    (1, 29, 0.0061, 0.1718), (20, 20, 0.8389, 1.0),
])
def test_wilson_matches_the_published_intervals(successes: int, n: int, low: float,
                                                high: float) -> None:
    assert wilson(successes, n) == (pytest.approx(low, abs=1e-4), pytest.approx(high, abs=1e-4))


@pytest.mark.parametrize(("a", "b", "low", "high"), [
    ((56, 70), (48, 80), 0.0524, 0.3339), ((9, 10), (3, 10), 0.1705, 0.8090),
    ((6, 7), (2, 7), 0.0582, 0.8062), ((5, 56), (0, 29), -0.0381, 0.1926),
    ((0, 10), (0, 20), -0.1611, 0.2775), ((10, 10), (0, 10), 0.6075, 1.0),
])
def test_the_difference_matches_newcombes_method_ten(a: tuple[int, int], b: tuple[int, int],
                                                     low: float, high: float) -> None:
    assert difference(*a, *b) == (pytest.approx(low, abs=1e-4), pytest.approx(high, abs=1e-4))
