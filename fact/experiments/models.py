"""The model families of the experiments: the paper's ReLU MLPs, deep linear networks and two-layer
quadratic network, and, beyond the paper, a small CNN and a one-block transformer."""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn


class QuadraticNet(nn.Module):
    """Two-layer network with quadratic activation, f(x) = sum_j a_j (w_j^T x)^2.

    Both weight matrices are bias-free ``nn.Linear`` layers, so ``fact.features.matrices`` sees
    ``hidden`` (W, m x d) and ``readout`` (a^T, 1 x m). Outputs have shape (batch, 1).
    """

    def __init__(self, d: int, width: int):
        super().__init__()
        self.hidden = nn.Linear(d, width, bias=False)
        self.readout = nn.Linear(width, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """f(x) = sum_j a_j (w_j^T x)^2, one output per sample."""
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
    """f(x) = W_L ... W_1 x without biases; hidden width d unless given."""
    if depth < 1:
        raise ValueError(f"depth must be at least 1, got {depth}")
    width = width or d
    sizes = [d] + [width] * (depth - 1) + [d_out or d]
    return nn.Sequential(
        OrderedDict((f"linear{i + 1}", nn.Linear(sizes[i], sizes[i + 1], bias=False)) for i in range(depth))
    )


class SmallCNN(nn.Module):
    """Two ReLU convolutions (the second with stride 2) and a linear head, for square images.

    Takes images as (batch, channels, side, side) or flattened as (batch, channels * side * side).
    Layers: ``conv1``, ``conv2`` (3 x 3 kernels, padding 1) and ``head``. ``activation`` replaces
    the ReLU (a smooth one, such as ``nn.Tanh``, lets Newton's method find exact critical points).
    """

    def __init__(
        self,
        side: int,
        n_classes: int,
        channels: tuple[int, int] = (8, 16),
        in_channels: int = 1,
        bias: bool = True,
        activation: type[nn.Module] = nn.ReLU,
    ):
        super().__init__()
        self.side, self.in_channels = side, in_channels
        self.activation = activation()
        self.conv1 = nn.Conv2d(in_channels, channels[0], 3, padding=1, bias=bias)
        self.conv2 = nn.Conv2d(channels[0], channels[1], 3, stride=2, padding=1, bias=bias)
        reduced = (side + 1) // 2
        self.head = nn.Linear(channels[1] * reduced * reduced, n_classes, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class scores of images given as (n, channels, side, side) or flattened."""
        x = x.reshape(len(x), self.in_channels, self.side, self.side)
        x = self.activation(self.conv2(self.activation(self.conv1(x))))
        return self.head(x.flatten(1))


class TinyTransformer(nn.Module):
    """One pre-norm transformer block on token sequences, predicting from the last position.

    tokens -> token embedding + position embedding -> x + attention(norm1(x)) -> x + mlp(norm2(x))
    -> unembedding of the last position (``n_out`` outputs, the vocabulary by default). With
    ``tied`` the unembedding is the token embedding's matrix (``unembed.weight is token.weight``).
    ``activation`` is the MLP's (ReLU by default). ``layer_norm=False`` leaves the norms out (as the
    grokking transformer of Nanda et al., 2023): a layer norm passes on only the direction of what
    feeds it, so weight decay keeps shrinking the embeddings under the first norm and training with
    it reaches no critical point of the regularised loss (with the embeddings frozen, it does; see
    the layer-normed test in ``tests/test_weights.py``).
    """

    def __init__(
        self,
        vocabulary: int,
        length: int,
        width: int,
        heads: int,
        mlp_width: int,
        n_out: int | None = None,
        tied: bool = False,
        bias: bool = True,
        activation: type[nn.Module] = nn.ReLU,
        layer_norm: bool = True,
    ):
        super().__init__()
        n_out = n_out or vocabulary
        if tied and n_out != vocabulary:
            raise ValueError(f"tied embeddings need n_out == vocabulary, got {n_out} and {vocabulary}")
        self.token = nn.Embedding(vocabulary, width)
        self.position = nn.Embedding(length, width)
        self.norm1 = nn.LayerNorm(width) if layer_norm else nn.Identity()
        self.attention = nn.MultiheadAttention(width, heads, bias=bias, batch_first=True)
        self.norm2 = nn.LayerNorm(width) if layer_norm else nn.Identity()
        self.mlp_in = nn.Linear(width, mlp_width, bias=bias)
        self.mlp_out = nn.Linear(mlp_width, width, bias=bias)
        self.activation = activation()
        self.unembed = nn.Linear(width, n_out, bias=bias)
        if tied:
            self.unembed.weight = self.token.weight

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """The logits of the token after the last position, one row per sequence."""
        positions = torch.arange(tokens.shape[1], device=tokens.device)
        x = self.token(tokens) + self.position(positions)
        normed = self.norm1(x)
        x = x + self.attention(normed, normed, normed, need_weights=False)[0]
        x = x + self.mlp_out(self.activation(self.mlp_in(self.norm2(x))))
        return self.unembed(x[:, -1])
