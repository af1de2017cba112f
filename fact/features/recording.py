"""Forward hooks that keep, for each chosen weight matrix, its input rows ``h`` and its output ``z``
(``z = W h`` without the bias) in every application of one forward pass.

A module with one matrix (``fact.features.layer_views``: Linear, convolutions, Embedding, or registered) is
seen through its own input and output; a module whose products happen inside one fused call
(attention) is recomputed one product at a time by its view, and the model runs on from the
recomputed output. Each kept ``z`` is a tensor the backward pass can differentiate with respect to.

A layer applied several times in one pass (weight sharing, tokens) is kept at every application.
A layer whose output has no sample dimension (a position embedding added to every sample) has no
per-sample relations: it is noted in ``shared`` and not kept.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn

from fact.features.layer_views import ModelMatrix, matrix_name


class Recording:
    """What one forward pass showed of the chosen matrices; used as a context manager that removes its
    hooks and drops what it kept on exit, even on error."""

    def __init__(self, selected: dict[str, ModelMatrix]):
        self.selected = selected
        self.calls: dict[str, list[tuple[torch.Tensor, torch.Tensor]]] = {name: [] for name in selected}
        self.shared: set[str] = set()
        self.batch_size = 0
        self._cleanup = contextlib.ExitStack()

    def __enter__(self) -> Recording:
        hooked: set[int] = set()
        for name, matrix in self.selected.items():
            if id(matrix.module) in hooked:
                continue  # a fused module's hook keeps all its chosen matrices
            hooked.add(id(matrix.module))
            if matrix.fused is None:
                handle = matrix.module.register_forward_hook(self._single_hook(name, matrix))
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
        def hook(module: nn.Module, args: tuple, output: torch.Tensor) -> torch.Tensor:
            if output.shape[0] != self.batch_size:
                self.shared.add(name)
                return output
            # the rows h that W multiplies: the input itself, a conv's patches, one-hot tokens
            return self._keep(name, matrix.view.inputs(module, args[0].detach()), output)

        return hook

    def _fused_hook(self, matrix: ModelMatrix):
        """Recompute the module, keeping the chosen products' h and z and passing the others through."""

        def record(suffix: str, h: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
            name = matrix_name(matrix.module_name, suffix)
            return self._keep(name, h, z) if name in self.selected else z

        def hook(module: nn.Module, args: tuple, kwargs: dict, output):
            return matrix.fused.recompute(module, args, kwargs, record)

        return hook
