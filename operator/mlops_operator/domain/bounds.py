"""Numbers from records and inclusive bounds, shared by every rule of the quality gate; pure."""

from __future__ import annotations

import math
from typing import Any

from mlops_operator.domain.errors import SpecError

_REL_TOL = 1e-9
_ABS_TOL = 1e-12


def finite(raw: Any) -> float | None:
    """``raw`` as a float, or None when it is null, NaN, infinite or not a number."""
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
        return None
    return float(raw)


def required_number(raw: Any, what: str) -> float:
    """A finite number from a spec, else a :class:`SpecError` naming ``what``."""
    number = finite(raw)
    if number is None:
        raise SpecError(f"{what} must be a finite number, not {raw!r}")
    return number


def at_least(value: float, bound: float) -> bool:
    """``value >= bound``, counting a float rounding of the bound as on it."""
    return value >= bound or math.isclose(value, bound, rel_tol=_REL_TOL, abs_tol=_ABS_TOL)


def at_most(value: float, bound: float) -> bool:
    """``value <= bound``, counting a float rounding of the bound as on it."""
    return value <= bound or math.isclose(value, bound, rel_tol=_REL_TOL, abs_tol=_ABS_TOL)
