"""Our RFM reproduces the peers' feature matrix with the settings docs/estimators.md gives for each: one
iteration of the Laplace RFM of aradha/recursive_feature_machines (``LaplaceRFM``, whose M is the AGOP over
its maximum entry, optionally of centred gradients), written out here from its equations in float64."""

from __future__ import annotations

import pytest
import torch

from fact.kernel_machines.rfm import RFM

BANDWIDTH, REG = 3.0, 1e-3


def peer_laplace_iteration(X: torch.Tensor, Y: torch.Tensor, M: torch.Tensor, centre: bool) -> torch.Tensor:
    """One update of the peer's LaplaceRFM from M: solve (K_M + reg I) alpha = Y with
    K_M(x, z) = exp(-||x - z||_M / L), take every training point's gradient of f = K_M(., X) alpha,
    sum their outer products (centred across points if asked) and divide by the largest entry."""
    differences = X[:, None, :] - X[None, :, :]  # (n, n, d): x_i - z_j
    distances = torch.einsum("ijd,de,ije->ij", differences, M, differences).clamp(min=0).sqrt()
    K = torch.exp(-distances / BANDWIDTH)
    alpha = torch.linalg.solve(K + REG * torch.eye(len(X), dtype=X.dtype), Y)  # (n, c)
    weight = torch.where(distances > 1e-10, K / distances, torch.zeros_like(K))  # x_i = z_i adds nothing
    # grad_i f_l = -(1/L) sum_j alpha_jl K_ij / dist_ij M (x_i - z_j)
    gradients = -torch.einsum("ij,jl,ijd,de->ild", weight, alpha, differences, M) / BANDWIDTH  # (n, c, d)
    if centre:
        gradients = gradients - gradients.mean(0)
    agop = torch.einsum("icd,ice->de", gradients, gradients)
    return agop / agop.max()


@pytest.mark.parametrize("centre", [False, True])
def test_one_iteration_reproduces_the_peers_laplace_rfm(fresh_seed, centre):
    generator = torch.Generator().manual_seed(fresh_seed)
    X = torch.randn(60, 5, generator=generator, dtype=torch.float64)
    y = X[:, 0] * X[:, 1] + torch.sin(X[:, 2])
    M0 = torch.eye(5, dtype=torch.float64)
    expected = peer_laplace_iteration(X, y[:, None], M0, centre)
    model = RFM(
        kernel="laplace", bandwidth=BANDWIDTH, reg=REG, update="nfa", power=1.0, normalisation="max", centre=centre,
        iters=1, task="regression", keep_matrices=True,
    )  # fmt: skip
    model.fit(X.numpy(), y.numpy())
    ours = torch.as_tensor(model.M_history_[1], dtype=torch.float64)
    assert torch.allclose(ours, expected, rtol=1e-9, atol=1e-12), f"seed={fresh_seed}: {(ours - expected).abs().max()}"
    default = RFM(kernel="laplace", bandwidth=BANDWIDTH, reg=REG, iters=1, task="regression", keep_matrices=True)
    default.fit(X.numpy(), y.numpy())  # our default, AGOP^1/2 unnormalised, is another matrix
    assert not torch.allclose(torch.as_tensor(default.M_history_[1], dtype=torch.float64), expected, rtol=1e-3)
