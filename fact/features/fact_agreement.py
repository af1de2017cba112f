"""How well FACT matches W^T W, and bFACT W W^T, without forming the larger of the two sides.

For a weight W (d_out x d_in) with the mean loss's gradient G and the residual D = G + lambda W,

    forward:   A = W^T W,   B = FACT  = -W^T G / lambda,   A - B = W^T D / lambda      (d_in x d_in)
    backward:  A = W W^T,   B = bFACT = -G W^T / lambda,   A - B = D W^T / lambda      (d_out x d_out)

Pearson's correlation, the cosine and the relative error of B to A need only five numbers of each side:
the inner products <A, A>, <A, B>, <B, B>, ||A - B||^2 and the sums of A's and B's entries. On the side of
the larger dimension each inner product equals one between matrices of the smaller (with the rows of
X = W, or of W^T when d_in is the smaller, and Y, Z the same rows of G and D):

    <X^T X, X^T X> = <P, P>,   ||X^T Y||^2 = <P, Y Y^T>,   ||X^T Z||^2 = <P, Z Z^T>,   P = X X^T
    sum of the entries of X^T Y = (X 1) . (Y 1)

and <A, B> = (<A, A> + <B, B> - ||A - B||^2) / 2. So a record costs five products of the smaller side
(an MLP's 784-input layer: 256 x 256 matrices, not 784 x 784), exactly, and the relative error comes
from the residual D, never as the difference of two nearly equal matrices.

The products run in the model's own precision (float32 for a float32 model, whose gradient is no more
precise; float64 for a float64 one) and every sum in float64.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from fact.features.metrics import all_finite, check_known
from fact.features.moments import SideMoments, inner, measures_of
from fact.features.names import Relation


def fact_agreements(
    weight: torch.Tensor,
    gradient: torch.Tensor,
    weight_decay: float,
    measures: Sequence[str] = ("pearson", "cosine", "relative_error"),
    dtype: torch.dtype = torch.float64,
) -> dict[str, dict[str, float]]:
    """{"fact": measures of FACT against W^T W, "bfact": of bFACT against W W^T} for the matrix ``weight``
    (d_out x d_in) and the mean loss's ``gradient`` with respect to it; products in ``dtype``.

    Spearman's correlation ranks every entry, so it needs the matrices themselves: ask for it through
    ``layer_matrices.agreement_records`` instead."""
    check_known(measures)
    if "spearman" in measures:
        raise ValueError("Spearman's correlation needs the whole matrices; use layer_matrices.agreement_records")
    if not (all_finite(weight) and all_finite(gradient)):
        nothing = dict.fromkeys(measures, math.nan)
        return {Relation.FACT: nothing, Relation.BFACT: dict(nothing)}
    residual = gradient.double() + weight_decay * weight.double()  # before any rounding to ``dtype``
    W, G, D = (matrix.to(dtype) for matrix in (weight, gradient, residual))
    if W.shape[0] <= W.shape[1]:
        forward, backward = _moments(W, G, D, weight_decay)
    else:  # the rows of W^T are the shorter ones
        backward, forward = _moments(W.T, G.T, D.T, weight_decay)
    return {Relation.FACT: measures_of(forward, measures), Relation.BFACT: measures_of(backward, measures)}


def _moments(X: torch.Tensor, Y: torch.Tensor, Z: torch.Tensor, weight_decay: float) -> tuple[SideMoments, SideMoments]:
    """The moments of (A = X^T X, B = -X^T Y / lambda) and of (A = X X^T, B = -Y X^T / lambda), where
    Z = Y + lambda X and X has no more rows than columns: the second side is formed, the first is not."""
    rows, columns = X.shape
    P = X @ X.T
    Q = Y @ X.T
    aa = inner(P, P)
    bb_wide = inner(P, Y @ Y.T) / weight_decay**2
    residual_wide = inner(P, Z @ Z.T) / weight_decay**2
    row_sums_x, row_sums_y = X.sum(dim=1, dtype=torch.float64), Y.sum(dim=1, dtype=torch.float64)
    wide = SideMoments(
        aa=aa,
        ab=(aa + bb_wide - residual_wide) / 2,
        bb=bb_wide,
        residual=residual_wide,
        sum_a=float(row_sums_x @ row_sums_x),
        sum_b=-float(row_sums_x @ row_sums_y) / weight_decay,
        entries=columns * columns,
    )
    narrow_residual = Z @ X.T  # from the residual itself: Q + lambda P would cancel near a critical point
    narrow = SideMoments(
        aa=aa,
        ab=-inner(P, Q) / weight_decay,
        bb=inner(Q, Q) / weight_decay**2,
        residual=inner(narrow_residual, narrow_residual) / weight_decay**2,
        sum_a=float(P.sum(dtype=torch.float64)),
        sum_b=-float(Q.sum(dtype=torch.float64)) / weight_decay,
        entries=rows * rows,
    )
    return wide, narrow
