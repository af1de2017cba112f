"""Small linear-algebra helpers shared by the matrix library and the RFM code."""

from __future__ import annotations

import torch


def sym_power(matrix: torch.Tensor, power: float) -> torch.Tensor:
    """Power of a symmetric positive semi-definite matrix by eigendecomposition.

    The matrix is symmetrised first (it may carry float rounding) and negative
    eigenvalues, which can only come from rounding or from a matrix that is not
    PSD, are clipped to zero before the power is taken.

    Parameters
    ----------
    matrix : (d, d) tensor
        Symmetric, ideally PSD.
    power : float
        Exponent; 1/2 gives the PSD square root. A negative power is refused,
        since clipped zero eigenvalues have no negative power.
    """
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"sym_power needs a square matrix, got shape {tuple(matrix.shape)}")
    if power < 0:
        raise ValueError(f"sym_power takes a power >= 0, got {power}")
    if power == 1:
        return (matrix + matrix.T) / 2
    eigenvalues, eigenvectors = torch.linalg.eigh((matrix + matrix.T) / 2)
    scaled = _drop_rounding(eigenvalues.clamp(min=0)) ** power
    return (eigenvectors * scaled) @ eigenvectors.T


def _drop_rounding(values: torch.Tensor, size: int | None = None) -> torch.Tensor:
    """Set values below d * eps * max to exactly 0 (d: the matrix's size, ``len(values)`` unless given).

    They are rounding noise of a rank-deficient matrix, and a fractional power would blow
    them up (the 1/4 power turns 1e-36 into 1e-9), making results depend on the hardware.
    """
    cutoff = (size or len(values)) * torch.finfo(values.dtype).eps * values.abs().max()
    return torch.where(values.abs() > cutoff, values, torch.zeros_like(values))


def gram_power(matrix: torch.Tensor, power: float) -> torch.Tensor:
    """(A A^T)^power from the SVD A = U S V^T, as U S^{2 power} U^T.

    Forming A A^T first would square the condition number: an eigenvalue s^2 below
    eps * ||A||^2 is lost to rounding, and its root comes back with an error of order
    sqrt(eps) * ||A||. The SVD keeps small singular values to about eps * ||A||.
    """
    if matrix.ndim != 2:
        raise ValueError(f"gram_power needs a matrix, got shape {tuple(matrix.shape)}")
    U, S, _ = torch.linalg.svd(matrix, full_matrices=False)
    return (U * _drop_rounding(S) ** (2 * power)) @ U.T


def psd_sqrt_of_gram(matrix: torch.Tensor) -> torch.Tensor:
    """(A A^T)^{1/2}: the symmetric PSD polar factor of a square matrix A."""
    return gram_power(matrix, 0.5)


def gram(rows: torch.Tensor, panels: int = 4) -> torch.Tensor:
    """rows^T rows for an (m, d) matrix, computing only the upper triangle of blocks.

    A Gram matrix is symmetric, but a plain product computes both triangles; PyTorch has
    no symmetric rank-k product (BLAS syrk). Splitting the d columns into ``panels``
    panels and multiplying each panel by the columns from its own onwards does
    (p + 1) / (2 p) of the work (5/8 for 4 panels) in ``panels`` large products, and the
    lower triangle is copied from the upper one. Narrow matrices, where the panels would
    be too thin to run at full speed, take the plain product.
    """
    if rows.ndim != 2:
        raise ValueError(f"gram needs a matrix of rows, got shape {tuple(rows.shape)}")
    d = rows.shape[1]
    panels = min(panels, d // 64)
    if panels <= 1:
        return rows.T @ rows
    result = torch.empty(d, d, dtype=rows.dtype, device=rows.device)
    edges = [round(index * d / panels) for index in range(panels + 1)]
    for start, stop in zip(edges[:-1], edges[1:]):
        block_row = rows[:, start:stop].T @ rows[:, start:]  # (stop - start) x (d - start)
        result[start:stop, start:] = block_row
        result[stop:, start:stop] = block_row[:, stop - start :].T
    return result


def factored_sym_power(A: torch.Tensor, C: torch.Tensor, power: float) -> torch.Tensor:
    """(A C A^T)^power for A (d x r) and a symmetric C (r x r), r < d, without any d x d decomposition.

    A C A^T has rank at most r: with the thin QR A = Q R it is Q (R C R^T) Q^T, so its eigenvectors are
    Q times those of the r x r matrix R C R^T, and its power costs d r^2 and one d x d product instead of
    the d^3 of an eigendecomposition. Negative and rounding-level eigenvalues are treated as in ``sym_power``.
    """
    Q, R = torch.linalg.qr(A)
    core = core_power(R @ C @ R.T, power, len(A))
    return Q @ core @ Q.T


def core_power(core: torch.Tensor, power: float, size: int) -> torch.Tensor:
    """``sym_power`` of the r x r ``core`` of a d x d matrix Q core Q^T (Q with orthonormal columns, d = ``size``):
    the core of its power, rounding-level eigenvalues judged at the d x d matrix's size."""
    if power < 0:
        raise ValueError(f"factored_sym_power takes a power >= 0, got {power}")
    symmetric = (core + core.T) / 2
    if power == 1:
        return symmetric
    eigenvalues, eigenvectors = torch.linalg.eigh(symmetric)
    scaled = _drop_rounding(eigenvalues.clamp(min=0), size) ** power
    return (eigenvectors * scaled) @ eigenvectors.T


def congruence_power(A: torch.Tensor, C: torch.Tensor, power: float) -> torch.Tensor:
    """(A C A^T)^power for A (d x r) and a symmetric C (r x r): at rank r (``factored_sym_power``) where r < d,
    by ``sym_power`` of the formed matrix otherwise."""
    return factored_sym_power(A, C, power) if A.shape[1] < A.shape[0] else sym_power(A @ C @ A.T, power)


def product_gram_power(U: torch.Tensor, V: torch.Tensor, power: float) -> torch.Tensor:
    """(F F^T)^power of F = U V^T (U, V: d x r, r < d), as ``gram_power`` gives it, without forming F.

    With thin QRs U = Q_u R_u and V = Q_v R_v, F = Q_u (R_u R_v^T) Q_v^T, so F's left singular vectors are
    Q_u times those of the r x r core and its singular values the core's: d r^2 work and one d x d product.
    """
    Q_u, R_u = torch.linalg.qr(U)
    _, R_v = torch.linalg.qr(V)
    left, S, _ = torch.linalg.svd(R_u @ R_v.T)
    vectors = Q_u @ left
    return (vectors * _drop_rounding(S, len(U)) ** (2 * power)) @ vectors.T
