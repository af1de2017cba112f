"""Shared fixtures: small float64 networks trained to exact critical points."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from fact.full_batch import minimise_newton, regularised_objective


def small_mlp(seed: int, biases=(True, False, True), widths=(4, 7, 5, 3)) -> nn.Sequential:
    """A tanh MLP in float64 whose layers mix biased and bias-free matrices."""
    torch.manual_seed(seed)
    layers: list[nn.Module] = []
    for index, (d_in, d_out) in enumerate(zip(widths[:-1], widths[1:])):
        layers.append(nn.Linear(d_in, d_out, bias=biases[index]))
        if index < len(widths) - 2:
            layers.append(nn.Tanh())
    return nn.Sequential(*layers).double()


def train_to_critical_point(model: nn.Module, inputs, targets, loss_fn, weight_decay: float) -> float:
    """Minimise (1/n) sum loss_i + (lambda/2)||theta||^2 by damped Newton; return the final gradient norm."""
    result = minimise_newton(
        model, lambda params: regularised_objective(model, inputs, targets, loss_fn, weight_decay, params),
        grad_tol=1e-11, max_iterations=200)
    return result.grad_norm


@pytest.fixture
def fresh_seed() -> int:
    """A new seed every run, reported on failure, so the identities are tested on fresh inputs."""
    return int(torch.randint(0, 2**31 - 1, (1,), generator=torch.Generator().manual_seed(torch.seed())).item())
