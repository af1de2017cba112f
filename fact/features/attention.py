"""``nn.MultiheadAttention`` step by step, so that each of its four matrices is seen as ``z = W h``.

PyTorch's attention multiplies its inputs by the q, k and v blocks of ``in_proj_weight`` (or by
``q_proj_weight`` ... when ``kdim``/``vdim`` differ) and the heads' output by ``out_proj.weight``
inside one fused function, where no hook sees them. ``recompute`` computes the module's output
again from the same inputs and parameters, one product at a time, and shows each product's input
rows ``h`` and output ``z`` (without its bias) to a ``record`` callback, which may return ``z``
replaced by a tensor it can differentiate with respect to. The model then runs on from this
recomputed output, so gradients with respect to each ``z`` are the model's own.

Its four matrices (``fact.features.layer_views`` names them ``<name>[q]``, ``<name>[k]``, ``<name>[v]`` and
``<name>.out_proj``) take as inputs the query, key and value, and the heads' output concatenated.
All rows are batch-first, one per sample and position. Dropout is not applied: the relations are
computed in eval mode.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable

import torch
from torch import nn

# record(block, h, z) -> z (possibly replaced by a leaf that requires grad)
Record = Callable[[str, torch.Tensor, torch.Tensor], torch.Tensor]


def projections(module: nn.MultiheadAttention) -> dict[str, tuple[str, Callable[[torch.Tensor], torch.Tensor]]]:
    """{block: (the attribute holding its weight, that parameter -> the block's matrix, E x d_in)}."""
    if module.in_proj_weight is None:
        separate = {block: (f"{block}_proj_weight", _whole) for block in "qkv"}
        return {**separate, "out": ("out_proj.weight", _whole)}
    size = module.embed_dim
    fused = {
        block: ("in_proj_weight", lambda w, i=index: w[i * size : (i + 1) * size]) for index, block in enumerate("qkv")
    }
    return {**fused, "out": ("out_proj.weight", _whole)}


def _whole(parameter: torch.Tensor) -> torch.Tensor:
    return parameter


def _projection(module: nn.MultiheadAttention, block: str) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The weight (E x d_in) and bias of one block."""
    if block == "out":
        return module.out_proj.weight, module.out_proj.bias
    attribute, matrix = projections(module)[block]
    index, size = "qkv".index(block), module.embed_dim
    bias = None if module.in_proj_bias is None else module.in_proj_bias[index * size : (index + 1) * size]
    return matrix(getattr(module, attribute)), bias


def _check_supported(module: nn.MultiheadAttention) -> None:
    if module.bias_k is not None or module.add_zero_attn:
        raise ValueError(
            "nn.MultiheadAttention with add_bias_kv or add_zero_attn appends keys that are not rows of "
            "the input: the relations of its matrices are not defined here; use fact.features.weights for FACT"
        )


def _mask_as_scores(mask: torch.Tensor | None, dtype: torch.dtype) -> torch.Tensor | None:
    """A boolean mask (True: not allowed to attend) as -inf added to the scores; a float mask as is."""
    if mask is None or mask.is_floating_point():
        return mask
    return torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill(mask, float("-inf"))


def recompute(
    module: nn.MultiheadAttention, args: tuple, kwargs: dict, record: Record
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The output of ``module(*args, **kwargs)``, computed one product at a time with ``record`` shown each."""
    _check_supported(module)
    call = inspect.signature(module.forward).bind(*args, **kwargs)
    call.apply_defaults()
    query, key, value = call.arguments["query"], call.arguments["key"], call.arguments["value"]
    if query.dim() != 3:
        raise ValueError("unbatched attention inputs (2-D) are not supported: give the samples a batch dimension")
    if not module.batch_first:  # (length, batch, E) -> (batch, length, E)
        query, key, value = (tensor.transpose(0, 1) for tensor in (query, key, value))

    def project(block: str, h: torch.Tensor) -> torch.Tensor:
        weight, bias = _projection(module, block)
        z = record(block, h, h @ weight.T)
        return z if bias is None else z + bias

    heads, size = module.num_heads, module.head_dim
    n, length, source = query.shape[0], query.shape[1], key.shape[1]

    def split(x: torch.Tensor, rows: int) -> torch.Tensor:  # (n, rows, E) -> (n, heads, rows, head size)
        return x.reshape(n, rows, heads, size).transpose(1, 2)

    q = split(project("q", query), length)
    k = split(project("k", key), source)
    v = split(project("v", value), source)
    scores = q @ k.transpose(-2, -1) / math.sqrt(size)  # (n, heads, length, source)
    attn_mask = _mask_as_scores(call.arguments["attn_mask"], scores.dtype)
    if attn_mask is None and call.arguments["is_causal"]:
        attn_mask = _mask_as_scores(
            torch.ones(length, source, dtype=torch.bool, device=scores.device).triu(1), scores.dtype
        )
    if attn_mask is not None:
        scores = scores + (attn_mask if attn_mask.dim() == 2 else attn_mask.reshape(n, heads, length, source))
    padding = _mask_as_scores(call.arguments["key_padding_mask"], scores.dtype)
    if padding is not None:
        scores = scores + padding[:, None, None, :]
    weights = scores.softmax(-1)
    heads_output = (weights @ v).transpose(1, 2).reshape(n, length, module.embed_dim)
    output = project("out", heads_output)
    if not module.batch_first:
        output = output.transpose(0, 1)
    if not call.arguments["need_weights"]:
        return output, None
    return output, weights.mean(1) if call.arguments["average_attn_weights"] else weights
