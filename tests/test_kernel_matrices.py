"""fact.kernel_machines.kernel_matrices: the kernel AGOP and FACT matrix against autograd and the ridge
objective, Proposition 5.1."""

from __future__ import annotations

import pytest
import torch

from fact.features.metrics import relative_error
from fact.kernel_machines.kernel_matrices import kernel_agop, kernel_fact
from fact.kernel_machines.kernels import Kernel
from tests.support.kernels import KERNEL_CASES, random_problem, reference_kernel, ridge_fit

IDS = lambda k: f"{k.name}-{k.gaussian_convention}"  # noqa: E731


@pytest.mark.parametrize("kernel", KERNEL_CASES, ids=IDS)
def test_kernel_fact_is_the_fact_matrix_of_the_ridge_objective(kernel, fresh_seed):
    """lambda * kernel_fact (c_n = 1/n) = -(1/n) sum_i grad_{x_i} J x_i^T, J the squared-loss objective.

    The gradient is in the first kernel argument only (centres held fixed, Lemma F.1), taken
    by autograd from J = sum_i (1/2)||f(x_i) - y_i||^2 with no use of Lemma F.2.
    """
    X, _, _, M = random_problem(fresh_seed)
    Y = torch.randn(len(X), 3, generator=torch.Generator().manual_seed(fresh_seed + 1), dtype=torch.float64)
    reg = 0.3
    alpha = ridge_fit(kernel, X, Y, M, reg)

    def J(queries):
        outputs = torch.stack([reference_kernel(kernel, q, X, M) @ alpha for q in queries])
        return 0.5 * ((outputs - Y) ** 2).sum()

    grads = torch.func.grad(J)(X.clone())
    expected = -(grads.T @ X) / len(X)
    got = kernel_fact(X, alpha, M, kernel, scale="1/n")
    assert torch.allclose(reg * got, expected, rtol=1e-9, atol=1e-12), f"seed={fresh_seed}"
    # the opposite sign, or the other constant, would not pass
    assert not torch.allclose(-reg * got, expected, rtol=1e-3, atol=1e-6)
    assert torch.allclose(kernel_fact(X, alpha, M, kernel, scale="1"), len(X) * got, rtol=1e-12)
    # batches sum in another order: equal to rounding, measured against the matrix (an entry near zero
    # can differ by more than 1e-15 relative to itself)
    assert relative_error(kernel_fact(X, alpha, M, kernel, batch_size=5), got) < 1e-13


# n < d c takes the AGOP's n x n expansion, n > d c the per-point gradients: both are checked, the first also
# with fewer points than features (the AGOP's rank then below d)
SHAPES = {
    "gram": {"n": 12, "d": 5, "c": 3},
    "gram, n < d": {"n": 6, "d": 10, "c": 2},
    "gradients": {"n": 40, "d": 3, "c": 2},
}


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("kernel", KERNEL_CASES, ids=IDS)
def test_kernel_agop_matches_autograd_and_is_symmetric_psd(kernel, shape, fresh_seed):
    X, _, alpha, M = random_problem(fresh_seed, **SHAPES[shape])
    jac = torch.func.vmap(torch.func.jacrev(lambda x: reference_kernel(kernel, x, X, M) @ alpha))(X)  # (n, c, d)
    expected = torch.einsum("ncd,nce->de", jac, jac) / len(X)
    agop = kernel_agop(X, alpha, M, kernel, batch_size=5)
    assert torch.allclose(agop, expected, rtol=1e-10, atol=1e-12), f"seed={fresh_seed}"
    assert torch.allclose(agop, agop.T)
    eigenvalues = torch.linalg.eigvalsh(agop)  # PSD up to rounding, which scales with the AGOP's size
    assert eigenvalues.min() > -1e-12 * max(1.0, float(eigenvalues.max())), f"seed={fresh_seed}"
    centred = jac - jac.mean(0, keepdim=True)
    assert torch.allclose(
        kernel_agop(X, alpha, M, kernel, centre=True),
        torch.einsum("ncd,nce->de", centred, centred) / len(X),
        rtol=1e-10,
        atol=1e-12,
    )


def test_the_agop_expansion_on_a_subsample_is_the_subsamples_agop(fresh_seed):
    X, _, alpha, M = random_problem(fresh_seed, n=12, d=10, c=2)
    kernel = Kernel("laplace", 2.0)
    sub = kernel_agop(X, alpha, M, kernel, max_samples=5, generator=torch.Generator().manual_seed(0), centre=True)
    chosen = torch.randperm(12, generator=torch.Generator().manual_seed(0))[:5]
    jac = torch.func.vmap(torch.func.jacrev(lambda x: reference_kernel(kernel, x, X, M) @ alpha))(X[chosen])
    centred = jac - jac.mean(0, keepdim=True)
    assert relative_error(sub, torch.einsum("ncd,nce->de", centred, centred) / 5) < 1e-10, f"seed={fresh_seed}"


def test_agop_subsample_uses_the_requested_number_of_points(fresh_seed):
    X, _, alpha, M = random_problem(fresh_seed, n=20)
    generator = torch.Generator().manual_seed(0)
    sub = kernel_agop(X, alpha, M, "laplace", 2.0, max_samples=7, generator=generator)
    chosen = torch.randperm(20, generator=torch.Generator().manual_seed(0))[:7]
    G = Kernel("laplace", 2.0).predictor_gradients(X[chosen], X, alpha, M)
    assert torch.allclose(sub, torch.einsum("ndc,nec->de", G, G) / 7)


@pytest.mark.parametrize("name", ["quadratic", "exp_inner"])
def test_proposition_5_1_closed_forms(name, fresh_seed):
    X, _, alpha, M = random_problem(fresh_seed, d=4)
    kernel = Kernel(name)
    K_prime = kernel.derivative_matrix(X, X, M)
    AAt = alpha @ alpha.T
    n = len(X)
    T = K_prime.T @ K_prime / n
    assert torch.allclose(kernel_agop(X, alpha, M, kernel), M @ X.T @ (T * AAt) @ X @ M, rtol=1e-10)
    FM = kernel_fact(X, alpha, M, kernel) @ M
    assert torch.allclose(FM, M @ X.T @ (K_prime * AAt) @ X @ M / n, rtol=1e-10)
    assert torch.allclose(FM, FM.T, atol=1e-12)  # FACT . M is symmetric for inner-product kernels


@pytest.mark.parametrize("kernel", [Kernel("laplace", 2.0), Kernel("gaussian", 1.5), Kernel("quadratic")], ids=IDS)
def test_the_agop_expansion_is_as_accurate_in_float32_as_the_gradients(kernel, fresh_seed):
    """The n x n expansion subtracts terms of the size of |x|^2 |s|^2; centring the data keeps that
    from costing precision when the points sit far from the origin (radial kernels)."""
    X, _, alpha, M = random_problem(fresh_seed, n=16, d=6, c=4)
    assert len(X) < X.shape[1] * alpha.shape[1]  # the expansion's route
    if kernel.radial:
        X = X + 30.0

    def agop(G):
        return torch.einsum("ndc,nec->de", G, G).double() / len(X)

    exact = agop(kernel.predictor_gradients(X, X, alpha, M))
    single = X.float(), alpha.float(), M.float()
    by_gradients = agop(kernel.predictor_gradients(single[0], *single))
    by_expansion = kernel_agop(*single, kernel, batch_size=5).double()
    error = lambda got: float(torch.linalg.matrix_norm(got - exact) / torch.linalg.matrix_norm(exact))  # noqa: E731
    assert error(by_expansion) <= 2 * error(by_gradients) + 1e-6, f"seed={fresh_seed}"
