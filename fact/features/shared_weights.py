"""A weight used by several modules: an embedding tied to the output head (``GPT2LMHeadModel``'s default),
or one layer's weight given to another.

The objective has one variable for such a weight, so its gradient is the sum over its uses, and FACT,
bFACT and the stationarity error speak of that sum. Each module sees the weight through its own view
(the embedding as ``weight^T`` acting on one-hot tokens, the head as ``weight`` acting on the hidden
state), so each use's gradient sum ``G = sum_i grad_z loss_i h_i^T`` is taken back to the parameter
(the adjoint of its view, which is linear), added up there, and seen again through every use's view.
Every use then holds the weight's whole gradient in its own orientation. The NFA and eNFA are not
gradients of the objective: they stay each use's own.

A parameter seen by one module as several matrices (attention's q, k and v blocks of ``in_proj_weight``)
is several matrices, not one weight with several uses.
"""

from __future__ import annotations

import torch

from fact.features.layer_views import ModelMatrix


def shared_groups(matrices: dict[str, ModelMatrix]) -> list[tuple[str, ...]]:
    """The names of the matrices of each parameter that more than one module uses, in the model's order."""
    by_parameter: dict[int, list[str]] = {}
    for name, matrix in matrices.items():
        by_parameter.setdefault(id(matrix.parameter), []).append(name)
    return [tuple(names) for names in by_parameter.values() if len({id(matrices[name].module) for name in names}) > 1]


def uses(matrices: dict[str, ModelMatrix]) -> dict[str, tuple[str, ...]]:
    """{name: the matrices of the same weight in other modules}, for every matrix of a shared weight."""
    return {
        name: tuple(other for other in group if matrices[other].module is not matrices[name].module)
        for group in shared_groups(matrices)
        for name in group
    }


def with_every_use(selected: dict[str, ModelMatrix], available: dict[str, ModelMatrix]) -> dict[str, ModelMatrix]:
    """``selected`` and every other use of its weights: their gradients are part of a selected weight's."""
    others = uses(available)
    needed = {other for name in selected for other in others.get(name, ())}
    return {name: matrix for name, matrix in available.items() if name in selected or name in needed}


def sum_over_uses(
    gradient_sums: dict[str, torch.Tensor | None], matrices: dict[str, ModelMatrix]
) -> dict[str, torch.Tensor | None]:
    """Each matrix's G, where a shared weight's uses have each been given the weight's G over every use,
    seen as that use sees the weight. ``matrices`` names every use of each shared weight (``with_every_use``)."""
    summed = dict(gradient_sums)
    for group in shared_groups(matrices):
        present = [name for name in group if gradient_sums[name] is not None]
        if present:
            total = sum(_to_parameter(matrices[name], gradient_sums[name]) for name in present)
            summed.update({name: matrices[name].view.matrix(total) for name in group})
    return summed


def _to_parameter(matrix: ModelMatrix, gradient: torch.Tensor) -> torch.Tensor:
    """A gradient with respect to the matrix, as one with respect to its parameter (the view's adjoint)."""
    shape = torch.zeros(matrix.parameter.shape, dtype=gradient.dtype, device=gradient.device)
    _, pullback = torch.func.vjp(matrix.view.matrix, shape)
    return pullback(gradient)[0]
