"""Attention's q, k and v matrices head by head.

The AGOP studies of transformers report the NFA per head: head h's block W_h of W_q (its ``head_dim`` rows,
in the order the attention splits its output into heads) against the AGOP taken through that head alone.
Every relation of a head is the matrix's own, restricted to the head's rows of its output, so it comes from
the sums of the pass already made: with ``r`` the head's rows,

    W_h = W[r],  G_h = G[r],  E_h = E[r, r],  B_h = B[r, r],  S_h = S[:, r]

and FACT of the head, ``-W_h^T G_h / (n lambda)``, equals ``W_h^T W_h`` at a critical point, since the gradient
of the objective with respect to W_h is the rows r of the gradient with respect to W.

Heads are found for ``nn.MultiheadAttention`` (``<name>[q]`` ...: ``num_heads``), GPT-2's ``c_attn``
(``<attention>.c_attn[q]`` ...: the attention's ``num_heads``) and attentions with separate ``q_proj``,
``k_proj`` and ``v_proj`` (the parent's ``num_heads`` or ``num_attention_heads``, or its ``config``'s; k and v
take ``num_key_value_heads`` where the model shares keys and values between heads). A head is named
``<matrix>[head <h>]``.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable

from torch import nn

from fact.features.layer_matrices import LayerMatrices
from fact.features.layer_views import ModelMatrix, model_matrices

NO_HEADS = (
    "per_head=True, but none of the matrices is an attention q, k or v with a known number of heads "
    "(nn.MultiheadAttention, GPT-2's c_attn, or q_proj/k_proj/v_proj under a module with num_heads)"
)
_FUSED = re.compile(r"\[([qkv])\]$")  # nn.MultiheadAttention's and GPT-2's c_attn's blocks
_SEPARATE = re.compile(r"(?:^|\.)([qkv])_proj$")  # q_proj, k_proj, v_proj
_HEAD = r"\[head \d+\]$"


def is_head(names):
    """Which of ``names`` (a pandas Series of matrix names) are heads of a matrix, not matrices."""
    return names.str.contains(_HEAD, regex=True)


def matrix_of(name: str) -> str:
    """The matrix a name belongs to: a head's matrix (``attn[q][head 2]`` -> ``attn[q]``), or the name itself."""
    return re.sub(_HEAD, "", name)


def counts_of(model: nn.Module, names) -> dict[str, int]:
    """``head_counts`` of the matrices of ``model`` named in ``names``; refused where none of them has heads."""
    counts = head_counts(model, {name: matrix for name, matrix in model_matrices(model).items() if name in names})
    if not counts:
        raise ValueError(NO_HEADS)
    return counts


def head_counts(model: nn.Module, matrices: dict[str, ModelMatrix]) -> dict[str, int]:
    """{matrix name: its number of heads} for every q, k and v matrix of ``matrices`` whose heads are known."""
    counts = {}
    for name, matrix in matrices.items():
        block = _FUSED.search(name) or _SEPARATE.search(name)
        if block is None:
            continue
        owner = matrix.module if isinstance(matrix.module, nn.MultiheadAttention) else _parent(model, matrix)
        heads = _heads(owner, key_value=block.group(1) in "kv")
        if heads is not None:
            counts[name] = heads
    return counts


def _parent(model: nn.Module, matrix: ModelMatrix) -> nn.Module | None:
    """The module holding the matrix's module: the attention whose heads it feeds."""
    if "." not in matrix.module_name:
        return model if matrix.module_name else None
    return model.get_submodule(matrix.module_name.rsplit(".", 1)[0])


def _heads(owner: nn.Module | None, key_value: bool) -> int | None:
    """The number of heads an attention module splits its q (or its k and v) into, where it says."""
    if owner is None:
        return None
    sources = [owner, getattr(owner, "config", None)]
    names = ("num_key_value_heads",) if key_value else ()
    names += ("num_heads", "num_attention_heads", "n_head")
    for name in names:
        for source in sources:
            value = getattr(source, name, None)
            if isinstance(value, int) and value > 0:
                return value
    return None


def split_heads(matrices: dict, counts: dict[str, int], part: Callable | None = None) -> dict:
    """``matrices`` (``LayerMatrices``, or ``WeightMatrix`` with ``part=weight_head_of``) with, after each one
    that has heads, one entry per head (see the module docstring)."""
    part = head_of if part is None else part
    result = {}
    for name, matrix in matrices.items():
        result[name] = matrix
        heads = counts.get(name)
        if heads is None:
            continue
        rows = matrix.weight.shape[0]
        if rows % heads:
            raise ValueError(f"{name} has {rows} outputs, not a multiple of its {heads} heads")
        size = rows // heads
        for head in range(heads):
            result[f"{name}[head {head}]"] = part(matrix, slice(head * size, (head + 1) * size), head)
    return result


def weight_head_of(weight, rows: slice, head: int):
    """A ``fact.features.weights.WeightMatrix`` restricted to one head's rows: its weight and its gradient's."""
    return dataclasses.replace(
        weight, name=f"{weight.name}[head {head}]", weight=weight.weight[rows], gradient=weight.gradient[rows]
    )


def head_of(layer: LayerMatrices, rows: slice, head: int) -> LayerMatrices:
    """The relations of ``layer`` restricted to the output ``rows`` of one head."""

    def part(matrix, square: bool = False):
        if matrix is None:
            return None
        return matrix[rows][:, rows] if square else matrix[rows]

    return dataclasses.replace(
        layer,
        name=f"{layer.name}[head {head}]",
        weight=layer.weight[rows],
        loss_grad_input=part(layer.loss_grad_input),
        loss_grad_gram=part(layer.loss_grad_gram, square=True),
        jacobian_gram=part(layer.jacobian_gram, square=True),
        jacobian_sum=None if layer.jacobian_sum is None else layer.jacobian_sum[:, rows],
    )
