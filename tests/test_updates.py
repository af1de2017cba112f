"""fact.kernel_machines.updates: both FACT updates fix an exact critical point of the kernel objective, and
move M elsewhere."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from fact.experiments.full_batch import minimise_newton
from fact.features.linalg import sym_power
from fact.features.metrics import relative_error
from fact.kernel_machines.kernel_matrices import kernel_agop, kernel_agop_parts, kernel_fact, kernel_fact_factors
from fact.kernel_machines.kernels import Kernel
from fact.kernel_machines.updates import fact_geom_update, fact_update, nfa_update
from tests.support.kernels import random_problem, ridge_fit


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


@pytest.mark.parametrize("kernel", [Kernel("laplace", 3.0), Kernel("gaussian", 3.0), Kernel("quadratic", 1.0)])
def test_with_fewer_points_than_features_the_updates_at_rank_n_are_the_dense_ones(kernel, fresh_seed):
    """n < d: the AGOP and F have rank n, and the updates take their powers from n-column factors."""
    X, _, alpha, M = random_problem(fresh_seed, n=7, d=16, c=2)
    parts = kernel_agop_parts(X, alpha, M, kernel, True, None, None, None, None)
    assert isinstance(parts, tuple) and parts[0].shape == (16, 7)
    agop = kernel_agop(X, alpha, M, kernel, centre=True)
    for power in (0.5, 1.0):
        assert relative_error(nfa_update(parts, power), sym_power(agop, power)) < 1e-8, f"seed={fresh_seed}"
    factors = kernel_fact_factors(X, alpha, M, kernel, "1/n", None, None)
    F = kernel_fact(X, alpha, M, kernel)
    assert relative_error(fact_update(factors), fact_update(F)) < 1e-8, f"seed={fresh_seed}"
    assert relative_error(fact_geom_update(factors, M), fact_geom_update(F, M)) < 1e-8, f"seed={fresh_seed}"
    assert relative_error(fact_geom_update(factors, M), fact_update(F)) > 1e-3  # the two updates differ
