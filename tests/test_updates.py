"""fact.kernel_machines.updates: both FACT updates fix an exact critical point of the kernel objective, and
move M elsewhere."""

from __future__ import annotations

import torch
from torch import nn

from fact.experiments.full_batch import minimise_newton
from fact.kernel_machines.kernel_matrices import kernel_fact
from fact.kernel_machines.kernels import Kernel
from fact.kernel_machines.updates import fact_geom_update, fact_update
from tests.test_kernel_matrices import ridge_fit


def test_both_fact_updates_fix_an_exact_critical_point(fresh_seed):
    """At a minimiser of sum loss + (lambda/2)(||beta||^2 + ||W||^2), M = W^T W = FACT (c_n = 1).

    Minimising over beta in closed form leaves Phi(W) = (lambda/2) tr Y^T (K_W + lambda I)^{-1} Y
    + (lambda/2)||W||^2, which Newton's method drives to a critical point.
    """
    g = torch.Generator().manual_seed(fresh_seed)
    n, d, reg = 14, 3, 0.05
    X = torch.randn(n, d, generator=g, dtype=torch.float64)
    Y = torch.tanh(X[:, :1] * 2) + 0.1 * torch.randn(n, 1, generator=g, dtype=torch.float64)
    kernel = Kernel("gaussian", 1.0)
    holder = nn.Linear(d, d, bias=False).double()
    with torch.no_grad():
        holder.weight.copy_(torch.eye(d))

    def phi(params):
        W = params["weight"]
        K = kernel.matrix(X, X, W.T @ W)
        inverse_Y = torch.linalg.solve(K + reg * torch.eye(n, dtype=X.dtype), Y)
        return reg / 2 * (Y * inverse_Y).sum() + reg / 2 * (W**2).sum()

    result = minimise_newton(holder, phi, grad_tol=1e-12, max_iterations=300)
    # Phi depends on W only through W^T W: its flat rotations stop Newton near 1e-9, where
    # descent is below the objective's rounding; FACT's error is then ~ 1e-9 / reg.
    assert result.grad_norm < 1e-8, f"seed={fresh_seed}"
    W = holder.weight.detach()
    M = W.T @ W
    assert M.norm() > 0.1, f"seed={fresh_seed}: converged to the trivial critical point W = 0"
    alpha = ridge_fit(kernel, X, Y, M, reg)
    F = kernel_fact(X, alpha, M, kernel, scale="1")
    assert torch.allclose(F, M, rtol=1e-6, atol=1e-8), f"seed={fresh_seed}"
    assert torch.allclose(fact_update(F), M, rtol=1e-6, atol=1e-8), f"seed={fresh_seed}"
    assert torch.allclose(fact_geom_update(F, M), M, rtol=1e-6, atol=1e-8), f"seed={fresh_seed}"
    # away from the critical point the updates move M
    assert not torch.allclose(
        fact_update(kernel_fact(X, alpha, M + 0.3 * torch.eye(d), kernel, scale="1")), M + 0.3 * torch.eye(d), rtol=1e-3
    )
