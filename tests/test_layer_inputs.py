"""fact.layer_inputs: what each layer multiplies, and a user's own module registered."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from fact import layer_inputs
from fact.matrices import feature_matrices
from fact.metrics import relative_error


class Scaled(nn.Module):
    """A user's layer: a weight acting on the last dimension, like nn.Linear, then a fixed scale."""

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(3, 4, dtype=torch.float64))

    def forward(self, x):
        return 2 * (x @ self.weight.T)


def test_a_registered_module_joins_every_relation(monkeypatch):
    torch.manual_seed(0)
    monkeypatch.setitem(layer_inputs.KINDS, Scaled, layer_inputs.LayerKind(
        matrix=lambda module: module.weight, inputs=lambda module, x: x,
        outputs=lambda module, gradient: 2 * gradient))  # output = 2 z: d/dz = 2 d/d(output)
    model = nn.Sequential(Scaled(), nn.Tanh(), nn.Linear(3, 2).double())
    X, Y = torch.randn(10, 4, dtype=torch.float64), torch.randn(10, 2, dtype=torch.float64)
    layers = feature_matrices(model, X, Y, "mse", 1e-2)
    assert set(layers) == {"0", "2"} and layers["0"].weight.shape == (3, 4)
    # FACT from the hooked pass equals the gradient form -(1/lambda) W^T grad_W Lbar
    model.zero_grad()
    nn.functional.mse_loss(model(X), Y, reduction="none").mean(1).mean().backward()
    expected = -(model[0].weight.T @ model[0].weight.grad) / 1e-2
    assert relative_error(layers["0"].fact, expected.detach()) < 1e-12


def test_a_one_dimensional_convolution_is_a_two_dimensional_one_of_width_one():
    conv = nn.Conv1d(2, 3, 3, stride=2, padding=1)
    x = torch.randn(4, 2, 9)
    patches = layer_inputs.CONV1D.inputs(conv, x)
    assert patches.shape == (4, 5, 6)                                   # (n, positions, in * kernel)
    z = patches @ layer_inputs.CONV1D.matrix(conv).T + conv.bias
    assert torch.allclose(z, layer_inputs.CONV1D.outputs(conv, conv(x)), atol=1e-6)


def test_a_convolution_it_cannot_unfold_is_refused_with_what_to_do():
    model = nn.Sequential(nn.Conv2d(2, 2, 3, groups=2), nn.Flatten(), nn.Linear(2 * 3 * 3, 1))
    with pytest.raises(ValueError, match="groups=2.*register a LayerKind"):
        feature_matrices(model, torch.randn(3, 2, 5, 5))
