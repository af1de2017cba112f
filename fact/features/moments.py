"""Pearson's correlation, the cosine and the relative error of two matrices from five numbers: their inner
products and the sums of their entries. Where the matrices are large but determined by small ones
(``fact.features.fact_agreement``, ``fact.features.ansatz_agreement``) these numbers come from the small ones.
The measures are those of ``fact.features.metrics``: Pearson's centres each matrix by its mean entry.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

EPSILON = float(torch.finfo(torch.float64).eps)


@dataclass(frozen=True)
class SideMoments:
    """What the measures of B against A need: A the target (W^T W or W W^T), B a relation's matrix."""

    aa: float  # <A, A>
    ab: float  # <A, B>
    bb: float  # <B, B>
    residual: float  # ||A - B||^2
    sum_a: float  # sum of A's entries
    sum_b: float  # sum of B's entries
    entries: int  # of A (and B)


def inner(a: torch.Tensor, b: torch.Tensor) -> float:
    """<a, b>_F, summed in float64."""
    return float(torch.dot(a.reshape(-1).double(), b.reshape(-1).double()))


def measures_of(side: SideMoments, measures: Sequence[str]) -> dict[str, float]:
    """Pearson (entries centred by their mean), cosine and relative error of B to A, as fact.features.metrics
    defines them: NaN where a matrix is zero or constant or a moment is not finite."""
    moments = (side.aa, side.ab, side.bb, side.residual, side.sum_a, side.sum_b)
    if not all(math.isfinite(value) for value in moments):
        return dict.fromkeys(measures, math.nan)
    n = side.entries
    values = {
        "pearson": _ratio(
            side.ab - side.sum_a * side.sum_b / n,
            _spread(side.aa, side.sum_a, n) * _spread(side.bb, side.sum_b, n),
        ),
        "cosine": _ratio(side.ab, side.aa * side.bb),
        "relative_error": _relative_error(side),
    }
    return {measure: values[measure] for measure in measures}


def _spread(squares: float, total: float, n: int) -> float:
    """n times the variance of the entries, squares - total^2 / n; 0 where that is within the rounding of its
    difference (a constant matrix, which has no correlation, whatever the rounding leaves of its spread)."""
    spread = squares - total**2 / n
    return spread if spread > 8 * EPSILON * squares else 0.0


def _ratio(numerator: float, squared_denominator: float) -> float:
    """numerator / sqrt(squared_denominator), NaN where that is zero (a zero or constant matrix)."""
    return math.nan if squared_denominator <= 0 else numerator / math.sqrt(squared_denominator)


def _relative_error(side: SideMoments) -> float:
    if side.aa == 0:
        raise ValueError("relative_error: the reference matrix is zero")
    return math.sqrt(max(side.residual, 0.0) / side.aa)
