"""fact.experiments.models: the model families have the layers and shapes the stages and matrices expect."""

from __future__ import annotations

import pytest
import torch

from fact.experiments.models import QuadraticNet, deep_linear, mlp


def test_mlp_and_deep_linear_shapes():
    net = mlp(6, 16, 3, depth=5)
    assert [name for name, m in net.named_children() if isinstance(m, torch.nn.Linear)] == [
        f"linear{i}" for i in range(1, 6)
    ]
    assert net(torch.zeros(4, 6)).shape == (4, 3)
    linear = deep_linear(5, depth=3)
    assert all(m.bias is None for m in linear) and linear(torch.zeros(2, 5)).shape == (2, 5)
    with pytest.raises(ValueError, match="depth must be at least 1"):
        mlp(6, 16, 3, depth=0)


def test_the_quadratic_network_is_a_sum_of_squares():
    net = QuadraticNet(3, 4).double()
    x = torch.randn(5, 3, dtype=torch.float64)
    expected = ((x @ net.hidden.weight.T) ** 2) @ net.readout.weight.T
    assert torch.allclose(net(x), expected) and net(x).shape == (5, 1)
