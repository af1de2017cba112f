"""A number given by a user, checked: finite, not negative (or positive), and not a string or a boolean."""

from __future__ import annotations

import math
import numbers


def real_number(value, name: str, *, positive: bool = False, meaning: str = "") -> float:
    """``value`` as a finite float >= 0 (> 0 with ``positive``), or a ValueError naming ``name`` (and
    ``meaning``, what the number is, where it helps to say)."""
    meaning = f" ({meaning})" if meaning else ""
    if isinstance(value, (str, bytes)):
        raise ValueError(f"{name} must be a number, got the string {value!r}: write {name}={value} without quotes")
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number{meaning}, got {value!r} ({type(value).__name__})")
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        raise ValueError(f"{name} must be a finite number {'> 0' if positive else '>= 0'}{meaning}, got {value}")
    return float(value)
