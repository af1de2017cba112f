"""fact.kernel_machines.kernels: kernel values and exact predictor gradients against autograd, in float64."""

from __future__ import annotations

import pytest
import torch
from torch.func import jacrev, vmap

from fact.kernel_machines import kernels
from fact.kernel_machines.kernels import KERNELS, Kernel, squared_distances
from tests.support.kernels import KERNEL_CASES, random_problem, reference_kernel


@pytest.mark.parametrize("kernel", KERNEL_CASES, ids=lambda k: f"{k.name}-{k.gaussian_convention}")
def test_kernel_matrix_matches_the_definition(kernel, fresh_seed):
    X, Q, _, M = random_problem(fresh_seed)
    expected = torch.stack([reference_kernel(kernel, q, X, M) for q in Q])
    assert torch.allclose(kernel.matrix(Q, X, M), expected, rtol=1e-12, atol=1e-13), f"seed={fresh_seed}"


@pytest.mark.parametrize("kernel", KERNEL_CASES, ids=lambda k: f"{k.name}-{k.gaussian_convention}")
def test_predictor_gradients_match_autograd(kernel, fresh_seed):
    X, Q, alpha, M = random_problem(fresh_seed)

    def f(x):
        return reference_kernel(kernel, x, X, M) @ alpha

    for queries in (Q, X):  # X: every query coincides with one centre
        expected = vmap(jacrev(f))(queries).transpose(1, 2)  # (q, d, c)
        got = kernel.predictor_gradients(queries, X, alpha, M, batch_size=4)
        assert torch.isfinite(got).all()
        assert torch.allclose(got, expected, rtol=1e-10, atol=1e-12), f"seed={fresh_seed}"


def test_laplace_self_pairs_are_exact_zeros_despite_rounding(fresh_seed):
    X, _, _, M = random_problem(fresh_seed, n=30)
    X = X * 1e3  # large norms: the expanded distance formula leaves rounding residue on the diagonal
    sq = squared_distances(X, X, M)
    assert torch.equal(torch.diagonal(sq), torch.zeros(30, dtype=torch.float64))
    assert (sq + torch.eye(30) > 0).all()


@pytest.mark.parametrize("mask_elements", [1, 2**24])  # one row per block, or all
def test_a_far_point_does_not_zero_the_distances_of_near_ones(fresh_seed, mask_elements, monkeypatch):
    monkeypatch.setattr(kernels, "_MASK_ELEMENTS", mask_elements)
    torch.manual_seed(fresh_seed)
    X = torch.randn(20, 4, dtype=torch.float32) * 0.05  # near points, squared distances ~1e-2
    X[0] = 1e3  # one outlier with squared norm 4e6
    sq = squared_distances(X, X, torch.eye(4))
    exact = ((X[:, None, :].double() - X[None, :, :].double()) ** 2).sum(-1)
    off_diagonal = ~torch.eye(20, dtype=torch.bool)
    assert (sq[1:, 1:][off_diagonal[1:, 1:]] > 0).all(), f"seed={fresh_seed}"
    assert torch.allclose(sq[1:, 1:].double(), exact[1:, 1:], rtol=1e-3, atol=1e-6)


@pytest.mark.parametrize("mask_elements", [1, 7, 2**24])
def test_rounding_residue_is_cleared_the_same_in_row_blocks(fresh_seed, mask_elements, monkeypatch):
    X, _, _, M = random_problem(fresh_seed, n=30)
    X = X * 1e3
    monkeypatch.setattr(kernels, "_MASK_ELEMENTS", mask_elements)  # one row, a few rows, all rows per block
    sq = squared_distances(X, X[:25], M)
    assert torch.equal(torch.diagonal(sq[:25]), torch.zeros(25, dtype=torch.float64)), f"seed={fresh_seed}"
    exact = torch.einsum("ijk,kl,ijl->ij", X[:, None] - X[None, :25], M, X[:, None] - X[None, :25])
    assert torch.allclose(sq, exact, rtol=1e-6, atol=1e-6 * exact.max()), f"seed={fresh_seed}"


def test_unknown_kernels_and_bad_bandwidths_are_refused():
    with pytest.raises(
        ValueError, match=r"unknown kernel 'rbf'.*" + str(list(KERNELS)).replace("[", r"\[").replace("]", r"\]")
    ):
        Kernel("rbf")
    with pytest.raises(ValueError, match="needs a bandwidth > 0"):
        Kernel("laplace", 0.0)
    with pytest.raises(ValueError, match="gaussian_convention"):
        Kernel("gaussian", 1.0, "2L")
