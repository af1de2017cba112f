"""Views of Hugging Face transformers' modules: GPT-2's ``Conv1D`` and the q, k and v it fuses.

``transformers.pytorch_utils.Conv1D`` is a linear layer with its weight stored transposed (in x out,
output ``x @ weight + bias``): it is seen as W = weight^T acting on its input, like ``nn.Linear``.
GPT-2's attention computes q, k and v with one of them, ``c_attn`` (3 x width outputs), and splits
its output in three: like ``nn.MultiheadAttention``'s ``in_proj_weight``, it is seen as three matrices,
``<attention>.c_attn[q]``, ``[k]`` and ``[v]``, each recomputed as a product of its own so that
its input and output are seen apart. In cross-attention ``c_attn`` holds k and v, and ``q_attn`` q.

Models with separate ``q_proj``, ``k_proj`` and ``v_proj`` linears (Llama and most others) need
nothing here. ``fact.features.layer_views`` imports this module, and so transformers, only for a
model that holds a module of transformers.
"""

from __future__ import annotations

import torch
from transformers.models.gpt2.modeling_gpt2 import GPT2Attention
from transformers.pytorch_utils import Conv1D

from fact.features.layer_views import LayerView, MatrixView, register_view, registered, single, transposed

CONV1D = single(MatrixView("weight", transposed))


def _columns(module: Conv1D, blocks: tuple[str, ...]) -> dict[str, slice]:
    """{suffix: the columns of ``module.weight`` (its outputs) that block computes}; equal widths, in order."""
    width = module.nf // len(blocks)
    return {f"[{block}]": slice(index * width, (index + 1) * width) for index, block in enumerate(blocks)}


def column_blocks(*blocks: str) -> LayerView:
    """A ``Conv1D`` whose outputs are several products side by side (``"q", "k", "v"`` for GPT-2's
    ``c_attn``), each seen as its own matrix ``<name>[q]`` ...: W = the block's columns of weight, transposed."""

    def matrices(module: Conv1D) -> dict[str, MatrixView]:
        return {
            suffix: MatrixView("weight", lambda weight, columns=columns: weight[:, columns].T)
            for suffix, columns in _columns(module, blocks).items()
        }

    def recompute(module: Conv1D, args: tuple, kwargs: dict, record) -> torch.Tensor:
        (x,) = args
        columns = _columns(module, blocks)
        products = [record(suffix, x, x @ module.weight[:, block]) for suffix, block in columns.items()]
        return torch.cat(products, dim=-1) + module.bias

    return LayerView(matrices=matrices, recompute=recompute)


QKV = column_blocks("q", "k", "v")
KV = column_blocks("k", "v")


def _attention_children(module: GPT2Attention) -> dict[str, LayerView]:
    return {"c_attn": KV if module.is_cross_attention else QKV}


GPT2_ATTENTION = LayerView(matrices=lambda module: {}, children=_attention_children)

for _type, _view in ((Conv1D, CONV1D), (GPT2Attention, GPT2_ATTENTION)):
    if not registered(_type):  # a view registered before these were loaded stays
        register_view(_type, _view)
