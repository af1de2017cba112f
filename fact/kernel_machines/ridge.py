"""The ridge solve alpha = (K + reg I)^{-1} Y of a kernel machine, and its memory policy.

Large problems are bounded by the n x n kernel matrix: the solve can factorise it in its own
storage (no second n x n array), a fit whose one kernel matrix, or whose d x d feature matrices,
would not fit in free memory is refused before any work, and a factorisation that fails in
float32 is retried in float64, then replaced by a pseudo-inverse, each said in the log.
"""

from __future__ import annotations

import logging
import warnings

import torch

from fact.features.free_memory import free_memory

log = logging.getLogger(__name__)


def require_kernel_memory(n: int, dtype: torch.dtype, device: torch.device, what: str = "an RFM fit") -> None:
    """Refuse, before any work, a fit whose one n x n kernel matrix cannot fit in free memory
    (the least the low-memory path needs), rather than fail or swap hours later."""
    needed = n * n * torch.finfo(dtype).bits // 8
    free = free_memory(device)
    if needed > 0.95 * free:
        # float32 halves the matrix; advise it only where it is not already in use
        remedies = [
            "run it on a device with more memory (device: cuda)",
            *(["use dtype float32"] if dtype == torch.float64 else []),
            "fit fewer points",
        ]
        raise MemoryError(
            f"{what} on {n} points needs a {n} x {n} kernel matrix, {needed / 2**30:.1f} GiB of "
            f"{device.type} memory, but {free / 2**30:.1f} GiB are free: "
            f"{', '.join(remedies[:-1])} or {remedies[-1]}"
        )


UPDATE_MATRICES = 4  # d x d matrices an update holds at once: M, the AGOP or FACT matrix, eigenvectors, a product
SLOW_OPERATIONS = {"cpu": 1e13, "cuda": 1e15}  # per iteration, where a fit takes minutes or more


def require_feature_matrix_memory(d: int, n: int, dtype: torch.dtype, device: torch.device) -> None:
    """Refuse, before any work, features whose d x d feature matrices cannot fit in free memory, and say
    when an iteration's products and eigendecompositions will be slow: about 11 d^3 operations, or 6 d^2 n
    where the n points are fewer than the d features (the updates then work at rank n)."""
    needed = UPDATE_MATRICES * d * d * torch.finfo(dtype).bits // 8
    free = free_memory(device)
    advice = "reduce the features (e.g. PCA or feature selection to a few thousand)"
    if needed > 0.8 * free:
        raise MemoryError(
            f"M is {d:,} x {d:,} for {d:,} features, and an update holds about {UPDATE_MATRICES} such matrices: "
            f"{needed / 2**30:.1f} GiB of {device.type} memory, but {free / 2**30:.1f} GiB are free; {advice}"
            + (", or use dtype float32" if dtype == torch.float64 else "")
        )
    operations = 11 * float(d) ** 3 if n >= d else 6 * float(d) ** 2 * n
    if operations > SLOW_OPERATIONS.get(device.type, SLOW_OPERATIONS["cpu"]):
        message = (
            f"M is {d:,} x {d:,} for {n:,} points: each iteration multiplies and decomposes such matrices, "
            f"about {operations:.1e} operations, minutes to hours on {device.type}; {advice}"
        )
        log.warning(message)
        warnings.warn(message, RuntimeWarning, stacklevel=4)


class NotPositiveDefiniteError(FloatingPointError):
    """The kernel matrix plus ridge could not be factorised (raise reg, or use float64)."""


def cholesky_in_place(A: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Cholesky factor of a symmetric matrix, written over the matrix's own storage.

    Returns (L, info): L is a lower-triangular view of A's storage (info != 0: not
    positive definite, L unusable). LAPACK and cuSOLVER work on column-major arrays, and a
    row-major ``out=`` would make torch factorise a column-major copy and copy it back (an
    n x n temporary); the transposed view of a symmetric A is the same matrix in column-major
    layout, so factorising that view needs no copy.
    """
    view = A.mT
    factor, info = torch.linalg.cholesky_ex(view, out=(view, torch.empty((), dtype=torch.int32, device=A.device)))
    return factor, int(info)


def cholesky_solve(L: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
    """(L L^T)^{-1} Y by two triangular solves; unlike torch.cholesky_solve, which clones L
    first, this makes no n x n copy of the factor."""
    return torch.linalg.solve_triangular(L.mT, torch.linalg.solve_triangular(L, Y, upper=False), upper=True)


def solve_ridge(K: torch.Tensor, Y: torch.Tensor, reg: float, overwrite: bool = False) -> tuple[torch.Tensor, str]:
    """alpha = (K + reg I)^{-1} Y by Cholesky; returns (alpha, solver used).

    To spare an n x n copy, reg is added to K's diagonal in place and subtracted again
    afterwards, so K's diagonal may differ from before by a rounding error. With
    ``overwrite`` the factorisation replaces K (the only n x n array of the solve: what
    large problems need), and a failed factorisation raises NotPositiveDefiniteError.

    When K + reg I is not numerically positive definite in float32 (rounding of order
    n * eps * ||K|| can exceed a small ridge), the factorisation is retried in float64.
    When that fails too (ridgeless, duplicated points), the solve falls back to a symmetric
    eigendecomposition and the pseudo-inverse (eigenvalues below n * eps * max |eigenvalue|
    dropped), and says so in the log.
    """
    K.diagonal().add_(reg)
    if overwrite:
        factor, info = cholesky_in_place(K)
        if info != 0:
            raise NotPositiveDefiniteError(
                f"kernel matrix + reg I is not numerically positive definite (reg={reg:g}, {K.dtype}, pivot "
                f"{info}) and was factorised in place to save memory: raise reg or use dtype float64"
            )
        return cholesky_solve(factor, Y), "cholesky (in place)"
    try:
        factor, info = torch.linalg.cholesky_ex(K)
    finally:
        K.diagonal().sub_(reg)
    if int(info) == 0:
        return cholesky_solve(factor, Y), "cholesky"
    del factor
    if K.dtype != torch.float64:
        wide = K.double()
        wide.diagonal().add_(reg)
        factor, info = cholesky_in_place(wide)
        if info == 0:
            log.info("float32 Cholesky of kernel matrix + reg I failed (reg=%g); solved in float64", reg)
            return cholesky_solve(factor, Y.double()).to(K.dtype), "cholesky (float64)"
        del wide, factor
    log.warning(
        "kernel matrix + reg I is not positive definite (reg=%g, pivot %d): solving by "
        "eigendecomposition and pseudo-inverse; raise reg or use float64 to avoid this",
        reg,
        int(info),
    )
    A = (K + K.T) / 2
    A.diagonal().add_(reg)
    eigenvalues, eigenvectors = torch.linalg.eigh(A)
    cutoff = len(A) * torch.finfo(A.dtype).eps * eigenvalues.abs().max()
    inverse = torch.where(eigenvalues.abs() > cutoff, 1.0 / eigenvalues, torch.zeros_like(eigenvalues))
    return eigenvectors @ (inverse[:, None] * (eigenvectors.T @ Y)), "pseudo-inverse"


def needs_low_memory(setting: bool | str, n: int, dtype: torch.dtype, device: torch.device) -> bool:
    """Whether an RFM fit of n points takes the low-memory path: as ``setting`` says, or with "auto" where
    the n x n arrays of a normal iteration (about four) would not fit in 80% of free memory."""
    if setting != "auto":
        return bool(setting)
    return 4 * n * n * torch.finfo(dtype).bits // 8 > 0.8 * free_memory(device)
