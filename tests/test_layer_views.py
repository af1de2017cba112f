"""fact.features.layer_views: what each layer multiplies, one name per matrix in both passes, and a user's own
module registered."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from fact.features import layer_views
from fact.features.layer_views import LayerView, MatrixView, register_view, single, unregister_view
from fact.features.matrices import feature_matrices
from fact.features.metrics import relative_error
from fact.features.weights import weight_matrices


class Scaled(nn.Module):
    """A user's layer: a weight acting on the last dimension, like nn.Linear, then a fixed scale."""

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(3, 4, dtype=torch.float64))

    def forward(self, x):
        return 2 * (x @ self.weight.T)


@pytest.fixture
def scaled_registered():
    """Scaled seen as z = W h with output 2 z: d/dz = 2 d/d(output)."""
    register_view(Scaled, single(MatrixView("weight", outputs=lambda module, gradient: 2 * gradient)))
    yield
    unregister_view(Scaled)


def test_a_registered_module_joins_every_relation_under_one_name(scaled_registered):
    torch.manual_seed(0)
    model = nn.Sequential(Scaled(), nn.Tanh(), nn.Linear(3, 2).double())
    X, Y = torch.randn(10, 4, dtype=torch.float64), torch.randn(10, 2, dtype=torch.float64)
    layers = feature_matrices(model, X, Y, "mse", 1e-2)
    assert set(layers) == {"0", "2"} and layers["0"].weight.shape == (3, 4)
    # FACT from the hooked pass equals the gradient form -(1/lambda) W^T grad_W Lbar, under the same name
    weights = weight_matrices(model, X, Y, "mse", 1e-2)
    assert set(weights) == {"0", "2"}
    for name in layers:
        assert relative_error(layers[name].fact, weights[name].fact) < 1e-12, name


def test_registering_over_a_view_is_refused_unless_asked():
    with pytest.raises(ValueError, match="Linear already has a registered view; pass overwrite=True"):
        register_view(nn.Linear, layer_views.LINEAR)
    with pytest.raises(TypeError, match="nn.Module subclass"):
        register_view(int, layer_views.LINEAR)
    with pytest.raises(TypeError, match="LayerView"):
        register_view(Scaled, MatrixView("weight"))
    transposed = single(MatrixView("weight", lambda w: w.T))
    register_view(nn.Linear, transposed, overwrite=True)
    try:
        assert layer_views.view_of(nn.Linear(2, 3)) is transposed
    finally:
        register_view(nn.Linear, layer_views.LINEAR, overwrite=True)
    assert layer_views.view_of(nn.Linear(2, 3)) is layer_views.LINEAR


def test_attention_is_a_registered_view_whose_matrices_slice_its_parameters():
    attention = nn.MultiheadAttention(4, 2)
    matrices = layer_views.model_matrices(nn.Sequential(attention))
    assert set(matrices) == {"0[q]", "0[k]", "0[v]", "0.out_proj"}  # out_proj is part of the attention
    assert isinstance(layer_views.view_of(attention), LayerView)
    for index, block in enumerate("qkv"):
        assert torch.equal(matrices[f"0[{block}]"].weight, attention.in_proj_weight[4 * index : 4 * (index + 1)])
        assert matrices[f"0[{block}]"].parameter is attention.in_proj_weight
    assert matrices["0.out_proj"].parameter is attention.out_proj.weight


def test_a_one_dimensional_convolution_is_a_two_dimensional_one_of_width_one():
    conv = nn.Conv1d(2, 3, 3, stride=2, padding=1)
    x = torch.randn(4, 2, 9)
    patches = layer_views.CONV1D.matrices(conv)[""].inputs(conv, x)
    assert patches.shape == (4, 5, 6)  # (n, positions, in * kernel)
    z = patches @ layer_views.CONV1D.matrices(conv)[""].weight(conv).T + conv.bias
    assert torch.allclose(z, layer_views.CONV1D.matrices(conv)[""].outputs(conv, conv(x)), atol=1e-6)


def test_a_convolution_it_cannot_unfold_is_refused_with_what_to_do():
    model = nn.Sequential(nn.Conv2d(2, 2, 3, groups=2), nn.Flatten(), nn.Linear(2 * 3 * 3, 1))
    with pytest.raises(ValueError, match="groups=2.*register a view of this layer"):
        feature_matrices(model, torch.randn(3, 2, 5, 5))


class RightMultiplied(nn.Module):
    """A square weight used as x @ W: the shapes of nn.Linear's view fit, its products do not."""

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(4, 4, dtype=torch.float64))

    def forward(self, x):
        return x @ self.weight


class Doubled(nn.Linear):
    """A subclass of nn.Linear whose own forward the inherited view does not describe."""

    def forward(self, x):
        return 2 * super().forward(x)


@pytest.mark.parametrize(
    "layer, inputs, message",
    [
        (RightMultiplied(), torch.randn(6, 4), r"layer '0' \(RightMultiplied\): the module does not compute W h"),
        (Doubled(4, 4).double(), torch.randn(6, 4), r"layer '0' \(Doubled\): the module does not compute W h"),
    ],
)
def test_a_view_that_does_not_describe_its_module_is_refused_naming_both(layer, inputs, message):
    if not layer_views.registered(RightMultiplied):
        register_view(RightMultiplied, layer_views.LINEAR)
    try:
        model = nn.Sequential(layer, nn.Tanh(), nn.Linear(4, 2).double())
        with pytest.raises(ValueError, match=message + ".*register a view that matches its forward"):
            feature_matrices(model, inputs.double(), torch.randn(6, 2, dtype=torch.float64), "mse", 1e-2)
    finally:
        unregister_view(RightMultiplied)


class PositionsFromMask(nn.Embedding):
    """An embedding whose forward computes its own indices from a float mask (as OPT's learned positions do)."""

    def forward(self, mask):
        return super().forward((torch.cumsum(mask, dim=1) - 1).long().clamp(min=0))


class WithPositions(nn.Module):
    def __init__(self):
        super().__init__()
        self.tokens, self.positions = nn.Embedding(7, 4).double(), PositionsFromMask(5, 4).double()
        self.head = nn.Linear(4, 2).double()

    def forward(self, x):
        return self.head((self.tokens(x) + self.positions(torch.ones(x.shape, dtype=torch.float64))).mean(1))


def test_an_embedding_whose_forward_makes_its_own_indices_is_refused_naming_it_and_what_to_do():
    model, tokens = WithPositions(), torch.randint(0, 7, (6, 3))
    with pytest.raises(ValueError, match=r"layer 'positions' \(PositionsFromMask\): its view cannot read .*layers="):
        feature_matrices(model, tokens, torch.randn(6, 2, dtype=torch.float64), "mse", 1e-2)
    kept = feature_matrices(
        model, tokens, torch.randn(6, 2, dtype=torch.float64), "mse", 1e-2, layers=["tokens", "head"]
    )
    assert set(kept) == {"tokens", "head"}


def test_a_view_of_the_wrong_shape_is_refused_naming_the_layer():
    register_view(RightMultiplied, layer_views.LINEAR)
    try:
        layer = RightMultiplied()
        layer.weight = nn.Parameter(torch.randn(3, 4, dtype=torch.float64))  # x (n, 3) @ W (3, 4)
        model = nn.Sequential(layer, nn.Tanh(), nn.Linear(4, 2).double())
        with pytest.raises(ValueError, match=r"layer '0' \(RightMultiplied\): its view does not fit the module"):
            feature_matrices(model, torch.randn(6, 3, dtype=torch.float64))
    finally:
        unregister_view(RightMultiplied)
