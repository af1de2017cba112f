"""What a layer multiplies: its weight as a matrix W and its input as rows h, for the hooked pass of
``fact.matrices``, where every relation is built from ``z = W h`` at each position of each sample.

* ``nn.Linear``: W = weight; h = the input, one row per leading index (sample, token, ...).
* ``nn.Conv1d`` / ``nn.Conv2d``: W = the kernel as ``out x (in * kernel size)``; h = every patch the
  kernel sees (the input unfolded), one row per sample and output position: the convolutional
  AGOP and FACT of Beaglehole et al. (2023), summed over positions.
* ``nn.Embedding``: W = weight^T (dim x vocabulary); h = the one-hot token, one row per position.

(``nn.MultiheadAttention`` multiplies inside one fused call; its four matrices are seen through
``fact.attention``, which recomputes it one product at a time.)

Another module can join by registering how it multiplies, e.g. for a module whose ``weight``
acts on its last dimension like ``nn.Linear``::

    fact.layer_inputs.KINDS[MyModule] = fact.layer_inputs.LINEAR

A ``LayerKind`` gives the matrix W, the rows h of the module's input, and how a gradient with
respect to the module's output becomes the gradient with respect to z, as rows with the output
features last (for the layers above the output is z plus a bias, so only the layout changes);
the bias is never part of W.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class LayerKind:
    matrix: Callable[[nn.Module], torch.Tensor]                  # W, (d_out, d_in)
    inputs: Callable[[nn.Module, torch.Tensor], torch.Tensor]    # the module's input -> rows (..., d_in)
    outputs: Callable[[nn.Module, torch.Tensor], torch.Tensor]   # d(.)/d(output) -> d(.)/dz as rows (..., d_out)


def _same(module: nn.Module, tensor: torch.Tensor) -> torch.Tensor:
    return tensor


def _check_convolution(module: nn.Module) -> None:
    if module.groups != 1 or isinstance(module.padding, str) or module.padding_mode != "zeros":
        raise ValueError(f"{type(module).__name__} with groups={module.groups}, padding={module.padding!r}, "
                         f"padding_mode={module.padding_mode!r}: only groups=1 and numeric zero padding are "
                         "supported; register a LayerKind in fact.layer_inputs.KINDS for this layer")


def _conv2d_patches(module: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    _check_convolution(module)
    batched = x if x.dim() == 4 else x[None]
    patches = nn.functional.unfold(batched, module.kernel_size, module.dilation, module.padding, module.stride)
    return patches.transpose(1, 2)                               # (n, positions, in * kh * kw)


def _conv1d_patches(module: nn.Conv1d, x: torch.Tensor) -> torch.Tensor:
    _check_convolution(module)
    batched = (x if x.dim() == 3 else x[None])[..., None]         # a 1-D convolution is a 2-D one of width 1
    patches = nn.functional.unfold(batched, (module.kernel_size[0], 1), (module.dilation[0], 1),
                                   (module.padding[0], 0), (module.stride[0], 1))
    return patches.transpose(1, 2)


def _channels_last(module: nn.Module, tensor: torch.Tensor) -> torch.Tensor:
    """(n, out, *positions) -> (n, positions, out)."""
    return tensor.flatten(2).transpose(1, 2)


def _one_hot(module: nn.Embedding, tokens: torch.Tensor) -> torch.Tensor:
    if module.max_norm is not None:
        raise ValueError("nn.Embedding with max_norm renormalises its weight in the forward pass; FACT is "
                         "defined here for a fixed matrix")
    return nn.functional.one_hot(tokens, module.num_embeddings).to(module.weight.dtype)


LINEAR = LayerKind(matrix=lambda module: module.weight, inputs=_same, outputs=_same)
CONV1D = LayerKind(matrix=lambda module: module.weight.reshape(module.out_channels, -1), inputs=_conv1d_patches,
                   outputs=_channels_last)
CONV2D = LayerKind(matrix=lambda module: module.weight.reshape(module.out_channels, -1), inputs=_conv2d_patches,
                   outputs=_channels_last)
EMBEDDING = LayerKind(matrix=lambda module: module.weight.T, inputs=_one_hot, outputs=_same)

KINDS: dict[type, LayerKind] = {nn.Linear: LINEAR, nn.Conv1d: CONV1D, nn.Conv2d: CONV2D, nn.Embedding: EMBEDDING}


def kind_of(module: nn.Module) -> LayerKind | None:
    """The registered kind of ``module`` (its class or a parent class), or None."""
    for cls in type(module).__mro__:
        if cls in KINDS:
            return KINDS[cls]
    return None
