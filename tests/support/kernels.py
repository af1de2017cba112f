"""Kernel test problems, a direct reference kernel, and a plain ridge fit to compare the library's with."""

from __future__ import annotations

import torch

from fact.kernel_machines.kernels import Kernel


def ridge_fit(kernel: Kernel, X, Y, M, reg):
    K = kernel.matrix(X, X, M)
    return torch.linalg.solve(K + reg * torch.eye(len(X), dtype=X.dtype), Y)


KERNEL_CASES = [
    Kernel("laplace", 2.0),
    Kernel("gaussian", 1.5),
    Kernel("gaussian", 3.0, "L"),
    Kernel("quadratic"),
    Kernel("exp_inner"),
]


def random_problem(seed: int, n=12, d=5, c=3, q=6):
    g = torch.Generator().manual_seed(seed)
    # half-unit scale keeps exp(x^T M z) and the ridge systems built on it well conditioned
    X = torch.randn(n, d, generator=g, dtype=torch.float64) / 2
    Q = torch.randn(q, d, generator=g, dtype=torch.float64) / 2
    alpha = torch.randn(n, c, generator=g, dtype=torch.float64)
    B = torch.randn(d, d, generator=g, dtype=torch.float64) / d**0.5
    M = B @ B.T + 0.1 * torch.eye(d, dtype=torch.float64)
    return X, Q, alpha, M


def reference_kernel(kernel: Kernel, x: torch.Tensor, X: torch.Tensor, M: torch.Tensor) -> torch.Tensor:
    """K(x, x_j) for one point, written from the definitions with explicit differences."""
    if kernel.name in ("quadratic", "exp_inner"):
        t = X @ (M @ x)
        return t**2 if kernel.name == "quadratic" else torch.exp(t)
    diff = x[None, :] - X
    sq = torch.einsum("jd,de,je->j", diff, M, diff)
    if kernel.name == "gaussian":
        scale = 2 * kernel.bandwidth**2 if kernel.gaussian_convention == "2L^2" else kernel.bandwidth
        return torch.exp(-sq / scale)
    # Laplace: a sqrt whose gradient is 0 (not NaN) at coinciding points, the module's convention
    positive = sq > 0
    distance = torch.where(positive, torch.where(positive, sq, 1.0).sqrt(), 0.0)
    return torch.exp(-distance / kernel.bandwidth)
