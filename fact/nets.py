"""The model families of the paper: ReLU MLPs, deep linear networks, the two-layer quadratic network."""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn


class QuadraticNet(nn.Module):
    """Two-layer network with quadratic activation, f(x) = sum_j a_j (w_j^T x)^2 (spec section 4.7).

    Both weight matrices are bias-free ``nn.Linear`` layers, so ``fact.matrices`` sees
    ``hidden`` (W, m x d) and ``readout`` (a^T, 1 x m). Outputs have shape (batch, 1).
    """

    def __init__(self, d: int, width: int):
        super().__init__()
        self.hidden = nn.Linear(d, width, bias=False)
        self.readout = nn.Linear(width, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.readout(self.hidden(x) ** 2)


def mlp(d_in: int, width: int, d_out: int, depth: int = 5, bias: bool = True) -> nn.Sequential:
    """Fully connected ReLU network with ``depth`` weight matrices (the paper's "5-layer" MLP),
    PyTorch's default initialisation. Layers are named linear1..linear<depth>."""
    if depth < 1:
        raise ValueError(f"depth must be at least 1, got {depth}")
    sizes = [d_in] + [width] * (depth - 1) + [d_out]
    layers: list[tuple[str, nn.Module]] = []
    for i in range(depth):
        layers.append((f"linear{i + 1}", nn.Linear(sizes[i], sizes[i + 1], bias=bias)))
        if i < depth - 1:
            layers.append((f"relu{i + 1}", nn.ReLU()))
    return nn.Sequential(OrderedDict(layers))


def deep_linear(d: int, depth: int, width: int | None = None, d_out: int | None = None) -> nn.Sequential:
    """f(x) = W_L ... W_1 x without biases (spec section 4.11); hidden width d unless given."""
    if depth < 1:
        raise ValueError(f"depth must be at least 1, got {depth}")
    width = width or d
    sizes = [d] + [width] * (depth - 1) + [d_out or d]
    return nn.Sequential(OrderedDict((f"linear{i + 1}", nn.Linear(sizes[i], sizes[i + 1], bias=False))
                                     for i in range(depth)))
