"""Forward hooks that keep, for each chosen weight matrix, its input rows ``h`` and its output ``z``
(``z = W h`` without the bias) in every application of one forward pass.

A module with one matrix (``fact.features.layer_views``: Linear, convolutions, Embedding, or registered) is
seen through its own input and output; a module whose products happen inside one fused call
(attention) is recomputed one product at a time by its view, and the model runs on from the
recomputed output. Each kept ``z`` is a tensor the backward pass can differentiate with respect to.

A layer applied several times in one pass (weight sharing, tokens) is kept at every application.
A layer whose output has no sample dimension (a position embedding added to every sample) has no
per-sample relations: it is noted in ``no_sample_dimension`` and not kept.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn

from fact.features.layer_views import ModelMatrix, matrix_name
from fact.features.view_check import check_view, checked, first_input, view_inputs


class Recording:
    """What one forward pass showed of the chosen matrices; used as a context manager that removes its
    hooks and drops what it kept on exit, even on error."""

    def __init__(self, selected: dict[str, ModelMatrix]):
        self.selected = selected
        self.calls: dict[str, list[tuple[torch.Tensor, torch.Tensor]]] = {name: [] for name in selected}
        self.no_sample_dimension: set[str] = set()
        self.batch_size = 0
        self._checking = False  # while a view is checked its module runs again, unrecorded
        self._cleanup = contextlib.ExitStack()

    def __enter__(self) -> Recording:
        hooked: set[int] = set()
        for name, matrix in self.selected.items():
            if id(matrix.module) in hooked:
                continue  # a fused module's hook keeps all its chosen matrices
            hooked.add(id(matrix.module))
            if matrix.fused is None:
                handle = matrix.module.register_forward_hook(self._single_hook(name, matrix), with_kwargs=True)
            else:
                handle = matrix.module.register_forward_hook(self._fused_hook(matrix), with_kwargs=True)
            self._cleanup.callback(handle.remove)
        self._cleanup.callback(self._forget)
        return self

    def __exit__(self, *exc) -> None:
        self._cleanup.close()

    def start_batch(self, size: int) -> None:
        """Forget the previous batch's records before a forward pass over ``size`` samples."""
        self._forget()
        self.batch_size = size

    def kept(self) -> Iterator[tuple[str, torch.Tensor, torch.Tensor]]:
        """(name, h, z) for every application of every chosen matrix in the last pass."""
        return ((name, h, z) for name, calls in self.calls.items() for h, z in calls)

    def _forget(self) -> None:
        for calls in self.calls.values():
            calls.clear()

    def _keep(self, name: str, h: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        if not z.requires_grad:
            # Nothing upstream needs gradients (frozen weights, first layer): make the
            # output a leaf we can differentiate with respect to.
            z = z.detach().requires_grad_()
        self.calls[name].append((h.detach(), z))
        return z

    def _single_hook(self, name: str, matrix: ModelMatrix):
        def hook(module: nn.Module, args: tuple, kwargs: dict, output: torch.Tensor) -> torch.Tensor:
            if self._checking:
                return output
            if output.shape[0] != self.batch_size:
                self.no_sample_dimension.add(name)
                return output
            # the rows h that W multiplies: the input itself, a conv's patches, one-hot tokens
            x = first_input(args, kwargs)
            h = view_inputs(name, matrix, x.detach())
            if not checked(matrix):
                self._check(name, matrix, args, kwargs, h)
            z = self._keep(name, h, output)
            applied = None if matrix.view.applied is None else matrix.view.applied(module, x)
            # where the output is no product of W (an embedding's padding) the model runs on without z
            return z if applied is None else torch.where(applied, z, z.detach())

        return hook

    def _check(self, name: str, matrix: ModelMatrix, args: tuple, kwargs: dict, h: torch.Tensor) -> None:
        """Check the view against the module, which runs again for it with the recording's hooks passing."""
        self._checking = True
        try:
            check_view(name, matrix, args, kwargs, h)
        finally:
            self._checking = False

    def _fused_hook(self, matrix: ModelMatrix):
        """Recompute the module, keeping the chosen products' h and z and passing the others through."""

        def record(suffix: str, h: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
            name = matrix_name(matrix.module_name, suffix)
            return self._keep(name, h, z) if name in self.selected else z

        def hook(module: nn.Module, args: tuple, kwargs: dict, output):
            return matrix.fused.recompute(module, args, kwargs, record)

        return hook
